// The pure part of the action cache: keys (action-key.ts), entries, and the edge policy and
// command parsing of ninja-cache.ts that need no process.
import * as assert from 'uvu/assert';
import { suite } from './helpers.ts';
import {
  absolutizer, actionKey, decodeEntry, matchResult, MAX_RESULTS, pathKey, relativizer, withResult, type ActionResult, type ActionSpec,
} from '../src/action-key.ts';
import * as path from 'node:path';
import { baseDir, commandPrograms, declaredEnv, isContentDigest, uncacheable } from '../src/ninja-cache.ts';
import { MISSING } from '../src/filestate.ts';
import { parseManifest } from '../src/ninja-parser.ts';

const test = suite('action-key');

const H = (c: string): string => c.repeat(32);

function spec(root: string, over: Partial<ActionSpec> = {}): ActionSpec {
  return {
    platform: 'linux-x64', tool: 'cc-print', cmd: `cc -I${root}/../src/include -c ${root}/../src/a.c -o a.o`, rspfileContent: '', env: { LANG: 'C' },
    cwd: root, base: root.replace(/\/build$/, ''), inputs: [{ path: `${root.replace(/\/build$/, '')}/src/a.c`, digest: H('a') }],
    outputs: ['a.o'], depfile: 'a.o.d', deps: 'gcc', msvcPrefix: '', rspfile: '', ...over,
  };
}

test('the same action in two directories has one key; every ingredient changes it', () => {
  const k1 = actionKey(spec('/tmp/one/build'));
  assert.is(k1, actionKey(spec('/tmp/two/build')));
  assert.match(k1, /^[0-9a-f]{32}$/);
  const changed: Partial<ActionSpec>[] = [
    { platform: 'linux-arm64' }, { tool: 'other-cc' }, { cmd: 'cc -O2 -c a.c -o a.o' }, { env: { LANG: 'de_DE' } }, { env: {} },
    { inputs: [{ path: '/tmp/one/src/a.c', digest: H('b') }] }, { outputs: ['b.o'] }, { depfile: '' }, { deps: 'msvc' },
    { rspfileContent: 'x' }, { rspfile: 'a.rsp' }, { msvcPrefix: 'Note:' },
  ];
  for (const c of changed) assert.is.not(actionKey(spec('/tmp/one/build', c)), k1, JSON.stringify(c));
  // The working directory's place in the base is part of it (build/ vs out/).
  assert.is.not(actionKey({ ...spec('/tmp/one/out'), base: '/tmp/one' }), actionKey({ ...spec('/tmp/one/build'), base: '/tmp/one' }));
});

test('relativizing: only whole path prefixes, and back', () => {
  const rel = relativizer('/tmp/a/build', '/tmp/a');
  assert.is(rel('/tmp/a/build/x.o /tmp/a/src/x.c /tmp/a/build2/y /tmp/ab/z -I/tmp/a/inc'), '\u0000C/x.o \u0000B/src/x.c \u0000B/build2/y /tmp/ab/z -I\u0000B/inc');
  assert.is(rel('/usr/include/stdio.h'), '/usr/include/stdio.h');
  const abs = absolutizer('/tmp/b/build', '/tmp/b');
  assert.is(abs(rel('/tmp/a/src/x.h')), '/tmp/b/src/x.h');
  assert.is(abs(rel('/tmp/a/build/gen.h')), '/tmp/b/build/gen.h');
  assert.is(abs('/usr/include/stdio.h'), '/usr/include/stdio.h');
  // CMake's objects of out-of-tree sources name both directories, the base one inside the path.
  assert.is(abs(rel('/tmp/a/build/CMakeFiles/x.dir/tmp/a/src/x.c.o')), '/tmp/b/build/CMakeFiles/x.dir/tmp/b/src/x.c.o');
});

const result = (deps: [string, string][], t = 1): ActionResult => ({ deps, outputs: [{ path: 'a.o', digest: H('c'), size: 3, mode: 0o644 }], output: 'warning\n', t });

