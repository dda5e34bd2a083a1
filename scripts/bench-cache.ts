// The local action cache on a real build: zstd 1.5.4 (Debian's libzstd source, CMake + Ninja)
// built clean in a second checkout, with the cache warmed by a first checkout, against a clean
// build without the cache; and ccache as CMake's compiler launcher under ninja, warmed the same
// way, with base_dir set over both checkouts (so its hits cross directories as B's do).
//
//   node scripts/bench-cache.ts [--n 3] [--jobs 4]
//
// Each variant: N clean builds of the second checkout (`-t clean` first), wall time medians; the
// hit rate from B's summary line and from ccache's statistics. Also checks that the objects B
// restored are byte-identical to the ones it compiled in the same tree without the cache (Release,
// no -g: zstd embeds no path). Needs cmake, cc, ninja and ccache (installed with apt if missing).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { debianSource, ensureTools, objects } from '../test/real-sources.ts';

const root = path.resolve(import.meta.dirname, '..');
const exe = path.join(root, 'dist', `b-${process.platform === 'darwin' ? 'macos' : process.platform}-${process.arch}`);
const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const N = opt('--n', 3);
const JOBS = String(opt('--jobs', 4));

const say = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

let world: string | undefined;
process.on('exit', () => {
  if (world !== undefined) fs.rmSync(world, { recursive: true, force: true });
});
for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => process.exit(130));

interface Ran {
  code: number | null;
  out: string;
  ms: number;
}

function run(cmd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Ran {
  const t0 = performance.now();
  const r = spawnSync(cmd, argv, { env, encoding: 'utf8', maxBuffer: 256 << 20, timeout: 1_800_000, killSignal: 'SIGKILL' });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, ms: performance.now() - t0 };
}

