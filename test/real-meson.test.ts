// A real Meson project nobody here wrote: serd 0.30.16 (Debian's `serd` source: a C library for
// RDF syntax, the `serdi` tool, 8 test programs; it build-depends on meson and nothing but the C
// library). `meson setup --backend ninja` twice: one tree built by the real ninja, one by B as
// `ninja` (the symlink first on PATH, which is where Meson looks for ninja, also when it
// regenerates). One clean build per tool; the later tests reuse both trees.
//
// Byte-for-byte comparison: the trees are `<tmp>/n` and `<tmp>/b` beside the source `<tmp>/src`,
// so every compile command names its sources by the same relative path (`../src/...`). Unlike
// the zstd test, this one builds with debug info (`buildtype=debug`), whose DW_AT_comp_dir is
// the build dir: `-ffile-prefix-map=<tree>=.` maps it to `.` in both trees, and then every
// object, the shared library, serdi and the test programs must be identical.
//
// B_REAL_FALLBACK=1 builds B's tree with `b build -C DIR` instead (Meson then uses the real
// ninja): the engine alone, without the Ninja personality.
//
// Meson links programs against the library through a symbols file made by a `restat = 1` rule
// (SHSYM): when a library rebuild keeps its exported symbols, ninja does not relink the
// programs either; B gets the same from comparing contents.

import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { B, run, suite, tmp } from './helpers.ts';
import { compareTrees, debianSource, dependents, ensureTools, minus, ninjaDeps, ninjaShim, ninjaTargets, ranSteps, type Fetched, type NinjaShim } from './real-sources.ts';

const test = suite('real-meson');
const JOBS = '2';
const STEP_MS = 300_000;
const log = (s: string): void => {
  process.stdout.write(`  [real-meson] ${s}\n`);
};

let fetched: Fetched | undefined;
let fetchError: unknown;
try {
  const tools = ensureTools(['meson', 'ninja', 'cc']);
  fetched = tools.ok ? debianSource('serd') : tools;
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
  /** B_REAL_FALLBACK=1: Meson uses the real ninja, B builds with `b build -C`. */
  fallback: boolean;
}

let world: World | undefined;
function w(): World {
  if (world === undefined) throw new Error('the trees were not built (the first test failed)');
  return world;
}

/** The environment of a tree: B's tree finds B as `ninja` first on PATH. */
function envOf(which: 'n' | 'b'): NodeJS.ProcessEnv {
  const { shim, fallback } = w();
  const env = { ...process.env };
  delete env.NINJA;
  if (which === 'b' && !fallback) env.PATH = `${shim.dir}:${process.env.PATH ?? ''}`;
  return env;
}

async function setup(which: 'n' | 'b'): Promise<void> {
  const { src } = w();
  const tree = w()[which];
  const t0 = Date.now();
  const r = await run('meson', ['setup', '--backend', 'ninja', '-Dbuildtype=debug', `-Dc_args=-ffile-prefix-map=${tree}=.`,
    '-Ddocs=disabled', '-Dtests=enabled', '-Dtools=enabled', tree, src], { env: envOf(which), timeout: STEP_MS });
  assert.is(r.code, 0, `meson setup ${tree} failed:\n${r.stdout}\n${r.stderr}`);
  const found = /Found (ninja|samurai)-\S+ at (.*)/.exec(r.stdout);
  log(`set up ${which} in ${((Date.now() - t0) / 1000).toFixed(1)} s (${found?.[0] ?? 'ninja not reported'})`);
  if (which === 'b' && !w().fallback) assert.is(found?.[2], w().shim.bin, 'Meson uses B as ninja');
}

async function build(which: 'n' | 'b'): Promise<Built> {
  const tree = w()[which];
  const t0 = Date.now();
  const r = which === 'b' && w().fallback
    ? await run(B, ['build', '-C', tree, '-j', JOBS], { timeout: STEP_MS })
    : await run('ninja', ['-C', tree, '-j', JOBS], { env: envOf(which), timeout: STEP_MS });
  return { code: r.code, out: `${r.stdout}\n${r.stderr}`, steps: ranSteps(r.stdout), s: (Date.now() - t0) / 1000 };
}

