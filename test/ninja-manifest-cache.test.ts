// The parsed-manifest cache of the Ninja personality (ninja-manifest-cache.ts): a second load of
// an unchanged manifest comes from the cache and equals a fresh parse; any change to a file the
// parser read, a racy read, other options or a torn cache file parse again.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite, tmp } from './helpers.ts';
import { cachedParse, manifestCacheFile, manifestCacheStats } from '../src/ninja-manifest-cache.ts';
import { parseManifest, type NinjaManifest } from '../src/ninja-parser.ts';
import { Edge } from '../src/ninja-eval.ts';

const test = suite('ninja-manifest-cache');

const RULES = `cflags = -O2
rule cc
  command = cc $cflags -c $in -o $out
  description = CC $out
  depfile = $out.d
  deps = gcc
`;
const MAIN = `include rules.ninja
pool link
  depth = 1
build a.o: cc a.c
build b.o: cc b.c | gen.h || order
  cflags = -O0
build app: phony a.o b.o
subninja sub/build.ninja
default app
`;
const SUB = `rule cp
  command = cp $in $out
build sub/x: cp a.c |@ app
  pool = link
`;

/** Writes `name` dated `ageSeconds` back (a file read within its timestamp tick is not cached). */
function write(dir: string, name: string, text: string, ageSeconds = 10): void {
  const f = path.join(dir, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, text);
  const t = Date.now() / 1000 - ageSeconds;
  fs.utimesSync(f, t, t);
}

function tree(): string {
  const dir = tmp('b-mcache-');
  fs.mkdirSync(path.join(dir, '.b'));
  write(dir, 'rules.ninja', RULES);
  write(dir, 'build.ninja', MAIN);
  write(dir, 'sub/build.ninja', SUB);
  return dir;
}

function load(dir: string, phonyCycleErr = false): { m: NinjaManifest; hit: boolean; written: boolean } {
  const before = { ...manifestCacheStats };
  const readFile = (p: string): string => fs.readFileSync(path.resolve(dir, p), 'utf8');
  const m = cachedParse(dir)('build.ninja', { readFile, ...(phonyCycleErr ? { phonyCycleErr } : {}) });
  return { m, hit: manifestCacheStats.hits > before.hits, written: manifestCacheStats.written > before.written };
}

/** Everything the build reads from an edge, for comparing two manifests. */
function shape(m: NinjaManifest): unknown {
  return {
    edges: m.edges.map((e) => ({
      id: e.id, rule: e.rule, outs: e.outs, implicitOuts: e.implicitOuts, ins: e.ins, implicitIns: e.implicitIns,
      orderOnlyIns: e.orderOnlyIns, validations: e.validations, pool: e.pool, file: e.file, line: e.line,
      command: e.command, description: e.description, depfile: e.depfile, deps: e.deps, rspfile: e.rspfile,
      dyndep: e.dyndep, restat: e.restat, generator: e.generator, isPhony: e.isPhony, cflags: e.binding('cflags'),
    })),
    pools: [...m.pools], defaults: m.defaults, builddir: m.builddir, files: m.files, warnings: m.warnings,
    producer: [...m.producer].map(([k, e]) => [k, e.id]),
  };
}

test('a second load comes from the cache and equals a fresh parse', () => {
  const dir = tree();
  const first = load(dir);
  assert.is(first.hit, false);
  assert.is(first.written, true);
  assert.ok(fs.existsSync(manifestCacheFile(dir)));
  const second = load(dir);
  assert.is(second.hit, true, manifestCacheStats.why);
  const fresh = parseManifest('build.ninja', { readFile: (p) => fs.readFileSync(path.resolve(dir, p), 'utf8') });
  assert.equal(shape(second.m), shape(fresh));
  const e = second.m.producer.get('b.o')!;
  assert.ok(e instanceof Edge);
  assert.is(e, second.m.edges[1]); // shared references survive
  assert.is(e.command, 'cc -O0 -c b.c -o b.o');
  assert.ok(Object.isFrozen(second.m.edges[0]!.validations)); // a push never reaches every edge
});

test('a change to an included file or a subninja parses again', () => {
  const dir = tree();
  load(dir);
  // Same length, other content, another (old) mtime: only the stat tells.
  write(dir, 'rules.ninja', RULES.replace('-O2', '-O3'), 20);
  const r = load(dir);
  assert.is(r.hit, false);
  assert.match(manifestCacheStats.why, 'rules.ninja changed');
  assert.is(r.m.producer.get('a.o')!.command, 'cc -O3 -c a.c -o a.o');
  assert.is(load(dir).hit, true);
  write(dir, 'sub/build.ninja', SUB.replace('cp $in', 'ln $in'), 30);
  const s = load(dir);
  assert.is(s.hit, false);
  assert.is(s.m.producer.get('sub/x')!.command, 'ln a.c sub/x');
});

test('a file read within its timestamp tick is not cached', () => {
  const dir = tree();
  // Dated a little ahead: "just written" however slowly this test runs.
  write(dir, 'build.ninja', MAIN, -5);
  const r = load(dir);
  assert.is(r.written, false);
  assert.match(manifestCacheStats.why, 'within its timestamp tick');
  assert.is(fs.existsSync(manifestCacheFile(dir)), false);
});

test('other parse options, a torn cache file, or no .b directory: a fresh parse', () => {
  const dir = tree();
  load(dir);
  assert.is(load(dir, true).hit, false);
  assert.match(manifestCacheStats.why, 'another build');
  assert.is(load(dir).hit, false); // the cache now holds the other options' parse
  const f = manifestCacheFile(dir);
  const buf = fs.readFileSync(f);
  fs.writeFileSync(f, buf.subarray(0, buf.length - 100));
  const torn = load(dir);
  assert.is(torn.hit, false);
  assert.match(manifestCacheStats.why, 'unreadable');
  assert.is(torn.m.edges.length, 4);
  const bare = tmp('b-mcache-bare-');
  write(bare, 'rules.ninja', RULES);
  write(bare, 'build.ninja', MAIN);
  write(bare, 'sub/build.ninja', SUB);
  assert.is(load(bare).written, false);
  assert.is(fs.existsSync(path.join(bare, '.b')), false);
});

test.run();
