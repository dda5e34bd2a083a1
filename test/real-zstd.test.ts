// A real CMake project nobody here wrote: zstd 1.5.4 (Debian's libzstd source), `build/cmake`
// configured twice with `cmake -G Ninja` (Release, programs on, tests off): one tree built by the
// real ninja, one by B as CMAKE_MAKE_PROGRAM (the `ninja` symlink to B, via `cmake --build`).
// Each tool does one clean build; the later tests reuse both trees, edit the shared sources, and
// compare what each tool ran (the "[n/N] description" lines) and what it wrote (byte for byte).
//
// Byte-for-byte comparison: both trees compile the same source files (one copy, by absolute
// path), in build dirs of the same length (`<tmp>/n`, `<tmp>/b`), in Release without -g, so
// no path of a build tree ends up in an object (no debug info; assert() and __FILE__ are off
// with NDEBUG) and gcc, ar and ld are deterministic: every output must be identical, objects,
// archives, the shared library and the executables alike. Same-length dirs (instead of
// -ffile-prefix-map) keep the configuration what a user would type.
//
// B_REAL_FALLBACK=1 builds B's tree with `b build -C DIR` instead (CMake then uses the real ninja
// for its own calls): the engine alone, without the Ninja personality.
//
// Ninja compares mtimes, B compares contents: so B may rerun a subset of what ninja reruns (an
// object recompiled to identical bytes stops the rebuild there), never more.

import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { B, run, suite, tmp } from './helpers.ts';
import { compareTrees, debianSource, dependents, ensureTools, minus, ninjaDeps, ninjaShim, ninjaTargets, ranSteps, type Fetched, type NinjaShim } from './real-sources.ts';

const test = suite('real-zstd');
const JOBS = '2';
const STEP_MS = 480_000;
const log = (s: string): void => {
  process.stdout.write(`  [real-zstd] ${s}\n`);
};

let fetched: Fetched | undefined;
let fetchError: unknown;
try {
  const tools = ensureTools(['cmake', 'ninja', 'cc']);
  fetched = tools.ok ? debianSource('libzstd') : tools;
} catch (e) {
  fetchError = e;
}

interface Built {
  code: number | null;
  out: string;
  steps: string[];
  s: number;
}

interface World {
  src: string;
  n: string;
  b: string;
  shim: NinjaShim;
  ninja: string;
  /** B_REAL_FALLBACK=1: B builds with `b build -C`, CMake uses the real ninja. */
  fallback: boolean;
}

let world: World | undefined;
function w(): World {
  if (world === undefined) throw new Error('the trees were not built (the first test failed)');
  return world;
}

async function configure(src: string, tree: string, makeProgram: string, env: NodeJS.ProcessEnv): Promise<void> {
  const t0 = Date.now();
  const r = await run('cmake', ['-G', 'Ninja', '-S', path.join(src, 'build/cmake'), '-B', tree, '-DCMAKE_BUILD_TYPE=Release',
    '-DZSTD_BUILD_PROGRAMS=ON', '-DZSTD_BUILD_TESTS=OFF', `-DCMAKE_MAKE_PROGRAM=${makeProgram}`], { env, timeout: STEP_MS });
  assert.is(r.code, 0, `cmake configure of ${tree} failed:\n${r.stdout}\n${r.stderr}`);
  log(`configured ${path.basename(tree)} with ${makeProgram} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

function envB(s: NinjaShim): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${s.dir}:${process.env.PATH ?? ''}` };
}

/** `cmake --build` with the tree's make program: ninja for `n`, B's ninja personality for `b`. */
async function build(which: 'n' | 'b'): Promise<Built> {
  const { n, b, shim, fallback } = w();
  const t0 = Date.now();
  const tree = which === 'n' ? n : b;
  const r = which === 'b' && fallback
    ? await run(B, ['build', '-C', b, '-j', JOBS, '--explain'], { timeout: STEP_MS })
    : await run('cmake', ['--build', tree, '-j', JOBS], { env: which === 'n' ? process.env : envB(shim), timeout: STEP_MS });
  const out = `${r.stdout}\n${r.stderr}`;
  return { code: r.code, out, steps: ranSteps(r.stdout), s: (Date.now() - t0) / 1000 };
}

async function both(what: string): Promise<{ n: Built; b: Built }> {
  const n = await build('n');
  assert.is(n.code, 0, `ninja ${what} failed:\n${n.out.slice(-4000)}`);
  const b = await build('b');
  assert.is(b.code, 0, `B ${what} failed:\n${b.out.slice(-4000)}`);
  log(`${what}: ninja ran ${n.steps.length} steps in ${n.s.toFixed(1)} s, B ran ${b.steps.length} in ${b.s.toFixed(1)} s`);
  return { n, b };
}

