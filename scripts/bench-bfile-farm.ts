// The client's CPU per Bfile command run as an action: N rules that each need one file and run
// one cheap command (`cp`), built (a) here without nodes (run() in place, no action), (b) with
// the action path on and the commands on this machine (`--cache`, cold), (c) from a warm cache
// in another directory (every command a hit), and (d) with `--local 0` and two `b node`s on
// loopback that cannot see the files (each in a private mount namespace with a tmpfs over the
// project directory, so every command goes as a self-contained item). What is measured is the
// client process alone (user + sys from /usr/bin/time): the commands' own CPU is in (a)-(b), on
// the nodes in (d). Medians of --n rounds, alternating. Needs Linux, root or user namespaces.
//
//   node scripts/bench-bfile-farm.ts [--rules 200] [--n 3]

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { hostExe as exe, numOpt as opt, scratch, startHiddenLoopbackNode } from './bench-util.ts';

const RULES = opt('--rules', 200);
const N = opt('--n', 3);

const { dir: world, procs: nodes } = scratch('b-bench-bfarm-');
const projects = path.join(world, 'projects');
fs.mkdirSync(projects);

let count = 0;
function project(): string {
  const dir = path.join(projects, `p${count++}`);
  fs.mkdirSync(path.join(dir, 'in'), { recursive: true });
  for (let i = 0; i < RULES; i++) fs.writeFileSync(path.join(dir, 'in', `${i}.txt`), `input ${i}\n`);
  fs.writeFileSync(path.join(dir, 'Bfile.mjs'), `const n = ${RULES};
export default (b) => {
  b.default('all');
  b.rule('all', async ({ need, write, out }) => { const o = []; for (let i = 0; i < n; i++) o.push(\`out/\${i}.txt\`); await need(o); await write(out, 'done'); });
  b.rule('out/%.txt', async ({ stem, need, run, out }) => { await need(\`in/\${stem}.txt\`); await run(\`mkdir -p out && cp in/\${stem}.txt \${out}\`); });
};
`);
  return dir;
}

function build(extra: string[], env: NodeJS.ProcessEnv = {}): { cpu: number; wall: number } {
  const dir = project();
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', 'B_TIME %U %S', exe, 'build', '-C', dir, '-j', '8', ...extra], { env: { ...process.env, B_CACHE_DIR: path.join(world, 'client-cache'), ...env }, encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`build failed: ${r.stderr.slice(-2000)}`);
  const m = /B_TIME ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return { cpu: m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN, wall };
}

const startNode = (port: number): Promise<string> => startHiddenLoopbackNode(exe, projects, world, port, nodes);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const base = 17000 + (process.pid % 1000) * 2;
const addrs = [await startNode(base), await startNode(base + 1)];
const farm = ['--local', '0', ...addrs.flatMap((a) => ['--node', a])];
const warmCache = path.join(world, 'warm-cache');
build(['--cache'], { B_CACHE_DIR: warmCache });
build(farm); // the nodes' worker threads warm up, and their stores get the (same) inputs
const rows: [string, string[], NodeJS.ProcessEnv][] = [
  ['here, run() in place (no action)', [], {}],
  ['here, as actions (--cache, cold)', ['--cache'], { B_CACHE_DIR: path.join(world, 'cold') }],
  ['cache hits (--cache, warm, other directory)', ['--cache'], { B_CACHE_DIR: warmCache }],
  ['on 2 nodes without the files (--local 0)', farm, {}],
];
const got = rows.map(() => ({ cpu: [] as number[], wall: [] as number[] }));
for (let i = 0; i < N; i++) {
  for (const [k, [, extra, env]] of rows.entries()) {
    if (k === 1) env.B_CACHE_DIR = path.join(world, `cold-${i}`);
    const r = build(extra, env);
    got[k]!.cpu.push(r.cpu);
    got[k]!.wall.push(r.wall);
  }
}
process.stdout.write(`${RULES} rules (one cp each), -j8, ${N} rounds, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, ${os.cpus().length} CPUs\n\n`);
process.stdout.write('| variant | client CPU | per rule | wall |\n| --- | --- | --- | --- |\n');
for (const [k, [name]] of rows.entries()) {
  const c = median(got[k]!.cpu);
  process.stdout.write(`| ${name} | ${c.toFixed(0)} ms | ${(c / RULES).toFixed(2)} ms | ${median(got[k]!.wall).toFixed(0)} ms |\n`);
}
