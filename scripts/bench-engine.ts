// Engine benchmark: a generated build of N rules (a layered DAG: fan-in, fan-out, depth 12)
// with trivial actions, as a Bfile for B and as the equivalent build.ninja for ninja, in one run.
//
//   node scripts/bench-engine.ts [--sizes 10000,100000] [--runs 5] [--ninja-full-max 20000]
//
// Reports for B: full build, no-op build, one-source-change rebuild, peak RSS; for ninja: the
// no-op build (its full build runs first to create its log; it is timed when N <= ninja-full-max,
// since ninja spawns a process per action). Medians of --runs runs for the no-op builds.

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PYTHON } from './bench-util.ts';

const root = path.resolve(import.meta.dirname, '..');
const exe = path.join(root, 'dist', `b-${process.platform === 'darwin' ? 'macos' : process.platform}-${process.arch}`);
const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] ?? def) : def;
};
const SIZES = opt('--sizes', '10000,100000').split(',').map(Number);
const RUNS = Number(opt('--runs', '5'));
const NINJA_FULL_MAX = Number(opt('--ninja-full-max', '20000'));
const DEPTH = 12;

/** Deterministic structure: node i's dependencies (nodes of the previous level, or sources). */
function deps(i: number, n: number): { nodes: number[]; sources: number[] } {
  const per = Math.ceil(n / DEPTH);
  const level = Math.floor(i / per);
  let x = (i * 2654435761) >>> 0;
  const rnd = (m: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % m;
  };
  if (level === 0) {
    const s = Math.max(1, Math.floor(n / 10));
    return { nodes: [], sources: [...new Set([i % s, rnd(s), rnd(s)])] };
  }
  const lo = (level - 1) * per;
  const count = 2 + rnd(3);
  const nodes = new Set<number>();
  for (let k = 0; k < count; k++) nodes.add(lo + rnd(per));
  return { nodes: [...nodes], sources: [] };
}

export function generate(dir: string, n: number): { ninjaDir: string; bDir: string; source: string } {
  const s = Math.max(1, Math.floor(n / 10));
  const per = Math.ceil(n / DEPTH);
  const lastLevel = [];
  for (let i = (DEPTH - 1) * per; i < n; i++) lastLevel.push(i);
  const ninjaDir = path.join(dir, 'ninja');
  const bDir = path.join(dir, 'b');
  for (const d of [ninjaDir, bDir]) {
    fs.mkdirSync(path.join(d, 'src'), { recursive: true });
    fs.mkdirSync(path.join(d, 'n'), { recursive: true });
    for (let i = 0; i < s; i++) fs.writeFileSync(path.join(d, 'src', `s${i}.txt`), `source ${i}\n`);
  }
  // ninja: each action hashes its inputs into its output, so a change propagates.
  const lines = ['rule t', '  command = cat $in | cksum > $out', '  description = T $out', ''];
  for (let i = 0; i < n; i++) {
    const d = deps(i, n);
    const ins = [...d.sources.map((x) => `src/s${x}.txt`), ...d.nodes.map((x) => `n/${x}.t`)];
    lines.push(`build n/${i}.t: t ${ins.join(' ')}`);
  }
  lines.push(`build all: phony ${lastLevel.map((i) => `n/${i}.t`).join(' ')}`, 'default all', '');
  fs.writeFileSync(path.join(ninjaDir, 'build.ninja'), lines.join('\n'));
  // B: the same DAG from one pattern rule; the action is done in the rule (no process).
  fs.writeFileSync(path.join(bDir, 'Bfile.mjs'), `
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
const N = ${n}, DEPTH = ${DEPTH};
${deps.toString()}
export default (b) => {
  b.default('all');
  b.rule('all', async ({ need, write }) => {
    const last = [];
    for (let i = ${(DEPTH - 1) * per}; i < N; i++) last.push('n/' + i + '.t');
    await need(last);
    await write('all', String(last.length));
  });
  b.rule('n/%.t', async ({ stem, need, out }) => {
    const d = deps(Number(stem), N);
    const ins = [...d.sources.map((x) => 'src/s' + x + '.txt'), ...d.nodes.map((x) => 'n/' + x + '.t')];
    await need(ins);
    const h = createHash('sha256');
    for (const f of ins) h.update(fs.readFileSync(f));
    fs.writeFileSync(out, h.digest('hex').slice(0, 16) + '\\n');
  });
};
`);
  return { ninjaDir, bDir, source: 'src/s0.txt' };
}