const compiles = (steps: string[]): string[] => steps.filter((s) => s.startsWith('Building C object ')).map((s) => s.slice('Building C object '.length)).sort();
const links = (steps: string[]): string[] => steps.filter((s) => s.startsWith('Linking ')).sort();

/** Every non-phony output of the manifest, compared between the trees. */
function assertSameOutputs(): number {
  const { n, b } = w();
  const targets = [...ninjaTargets(n)].filter(([, rule]) => rule !== 'phony');
  // The manifest the generator wrote names its own tree: compared for existence only.
  const manifests = targets.filter(([, rule]) => rule === 'RERUN_CMAKE').map(([o]) => o);
  for (const m of manifests) if (fs.existsSync(path.join(n, m))) assert.ok(fs.existsSync(path.join(b, m)), `${m} missing in B's tree`);
  const d = compareTrees(n, b, targets.filter(([, rule]) => rule !== 'RERUN_CMAKE').map(([o]) => o));
  assert.equal(d.missing, [], `built by ninja, missing in B's tree: ${d.missing.join(' ')}`);
  assert.equal(d.extra, [], `built by B, not by ninja: ${d.extra.join(' ')}`);
  assert.equal(d.differ, [], `different bytes: ${d.differ.join(' ')}`);
  return d.same.length;
}

function roundTrip(zstd: string, dir: string): void {
  const input = path.join(dir, 'roundtrip.in');
  const parts = ['lib/compress/zstd_compress.c', 'lib/decompress/zstd_decompress.c', 'programs/fileio.c'].map((f) => fs.readFileSync(path.join(w().src, f)));
  fs.writeFileSync(input, Buffer.concat([...parts, ...parts]));
  const c = spawnSync(zstd, ['-q', '-f', '-19', input, '-o', `${input}.zst`], { encoding: 'utf8' });
  assert.is(c.status, 0, `zstd compress: ${c.stderr}`);
  const d = spawnSync(zstd, ['-q', '-f', '-d', `${input}.zst`, '-o', `${input}.out`], { encoding: 'utf8' });
  assert.is(d.status, 0, `zstd decompress: ${d.stderr}`);
  assert.ok(fs.statSync(`${input}.zst`).size < fs.statSync(input).size / 3, 'compressed');
  assert.ok(fs.readFileSync(input).equals(fs.readFileSync(`${input}.out`)), 'round trip gives the input back');
}