async function both(what: string): Promise<{ n: Built; b: Built }> {
  const n = await build('n');
  assert.is(n.code, 0, `ninja ${what} failed:\n${n.out.slice(-4000)}`);
  const b = await build('b');
  assert.is(b.code, 0, `B ${what} failed:\n${b.out.slice(-4000)}`);
  log(`${what}: ninja ran ${n.steps.length} steps in ${n.s.toFixed(1)} s, B ran ${b.steps.length} in ${b.s.toFixed(1)} s`);
  return { n, b };
}

const compiles = (steps: string[]): string[] => steps.filter((s) => s.startsWith('Compiling C object ')).map((s) => s.slice('Compiling C object '.length)).sort();
const links = (steps: string[]): string[] => steps.filter((s) => s.startsWith('Linking target ')).sort();

function assertSameOutputs(): number {
  const { n, b } = w();
  const targets = [...ninjaTargets(n)].filter(([, rule]) => rule !== 'phony');
  // The manifest the generator wrote names its own tree: compared for existence only.
  const manifests = targets.filter(([, rule]) => rule === 'REGENERATE_BUILD').map(([o]) => o);
  for (const m of manifests) if (fs.existsSync(path.join(n, m))) assert.ok(fs.existsSync(path.join(b, m)), `${m} missing in B's tree`);
  const d = compareTrees(n, b, targets.filter(([, rule]) => rule !== 'REGENERATE_BUILD').map(([o]) => o));
  assert.equal(d.missing, [], `built by ninja, missing in B's tree: ${d.missing.join(' ')}`);
  assert.equal(d.extra, [], `built by B, not by ninja: ${d.extra.join(' ')}`);
  assert.equal(d.differ, [], `different bytes: ${d.differ.join(' ')}`);
  return d.same.length;
}

const TURTLE = `@prefix ex: <http://example.org/> .
ex:b ex:builds ex:serd , ex:zstd ;
  ex:label "B builds real projects"@en ;
  ex:steps 42 .
`;

/** serdi (B's) converts Turtle to N-Triples. */
function runSerdi(): string {
  const dir = w().b;
  fs.writeFileSync(path.join(dir, 'in.ttl'), TURTLE);
  const r = spawnSync(path.join(dir, 'serdi'), ['-i', 'turtle', '-o', 'ntriples', path.join(dir, 'in.ttl')], { encoding: 'utf8', cwd: dir });
  assert.is(r.status, 0, r.stderr);
  return r.stdout;
}