test('entries: strict decoding; anything malformed or foreign is a miss', () => {
  const key = H('d');
  const e = withResult(undefined, key, result([['\u0000B/src/a.h', H('e')]]));
  assert.equal(decodeEntry(JSON.stringify(e), key), e);
  assert.is(decodeEntry(JSON.stringify(e), H('f')), undefined, 'another key');
  const text = JSON.stringify(e);
  for (let n = 0; n < text.length; n += 7) assert.is(decodeEntry(text.slice(0, n), key), undefined, `torn at ${n}`);
  const bad = [
    { ...e, v: 2 }, { ...e, results: 'x' }, { ...e, results: [{ ...e.results[0], deps: [['a', 'nothex']] }] },
    { ...e, results: [{ ...e.results[0], outputs: [{ path: 'a.o', digest: H('c'), size: -1, mode: 0 }] }] },
    { ...e, results: [{ ...e.results[0], outputs: [{ path: 'a.o', digest: H('c'), size: 1, mode: 0o17777 }] }] },
    { ...e, results: [{ ...e.results[0], output: 3 }] }, null, [], 'str',
  ];
  for (const b of bad) assert.is(decodeEntry(JSON.stringify(b), key), undefined, JSON.stringify(b));
});

test('results: newest first, one per dependency digests, bounded; a hit needs every dependency unchanged', async () => {
  const key = H('d');
  let e = withResult(undefined, key, result([['h', H('1')]], 1));
  e = withResult(e, key, result([['h', H('2')]], 2));
  e = withResult(e, key, result([['h', H('1')]], 3)); // replaces the first
  assert.equal(e.results.map((r) => r.t), [3, 2]);
  for (let i = 0; i < 10; i++) e = withResult(e, key, result([['h', H(String(i))]], 10 + i));
  assert.is(e.results.length, MAX_RESULTS);
  const now = (m: Record<string, string | undefined>) => async (deps: string[]) => deps.map((d) => m[d]);
  assert.is((await matchResult(e, now({ h: H('9') })))?.t, 19);
  assert.is((await matchResult(e, now({ h: H('7') })))?.t, 17);
  assert.is(await matchResult(e, now({ h: H('0') })), undefined, 'evicted');
  assert.is(await matchResult(e, now({})), undefined, 'a dependency gone');
  const two = withResult(undefined, key, result([['a', H('1')], ['b', H('2')]]));
  assert.is(await matchResult(two, now({ a: H('1'), b: H('3') })), undefined, 'one header changed');
  assert.ok(await matchResult(two, now({ a: H('1'), b: H('2') })));
});

test('programs of a command line, and the declared environment', () => {
  assert.equal(commandPrograms('cd /x/build && /usr/bin/cc -c a.c -o a.o'), ['/usr/bin/cc']);
  assert.equal(commandPrograms('echo run >> /tmp/n; CC=1 gcc -c "a;b.c" | tee log || true'), ['echo', 'gcc', 'tee']);
  assert.equal(commandPrograms('cd x'), []);
  assert.equal(commandPrograms('(cc -c a.c)'), ['cc']);
  const env = declaredEnv({ PATH: '/bin', LANG: 'C', B_CACHE_ENV: 'FOO, BAR', FOO: '1' });
  assert.equal(env, { LANG: 'C', FOO: '1' });
});

test('content digests may start with a NUL byte; the missing and directory markers are not digests', () => {
  assert.ok(isContentDigest('\u0000' + 'x'.repeat(15)));
  assert.not.ok(isContentDigest(MISSING));
  assert.not.ok(isContentDigest('\u0000dir'));
});

function manifest(text: string) {
  return parseManifest('build.ninja', { readFile: () => text });
}