if (fetchError !== undefined) {
  test('fetch the libzstd source package', () => {
    throw fetchError;
  });
} else if (fetched !== undefined && !fetched.ok) {
  test.skip('zstd (CMake) built by B and by ninja', fetched.why);
} else if (fetched !== undefined && fetched.ok) {
  const pristine = fetched.dir;

  test('configure twice; clean builds by ninja and by B write the same files, byte for byte', async () => {
    const dir = tmp('b-real-zstd-');
    const src = path.join(dir, 'src');
    fs.cpSync(pristine, src, { recursive: true, verbatimSymlinks: true });
    const shim = ninjaShim(path.join(dir, 'bin'), B);
    const ninja = spawnSync('sh', ['-c', 'command -v ninja'], { encoding: 'utf8' }).stdout.trim();
    // B_REAL_FALLBACK=1: B builds with `b build -C` and CMake uses the real ninja in B's tree too
    // (tells the engine's part from the Ninja personality's when something breaks).
    const fallback = process.env.B_REAL_FALLBACK === '1';
    if (fallback) log('NOTE: B_REAL_FALLBACK=1: B builds with `b build -C`, not as `ninja`');
    else assert.ok(shim.works, `B as \`ninja\` does not answer --version like ninja: ${shim.version}`);
    world = { src, n: path.join(dir, 'n'), b: path.join(dir, 'b'), shim, ninja, fallback };
    await configure(src, world.n, ninja, process.env);
    await configure(src, world.b, fallback ? ninja : shim.bin, envB(shim));
    const { n, b } = await both('clean build');
    assert.ok(n.steps.length >= 100, `ninja ran ${n.steps.length} steps`);
    const same = assertSameOutputs();
    log(`${same} outputs identical in both trees`);
    assert.ok(same >= 90, `only ${same} outputs compared`);
    // B runs no step ninja would not (in particular it does not re-run CMake on a fresh tree).
    assert.equal(minus(b.steps, n.steps), [], 'steps B ran that ninja did not');
    assert.equal(minus(n.steps, b.steps), [], 'steps ninja ran that B did not');
  }, { timeout: 1_200_000 });

  test('the zstd B built round-trips a file', () => {
    roundTrip(path.join(w().b, 'programs/zstd'), w().b);
  });

  test('a second build runs only what ninja also runs every time (always-dirty custom commands)', async () => {
    const { n, b } = await both('second build');
    log(`ninja's second build: ${n.steps.join(' | ')}`);
    assert.equal(compiles(n.steps), []);
    assert.ok(n.steps.length > 0 && n.steps.length <= 12, `CMake's always-dirty commands: ${n.steps.join(', ')}`);
    assert.equal(minus(b.steps, n.steps), [], 'B ran steps that ninja did not');
    assert.equal(compiles(b.steps), []);
    assert.equal(links(b.steps), []);
  }, { timeout: STEP_MS * 2 });

  test('editing a .c file rebuilds its objects and the links that use them (B ⊆ ninja)', async () => {
    const file = path.join(w().src, 'lib/common/zstd_common.c');
    const expected = dependents(ninjaDeps(w().n), file);
    assert.ok(expected.length >= 2, `objects compiled from ${file}: ${expected.join(' ')}`);
    fs.appendFileSync(file, '\nint b_real_test_marker(void);\nint b_real_test_marker(void) { return 42; }\n');
    const { n, b } = await both('rebuild after editing zstd_common.c');
    assert.equal(compiles(n.steps), expected, 'ninja recompiles the objects of the edited file');
    assert.equal(compiles(b.steps), expected, 'B recompiles the objects of the edited file');
    assert.equal(minus(b.steps, n.steps), [], 'B ran steps that ninja did not');
    // The objects changed, so the library and the programs are linked again.
    assert.ok(b.steps.includes('Linking C executable programs/zstd'), `B relinks zstd: ${b.steps.join(' | ')}`);
    assert.ok(b.steps.some((s) => /^Linking C static library/.test(s)), 'B re-archives libzstd.a');
    const d = compareTrees(w().n, w().b, [...expected, 'lib/libzstd.a', 'programs/zstd']);
    assert.equal([d.missing, d.extra, d.differ], [[], [], []], 'the rebuilt files are identical in both trees');
    roundTrip(path.join(w().b, 'programs/zstd'), w().b);
  }, { timeout: STEP_MS * 2 });

  test('editing a header rebuilds exactly the objects that include it; identical objects stop B there', async () => {
    const header = path.join(w().src, 'lib/compress/zstd_ldm.h');
    const expected = dependents(ninjaDeps(w().n), header);
    assert.ok(expected.length >= 2, `objects that include ${header}: ${expected.join(' ')}`);
    // A comment at the end: no line moves, the objects come out identical.
    fs.appendFileSync(header, '\n/* edited by real-zstd.test.ts */\n');
    const { n, b } = await both('rebuild after editing zstd_ldm.h');
    assert.equal(compiles(n.steps), expected, 'ninja recompiles the includers');
    assert.equal(compiles(b.steps), expected, 'B recompiles the includers');
    assert.equal(minus(b.steps, n.steps), [], 'B ran steps that ninja did not');
    assert.ok(links(n.steps).length > 0, 'ninja relinks (newer objects)');
    assert.equal(links(b.steps), [], 'B does not relink identical objects (early cutoff)');
  }, { timeout: STEP_MS * 2 });

  test('changing CMakeLists.txt re-runs CMake (manifest regeneration) and the build goes on', async () => {
    const lists = path.join(w().src, 'build/cmake/CMakeLists.txt');
    const manifest = path.join(w().b, 'build.ninja');
    const before = fs.statSync(manifest).mtimeMs;
    // B compares contents: touching is not enough, the file must change.
    fs.appendFileSync(lists, '\n# edited by real-zstd.test.ts\n');
    const { n, b } = await both('build after editing CMakeLists.txt');
    assert.ok(n.steps.includes('Re-running CMake...'), `ninja re-runs CMake: ${n.steps.join(' | ')}`);
    assert.ok(b.steps.includes('Re-running CMake...'), `B re-runs CMake: ${b.steps.join(' | ')}\n${b.out.slice(-3000)}`);
    assert.equal(minus(b.steps, n.steps), [], 'B ran steps that ninja did not');
    assert.ok(fs.statSync(manifest).mtimeMs > before, 'CMake rewrote build.ninja');
    assert.is(b.steps.filter((s) => s === 'Re-running CMake...').length, 1, 'CMake re-ran once');
    // The regenerated manifest has the same commands: nothing but the always-dirty steps again.
    const again = await build('b');
    assert.is(again.code, 0, again.out);
    assert.equal(compiles(again.steps), []);
    assert.equal(again.steps.filter((s) => s === 'Re-running CMake...'), []);
    log(`after all edits: ${assertSameOutputs()} outputs identical in both trees`);
  }, { timeout: STEP_MS * 3 });
}

test.run();