if (fetchError !== undefined) {
  test('fetch the serd source package', () => {
    throw fetchError;
  });
} else if (fetched !== undefined && !fetched.ok) {
  test.skip('serd (Meson) built by B and by ninja', fetched.why);
} else if (fetched !== undefined && fetched.ok) {
  const pristine = fetched.dir;

  test('meson setup twice; clean builds by ninja and by B write the same files, byte for byte', async () => {
    const dir = tmp('b-real-meson-');
    const src = path.join(dir, 'src');
    fs.cpSync(pristine, src, { recursive: true, verbatimSymlinks: true });
    const shim = ninjaShim(path.join(dir, 'bin'), B);
    // B_REAL_FALLBACK=1: B builds with `b build -C` and Meson uses the real ninja in B's tree too
    // (tells the engine's part from the Ninja personality's when something breaks).
    const fallback = process.env.B_REAL_FALLBACK === '1';
    if (fallback) log('NOTE: B_REAL_FALLBACK=1: B builds with `b build -C`, not as `ninja`');
    else assert.ok(shim.works, `B as \`ninja\` does not answer --version like ninja: ${shim.version}`);
    world = { src, n: path.join(dir, 'n'), b: path.join(dir, 'b'), shim, fallback };
    await setup('n');
    await setup('b');
    const { n, b } = await both('clean build');
    assert.ok(n.steps.length >= 25, `ninja ran ${n.steps.length} steps`);
    const same = assertSameOutputs();
    log(`${same} outputs identical in both trees`);
    assert.ok(same >= 30, `only ${same} outputs compared`);
    assert.equal(minus(b.steps, n.steps), [], 'steps B ran that ninja did not');
    assert.equal(minus(n.steps, b.steps), [], 'steps ninja ran that B did not');
  }, { timeout: 900_000 });

  test('serdi and the test programs B built run', () => {
    const nt = runSerdi();
    assert.match(nt, /^<http:\/\/example\.org\/b> <http:\/\/example\.org\/label> "B builds real projects"@en \.$/m);
    assert.is(nt.trim().split('\n').length, 4);
    const tests = fs.readdirSync(path.join(w().b, 'test')).filter((f) => /^test_[a-z_]+$/.test(f));
    assert.ok(tests.length >= 6, `test programs: ${tests.join(' ')}`);
    for (const t of tests) {
      const r = spawnSync(path.join(w().b, 'test', t), [], { encoding: 'utf8', cwd: path.join(w().b, 'test'), timeout: 60_000 });
      assert.is(r.status, 0, `${t}: ${r.stdout}${r.stderr}`);
    }
  });

  test('a second build runs nothing (as ninja)', async () => {
    const { n, b } = await both('second build');
    assert.equal(n.steps, []);
    assert.equal(b.steps, []);
  }, { timeout: STEP_MS * 2 });

  test('editing a .c file rebuilds its object and the library; unchanged exported symbols stop both there', async () => {
    const file = '../src/src/string.c';
    const expected = dependents(ninjaDeps(w().n), file);
    assert.equal(expected, ['libserd-0.so.0.30.16.p/src_string.c.o']);
    // A new function reachable only through a hidden variable: the object and the library
    // change, the exported symbols (what the programs link against) do not.
    fs.appendFileSync(path.join(w().src, 'src/string.c'), '\nstatic int b_real_test_marker(void) { return 42; }\nint (*b_real_test_use)(void) __attribute__((visibility("hidden"))) = b_real_test_marker;\n');
    const { n, b } = await both('rebuild after editing string.c');
    assert.equal(compiles(n.steps), expected);
    assert.equal(compiles(b.steps), expected);
    assert.equal(minus(b.steps, n.steps), [], 'B ran steps that ninja did not');
    assert.equal(links(b.steps), ['Linking target libserd-0.so.0.30.16'], 'B relinks the library only');
    assert.equal(links(n.steps), ['Linking target libserd-0.so.0.30.16'], 'ninja relinks the library only (restat)');
    const d = compareTrees(w().n, w().b, [...expected, 'libserd-0.so.0.30.16']);
    assert.equal([d.missing, d.extra, d.differ], [[], [], []], 'the rebuilt files are identical in both trees');
    assert.match(runSerdi(), /"B builds real projects"@en/);
  }, { timeout: STEP_MS * 2 });

  test('editing a header rebuilds exactly the objects that include it (B ⊆ ninja)', async () => {
    const header = '../src/src/string_utils.h';
    const expected = dependents(ninjaDeps(w().n), header);
    assert.ok(expected.length >= 3, `objects that include ${header}: ${expected.join(' ')}`);
    const file = path.join(w().src, 'src/string_utils.h');
    fs.appendFileSync(file, '\n/* edited by real-meson.test.ts */\n');
    const { n, b } = await both('rebuild after editing string_utils.h');
    assert.equal(compiles(n.steps), expected);
    assert.equal(compiles(b.steps), expected);
    assert.equal(minus(b.steps, n.steps), [], 'B ran steps that ninja did not');
    // Identical objects (a comment at the end moves no line): B stops, ninja relinks.
    assert.equal(links(b.steps), [], 'B relinks nothing');
    assert.ok(links(n.steps).length > 0, 'ninja relinks');
  }, { timeout: STEP_MS * 2 });

  test('changing meson.build re-runs Meson (manifest regeneration) and the build goes on', async () => {
    const manifest = path.join(w().b, 'build.ninja');
    const before = fs.statSync(manifest).mtimeMs;
    fs.appendFileSync(path.join(w().src, 'meson.build'), '\n# edited by real-meson.test.ts\n');
    const { n, b } = await both('build after editing meson.build');
    const regen = (s: string): boolean => /^Regenerating build files/.test(s);
    assert.ok(n.steps.some(regen), `ninja re-runs Meson: ${n.steps.join(' | ')}`);
    assert.ok(b.steps.some(regen), `B re-runs Meson: ${b.steps.join(' | ')}\n${b.out.slice(-3000)}`);
    assert.equal(minus(b.steps, n.steps), [], 'B ran steps that ninja did not');
    assert.ok(fs.statSync(manifest).mtimeMs > before, 'Meson rewrote build.ninja');
    const again = await build('b');
    assert.is(again.code, 0, again.out);
    assert.equal(again.steps, [], 'then nothing to do');
    log(`after all edits: ${assertSameOutputs()} outputs identical in both trees`);
    assert.match(runSerdi(), /"B builds real projects"@en/);
  }, { timeout: STEP_MS * 3 });
}

test.run();