test('which edges are never cached', () => {
  const m = manifest(`rule cc
  command = cc -c $in -o $out
rule gen
  command = cmake
  generator = 1
rule con
  command = cc $in
  pool = console
build a.o: cc a.c
build b.o: cc
build c.o: cc a.c | always
build always: phony
build d.o: cc a.c || always
build build.ninja: gen a.c
build e: con a.c
build all: phony a.o
`);
  const why = (o: string) => uncacheable(m.producer.get(o)!, m, '/nonexistent');
  assert.is(why('a.o'), undefined);
  assert.match(why('b.o') ?? '', /no inputs/);
  assert.match(why('c.o') ?? '', /always out of date/);
  assert.is(why('d.o'), undefined, 'order-only inputs do not make it volatile');
  assert.match(why('build.ninja') ?? '', /generator/);
  assert.match(why('e') ?? '', /console/);
  assert.match(why('all') ?? '', /phony/);
});

test('the base directory: the tree the build reads, never a top-level directory', () => {
  const m = manifest('rule cc\n  command = cc\nbuild a.o: cc /tmp/p/src/a.c /usr/include/x.h /home/u/lib.h\n');
  assert.is(baseDir('/tmp/p/build', m, {}), '/tmp/p');
  assert.is(baseDir('/tmp/p/src/build', manifest('rule cc\n  command = cc\nbuild a.o: cc /tmp/p/src/a.c\n'), {}), '/tmp/p/src');
  assert.is(baseDir('/tmp/q/build', m, {}), '/tmp/q/build', 'shares only /tmp');
  assert.is(baseDir('/tmp/p/build', m, { B_CACHE_BASEDIR: '/tmp' }), '/tmp');
  assert.is(baseDir('/tmp/p/build', m, { B_CACHE_BASEDIR: '/srv' }), '/tmp/p/build', 'not an ancestor: ignored');
});

test('path keys: relative inside the root, absolute outside; the fast path agrees with path.relative', () => {
  const root = '/tmp/w/build';
  // What path.resolve + path.relative say (the definition; the fast path must agree).
  const slow = (p: string, cwd?: string): string => {
    if (cwd === undefined && !path.isAbsolute(p)) return p;
    const abs = path.resolve(cwd ?? root, p);
    const rel = path.relative(root, abs);
    return rel !== '' && rel !== '..' && !rel.startsWith('../') && !path.isAbsolute(rel) ? rel : abs;
  };
  const paths = [
    '/tmp/w/build/a.o', '/tmp/w/build/sub/x.h', '/tmp/w/build', '/tmp/w/build/', '/tmp/w/build2/a.h', '/tmp/w/src/a.c', '/usr/include/stdio.h',
    '/tmp/w/build/./a.o', '/tmp/w/build/sub/../a.o', '/tmp/w/build//a.o', '/tmp/w/src/../build/a.o', '/tmp/w/build/..', '/',
    'a.o', 'sub/x.h', './a.o', '../src/a.c', 'sub/../a.o', 'sub//x.h', 'sub/', '.', '..', '', 'sub/.hidden', '..a/b', 'a\\b',
  ];
  for (const p of paths) {
    assert.is(pathKey(root, p), slow(p), `no cwd: ${p}`);
    for (const cwd of [root, '/tmp/w/build/sub', '/tmp/w/src', '/']) assert.is(pathKey(root, p, cwd), slow(p, cwd), `${p} from ${cwd}`);
  }
  assert.is(pathKey(root, '/tmp/w/build/sub/x.h'), 'sub/x.h');
  assert.is(pathKey(root, '/tmp/w/build2/a.h'), '/tmp/w/build2/a.h', 'a prefix only counts at a path boundary');
  assert.is(pathKey(root, '../src/a.c'), '../src/a.c', 'a Ninja key is kept as written');
  assert.is(pathKey(root, '../src/a.c', root), '/tmp/w/src/a.c', 'from a directory: resolved');
  assert.is(pathKey('/tmp/w/build/', '/tmp/w/build/a.o'), 'a.o', 'a root written with a slash');
});

test.run();
