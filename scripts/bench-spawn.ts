// The spawn helper alone (src/spawn-perl.ts with its Python and Perl scripts), without a build:
// N cheap commands (`echo i > oi`, each with a cwd, as a Ninja edge has) kept J at a time, and
// the CPU each side spends per command, so that a change to a helper script or to the client is
// measured where it happens instead of in a whole build's noise.
//
//   node scripts/bench-spawn.ts [--n 2000] [--jobs 2] [--rounds 5] [--helpers python,perl]
//        [--old DIR]    also the client and scripts of an older tree (DIR/src/spawn-perl.ts,
//                       e.g. `git archive main src | tar -x -C DIR`), alternating with these
//
// Per command, medians over the rounds (rounds alternate the variants): the helper process's own
// user + system time, its children's (the commands, from the vfork or fork to their exit: what
// differs between variants is the part before exec), and this process's (the client: encoding,
// the pipe, decoding, reading the output). Read from /proc/PID/stat just before the helper is
// closed, when it has reaped every command.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] ?? def) : def;
};
const N = Number(opt('--n', '2000'));
const JOBS = Number(opt('--jobs', '2'));
const ROUNDS = Number(opt('--rounds', '5'));
const HELPERS = opt('--helpers', 'python,perl').split(',') as ('python' | 'perl')[];
const OLD = args.includes('--old') ? path.resolve(opt('--old', '')) : undefined;

interface Result { exit: number; output: string }
interface Helper {
  run(req: { shell: string; cwd: string }): { done: Promise<Result> } | undefined;
  close(): Promise<void>;
  readonly kind: string;
}
interface SpawnerClass { start(prefer?: 'perl' | 'python'): Helper | undefined }

const here = path.resolve(import.meta.dirname, '..', 'src', 'spawn-perl.ts');
const load = async (file: string): Promise<SpawnerClass> => ((await import(pathToFileURL(file).href)) as { PerlSpawner: SpawnerClass }).PerlSpawner;
const impls: { label: string; cls: SpawnerClass }[] = [{ label: 'new', cls: await load(here) }];
if (OLD !== undefined) impls.unshift({ label: 'old', cls: await load(path.join(OLD, 'src', 'spawn-perl.ts')) });

const TICK = 1e6 / 100; // µs per clock tick (USER_HZ is 100 on Linux)

/** The helper among this process's children (its script lives in a b-spawn-* directory). */
function helperPid(): number | undefined {
  for (const t of fs.readdirSync('/proc/self/task')) {
    for (const p of fs.readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim().split(/\s+/)) {
      if (p !== '' && fs.readFileSync(`/proc/${p}/cmdline`, 'latin1').includes('b-spawn-')) return Number(p);
    }
  }
  return undefined;
}

/** utime + stime of the process, and of its reaped children, in µs. */
function procCpu(pid: number): { self: number; children: number } {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ').map(Number);
  // Fields 14-17 of stat; f[0] is field 3.
  return { self: (f[11]! + f[12]!) * TICK, children: (f[13]! + f[14]!) * TICK };
}

async function round(cls: SpawnerClass, kind: 'python' | 'perl', dir: string): Promise<{ self: number; children: number; client: number; wall: number } | undefined> {
  const h = cls.start(kind);
  if (h === undefined || h.kind !== kind) {
    await h?.close();
    return undefined;
  }
  // Up and serving before the clock starts: start-up is not per command.
  await h.run({ shell: 'true', cwd: dir })?.done;
  const pid = helperPid();
  if (pid === undefined) throw new Error('the helper process was not found among the children');
  const before = procCpu(pid);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  const one = async (): Promise<void> => {
    while (next < N) {
      const i = next++;
      const r = await h.run({ shell: `echo ${i} > o${i}`, cwd: dir })!.done;
      if (r.exit !== 0) throw new Error(`command ${i} failed: ${r.exit} ${r.output}`);
    }
  };
  await Promise.all(Array.from({ length: JOBS }, one));
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const after = procCpu(pid);
  await h.close();
  return { self: (after.self - before.self) / N, children: (after.children - before.children) / N, client: (c.user + c.system) / N, wall: (wall * 1000) / N };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'b-bench-spawn-'));
try {
  process.stdout.write(`bench-spawn: ${N} × \`echo i > oi\` at -j${JOBS}, ${ROUNDS} rounds alternating; ${os.cpus().length} CPUs; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  const variants = impls.flatMap((im) => HELPERS.map((k) => ({ name: `${im.label} ${k}`, cls: im.cls, kind: k })));
  const rows = new Map<string, { self: number; children: number; client: number; wall: number }[]>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of variants) {
      for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { force: true });
      const m = await round(v.cls, v.kind, dir);
      if (m !== undefined) rows.set(v.name, [...(rows.get(v.name) ?? []), m]);
    }
  }
  process.stdout.write(`µs per command (median of ${ROUNDS}):        helper   children   helper+children   client(node)   wall\n`);
  for (const [name, ms] of rows) {
    const f = (k: 'self' | 'children' | 'client' | 'wall'): string => median(ms.map((m) => m[k])).toFixed(0).padStart(8);
    const hc = median(ms.map((m) => m.self + m.children)).toFixed(0).padStart(12);
    process.stdout.write(`  ${name.padEnd(38)} ${f('self')}   ${f('children')}   ${hc}      ${f('client')}   ${f('wall')}\n`);
    process.stdout.write(`    helper per round: ${ms.map((m) => m.self.toFixed(0)).join(' ')}\n`);
  }
  process.stdout.write(`load after ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