function must(r: Ran, what: string): Ran {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.out.slice(-4000)}`);
  return r;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function configure(src: string, tree: string, launcher: boolean): void {
  must(run('cmake', ['-G', 'Ninja', '-S', path.join(src, 'build/cmake'), '-B', tree, '-DCMAKE_BUILD_TYPE=Release',
    '-DZSTD_BUILD_PROGRAMS=ON', '-DZSTD_BUILD_TESTS=OFF', '-DZSTD_BUILD_SHARED=OFF',
    ...(launcher ? ['-DCMAKE_C_COMPILER_LAUNCHER=ccache', '-DCMAKE_CXX_COMPILER_LAUNCHER=ccache'] : [])]), `cmake ${tree}`);
}

function differing(a: Map<string, Buffer>, b: Map<string, Buffer>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (!b.get(k)?.equals(v)) out.push(k);
  return out;
}

/** ccache's counters (`--print-stats`: tab-separated name and value). */
function ccacheStats(env: NodeJS.ProcessEnv): Record<string, number> {
  const r = must(run('ccache', ['--print-stats'], env), 'ccache --print-stats');
  const s: Record<string, number> = {};
  for (const line of r.out.split('\n')) {
    const [k, v] = line.split('\t');
    if (k && v !== undefined && /^\d+$/.test(v)) s[k] = Number(v);
  }
  return s;
}

function main(): void {
  if (!fs.existsSync(exe)) throw new Error(`${exe} is missing: npm run build:host first`);
  const tools = ensureTools(['cmake', 'cc', 'ninja', 'ccache']);
  if (!tools.ok) throw new Error(tools.why);
  const fetched = debianSource('libzstd');
  if (!fetched.ok) throw new Error(`cannot fetch libzstd: ${fetched.why}`);
  world = fs.mkdtempSync(path.join(os.tmpdir(), 'b-bench-cache-'));
  // Four checkouts, names of one length: B's pair and ccache's pair.
  const trees: Record<string, { src: string; build: string }> = {};
  for (const name of ['b1', 'b2', 'c1', 'c2']) {
    const src = path.join(world, name, 'src');
    fs.cpSync(fetched.dir, src, { recursive: true });
    const build = path.join(world, name, 'build');
    configure(src, build, name.startsWith('c'));
    trees[name] = { src, build };
  }
  const b1 = trees.b1!.build;
  const b2 = trees.b2!.build;
  const c1 = trees.c1!.build;
  const c2 = trees.c2!.build;
  const env = { ...process.env, B_CACHE_DIR: path.join(world, 'b-cache'), B_CACHE: '' };
  const cached = { ...env, B_CACHE: '1' };
  const ccEnv = { ...process.env, CCACHE_DIR: path.join(world, 'ccache'), CCACHE_BASEDIR: world, CCACHE_NOHASHDIR: 'true', CCACHE_MAXSIZE: '5G' };
  say(`zstd ${fetched.version}, -j${JOBS}, ${N} clean builds of the second checkout per variant`);

  // Warm-ups: B's cache from b1, ccache's from c1.
  const warm = must(run(exe, ['ninja', '-C', b1, '-j', JOBS], cached), 'b --cache (warm-up)');
  say(`warm-up: b --cache in the first checkout ${(warm.ms / 1000).toFixed(1)} s (${/action cache: [^\n]*/.exec(warm.out)?.[0] ?? 'no summary'})`);
  const cwarm = must(run('ninja', ['-C', c1, '-j', JOBS], ccEnv), 'ninja + ccache (warm-up)');
  say(`warm-up: ninja + ccache in the first checkout ${(cwarm.ms / 1000).toFixed(1)} s`);

  const rows: { name: string; ms: number[]; hits: string }[] = [];
  const variant = (name: string, f: () => { ms: number; hits: string }): void => {
    const ms: number[] = [];
    let hits = '';
    for (let i = 0; i < N; i++) {
      const r = f();
      ms.push(r.ms);
      hits = r.hits;
    }
    rows.push({ name, ms, hits });
    say(`${name}: ${ms.map((x) => (x / 1000).toFixed(2)).join(' ')} s`);
  };

  let uncached: Map<string, Buffer> | undefined;
  variant('b, no cache', () => {
    must(run(exe, ['ninja', '-C', b2, '-t', 'clean'], env), 'clean');
    const r = must(run(exe, ['ninja', '-C', b2, '-j', JOBS], env), 'b (no cache)');
    uncached = objects(b2);
    return { ms: r.ms, hits: '-' };
  });
  variant('b --cache, warm', () => {
    must(run(exe, ['ninja', '-C', b2, '-t', 'clean'], env), 'clean');
    const r = must(run(exe, ['ninja', '-C', b2, '-j', JOBS], cached), 'b --cache');
    const m = /action cache: (\d+) hits? of (\d+)/.exec(r.out);
    return { ms: r.ms, hits: m ? `${m[1]}/${m[2]}` : '?' };
  });
  const restored = objects(b2);
  const bad = uncached === undefined ? ['(no reference)'] : differing(uncached, restored);
  variant('ninja, no ccache', () => {
    must(run('ninja', ['-C', c2, '-t', 'clean'], ccEnv), 'clean');
    const r = must(run('ninja', ['-C', c2, '-j', JOBS], { ...ccEnv, CCACHE_DISABLE: '1' }), 'ninja (no ccache)');
    return { ms: r.ms, hits: '-' };
  });
  variant('ninja + ccache, warm', () => {
    must(run('ninja', ['-C', c2, '-t', 'clean'], ccEnv), 'clean');
    must(run('ccache', ['--zero-stats'], ccEnv), 'ccache --zero-stats');
    const r = must(run('ninja', ['-C', c2, '-j', JOBS], ccEnv), 'ninja + ccache');
    const s = ccacheStats(ccEnv);
    const hit = (s.direct_cache_hit ?? 0) + (s.preprocessed_cache_hit ?? 0);
    const all = hit + (s.cache_miss ?? 0);
    return { ms: r.ms, hits: `${hit}/${all} (compiles only)` };
  });

  say('');
  say('| variant | wall, median (s) | hits |');
  say('| --- | --- | --- |');
  for (const r of rows) say(`| ${r.name} | ${(median(r.ms) / 1000).toFixed(2)} | ${r.hits} |`);
  say('');
  say(bad.length === 0 ? `restored objects identical to uncached ones: all ${restored.size}` : `objects differing from the uncached build: ${bad.join(' ')}`);
}

main();