/** Runs a command, returning seconds and the peak RSS (MiB) of the process tree's largest member. */
function timed(cmd: string, argv: string[], cwd: string): { s: number; rssMiB: number; out: string } {
  const py = 'import resource,subprocess,sys,time\nt=time.time()\np=subprocess.run(sys.argv[1:],capture_output=True,text=True)\nd=time.time()-t\nsys.stdout.write(f"{d} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {p.returncode}\\n"+p.stdout[-2000:]+p.stderr[-2000:])';
  const r = spawnSync(PYTHON, ['-c', py, cmd, ...argv], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  const [first, ...rest] = r.stdout.split('\n');
  const [s, rss, code] = (first ?? '').split(' ').map(Number);
  if (code !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${code}):\n${rest.join('\n')}${r.stderr}`);
  return { s: s ?? NaN, rssMiB: (rss ?? 0) / 1024, out: rest.join('\n') };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function main(): void {
  const ninjaVersion = execFileSync('ninja', ['--version'], { encoding: 'utf8' }).trim();
  process.stdout.write(`engine benchmark: B ${execFileSync(exe, ['--version'], { encoding: 'utf8' }).trim()} vs ninja ${ninjaVersion}, ${os.cpus().length} CPUs, median of ${RUNS} no-op runs\n`);
  for (const n of SIZES) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `b-bench-engine-${n}-`));
    try {
      const g = generate(dir, n);
      const full = timed(exe, ['build', '-j', String(os.cpus().length)], g.bDir);
      const noops: number[] = [];
      let noopRss = 0;
      for (let i = 0; i < RUNS; i++) {
        const r = timed(exe, ['build', '--verbose'], g.bDir);
        if (!/no work to do/.test(r.out)) throw new Error(`B no-op build did work:\n${r.out}`);
        if (!/no-op snapshot: /.test(r.out)) throw new Error(`B no-op build did not use its snapshot:\n${r.out}`);
        noops.push(r.s);
        noopRss = Math.max(noopRss, r.rssMiB);
      }
      // The no-op without the snapshot: the engine verifies every rule's trace (what a build
      // with one changed file pays before it runs anything).
      const checks: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        fs.rmSync(path.join(g.bDir, '.b', 'noop'), { force: true });
        const r = timed(exe, ['build'], g.bDir);
        if (!/no work to do/.test(r.out)) throw new Error(`B no-op build did work:\n${r.out}`);
        checks.push(r.s);
        noopRss = Math.max(noopRss, r.rssMiB);
      }
      fs.appendFileSync(path.join(g.bDir, g.source), 'changed\n');
      const change = timed(exe, ['build', '-j', String(os.cpus().length)], g.bDir);
      const nfull = timed('ninja', ['-j', String(os.cpus().length)], g.ninjaDir);
      const nnoops: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const r = timed('ninja', [], g.ninjaDir);
        if (!/no work to do/.test(r.out)) throw new Error(`ninja no-op build did work:\n${r.out}`);
        nnoops.push(r.s);
      }
      fs.appendFileSync(path.join(g.ninjaDir, g.source), 'changed\n');
      const nchange = timed('ninja', ['-j', String(os.cpus().length)], g.ninjaDir);
      const bNoop = median(noops);
      const nNoop = median(nnoops);
      process.stdout.write(`\n${n} rules (depth ${DEPTH}):\n`);
      process.stdout.write(`  B     full ${full.s.toFixed(2)} s   no-op ${bNoop.toFixed(3)} s (full check ${median(checks).toFixed(3)} s)   one change ${change.s.toFixed(2)} s   peak RSS ${Math.max(full.rssMiB, noopRss, change.rssMiB).toFixed(0)} MiB (full ${full.rssMiB.toFixed(0)}, no-op ${noopRss.toFixed(0)}, change ${change.rssMiB.toFixed(0)} MiB)\n`);
      process.stdout.write(`  ninja full ${n <= NINJA_FULL_MAX ? `${nfull.s.toFixed(2)} s` : `${nfull.s.toFixed(2)} s (process per action)`}   no-op ${nNoop.toFixed(3)} s   one change ${nchange.s.toFixed(2)} s   peak RSS ${Math.max(nfull.rssMiB, nchange.rssMiB).toFixed(0)} MiB\n`);
      process.stdout.write(`  no-op B/ninja = ${(bNoop / nNoop).toFixed(2)} (target <= 2)\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

// Importing the module (to generate a project for profiling) does not run the benchmark.
if (process.argv[1] === import.meta.filename) main();
