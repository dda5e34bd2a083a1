// The local action cache end to end, with the built executable: one small C project copied to
// two directories (absolute source paths, as CMake writes them), a private B_CACHE_DIR per test,
// and every command run appending a line to a counter file outside both trees, so a test sees
// exactly which edges ran and which came from the cache.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { b, suite, tmp } from './helpers.ts';

const test = suite('cache');

interface Project {
  top: string;
  cache: string;
  counter: string;
  /** Writes the tree `name` (src/ and build/build.ninja); `cflags` and the compiler can vary. */
  write(name: string, o?: { cflags?: string; cc?: string }): string;
  build(name: string, env?: Record<string, string>, args?: string[]): Promise<{ code: number | null; signal: string | null; out: string; ran: string[] }>;
  stats(): Promise<{ entries: number; blobs: number; bytes: number }>;
}

function project(): Project {
  const top = tmp('b-cache-');
  const cache = path.join(top, 'cache');
  const counter = path.join(top, 'count');
  let seen = 0;
  const p: Project = {
    top, cache, counter,
    write(name, o = {}) {
      const root = path.join(top, name);
      const src = path.join(root, 'src');
      fs.mkdirSync(src, { recursive: true });
      fs.mkdirSync(path.join(root, 'build'), { recursive: true });
      fs.writeFileSync(path.join(src, 'a.h'), '#define A 1\n');
      fs.writeFileSync(path.join(src, 'b.h'), '#define B 2\n');
      fs.writeFileSync(path.join(src, 'a.c'), '#include "a.h"\n#warning from-a\nint a(void) { return A; }\n');
      fs.writeFileSync(path.join(src, 'b.c'), '#include "b.h"\nint b(void) { return B; }\n');
      fs.writeFileSync(path.join(src, 'main.c'), 'int a(void); int b(void);\nint main(void) { return a() + b() - 3; }\n');
      // What each command ran is the counter's line: its output path.
      fs.writeFileSync(path.join(root, 'build', 'build.ninja'), `cflags = ${o.cflags ?? '-O1'}
rule cc
  command = echo $out >> ${counter}; ${o.cc ?? 'cc'} $cflags -MD -MF $out.d -c $in -o $out
  depfile = $out.d
  deps = gcc
rule link
  command = echo $out >> ${counter}; cc $in -o $out
build a.o: cc ${src}/a.c
build b.o: cc ${src}/b.c
build main.o: cc ${src}/main.c
build app: link a.o b.o main.o
`);
      return root;
    },
    async build(name, env = {}, args = []) {
      const r = await b(['ninja', '-C', path.join(top, name, 'build'), ...args], {
        env: { ...process.env, B_CACHE_DIR: cache, B_CACHE: '1', B_CACHE_MAX_BYTES: '', B_CACHE_ENV: '', ...env },
        timeout: 60_000,
      });
      const lines = fs.existsSync(counter) ? fs.readFileSync(counter, 'utf8').split('\n').filter(Boolean) : [];
      const ran = lines.slice(seen).sort();
      seen = lines.length;
      return { code: r.code, signal: r.signal, out: r.stdout + r.stderr, ran };
    },
    async stats() {
      const r = await b(['cache', 'stats', '--json'], { env: { ...process.env, B_CACHE_DIR: cache }, timeout: 30_000 });
      assert.is(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { entries: number; blobs: number; bytes: number };
    },
  };
  return p;
}

const ALL = ['a.o', 'app', 'b.o', 'main.o'];
const file = (p: Project, name: string, f: string): Buffer => fs.readFileSync(path.join(p.top, name, 'build', f));

test('a second checkout builds from the cache: nothing runs, same bytes, then a no-op', async () => {
  const p = project();
  p.write('one');
  p.write('two');
  let r = await p.build('one');
  assert.is(r.code, 0, r.out);
  assert.equal(r.ran, ALL);
  assert.match(r.out, /action cache: 0 hits of 4/);
  const events = path.join(p.top, 'events.json');
  r = await p.build('two', {}, ['--events', events]);
  assert.is(r.code, 0, r.out);
  assert.equal(r.ran, [], 'no command ran');
  assert.match(r.out, /action cache: 4 hits of 4 \(100%\)/);
  assert.match(r.out, /from-a/, 'the warning is shown again');
  assert.match(r.out, /\(cached\)/);
  for (const f of ALL) assert.ok(file(p, 'one', f).equals(file(p, 'two', f)), `${f} differs`);
  assert.ok((fs.statSync(path.join(p.top, 'two', 'build', 'app')).mode & 0o111) !== 0, 'app is executable');
  const finishes = fs.readFileSync(events, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; cache?: string; cacheBytes?: number }).filter((e) => e.event === 'finish');
  assert.equal(finishes.map((e) => e.cache), ['local', 'local', 'local', 'local']);
  assert.ok(finishes.every((e) => (e.cacheBytes ?? 0) > 0));
  // Recorded in the build database as if the commands had run (deps too).
  r = await p.build('two');
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /no work to do/);
  fs.writeFileSync(path.join(p.top, 'two', 'src', 'b.h'), '#define B 3\n');
  r = await p.build('two');
  assert.equal(r.ran, ['app', 'b.o'], 'the cached edge recorded its header');
  // Without --cache nothing is looked up or recorded.
  const before = await p.stats();
  p.write('three');
  r = await p.build('three', { B_CACHE: '' });
  assert.equal(r.ran, ALL);
  assert.not.match(r.out, /action cache/);
  assert.is((await p.stats()).entries, before.entries);
}, { timeout: 120_000 });

test('misses: a header (only its dependents), a flag, a declared variable, the compiler', async () => {
  const p = project();
  p.write('one');
  assert.is((await p.build('one')).code, 0);
  // A header edited: a.o and the link miss, b.o and main.o hit.
  p.write('two');
  fs.writeFileSync(path.join(p.top, 'two', 'src', 'a.h'), '#define A 5\n');
  let r = await p.build('two');
  assert.is(r.code, 0, r.out);
  assert.equal(r.ran, ['a.o', 'app']);
  // Back to the old header: both versions are in the cache now.
  p.write('three');
  r = await p.build('three');
  assert.equal(r.ran, []);
  // A flag.
  p.write('four', { cflags: '-O2' });
  r = await p.build('four');
  const same = ['a.o', 'b.o', 'main.o'].every((f) => file(p, 'one', f).equals(file(p, 'four', f)));
  assert.equal(r.ran, same ? ['a.o', 'b.o', 'main.o'] : ALL, 'the objects miss; the link hits if they came out the same');
  // A declared environment variable misses; an undeclared one does not matter.
  p.write('five');
  r = await p.build('five', { B_CACHE_ENV: 'FOO', FOO: '1' });
  assert.equal(r.ran, ALL);
  p.write('six');
  r = await p.build('six', { B_CACHE_ENV: 'FOO', FOO: '2', BAR: 'x' });
  assert.equal(r.ran, ALL);
  p.write('seven');
  r = await p.build('seven', { B_CACHE_ENV: 'FOO', FOO: '2', BAR: 'y' });
  assert.equal(r.ran, []);
  // The compiler: a wrapper whose --version changes (its bytes do not).
  const tools = path.join(p.top, 'tools');
  fs.mkdirSync(tools);
  const version = path.join(p.top, 'version.txt');
  fs.writeFileSync(version, 'gcc (Wrapped) 12.0\n');
  fs.writeFileSync(path.join(tools, 'gcc'), `#!/bin/sh\nif [ "$1" = --version ]; then cat ${version}; exit 0; fi\nexec cc "$@"\n`, { mode: 0o755 });
  p.write('eight', { cc: path.join(tools, 'gcc') });
  r = await p.build('eight');
  assert.equal(r.ran, ['a.o', 'b.o', 'main.o']);
  p.write('nine', { cc: path.join(tools, 'gcc') });
  r = await p.build('nine');
  assert.equal(r.ran, [], 'same wrapper, same version');
  fs.writeFileSync(version, 'gcc (Wrapped) 13.0\n');
  p.write('ten', { cc: path.join(tools, 'gcc') });
  r = await p.build('ten');
  assert.equal(r.ran, ['a.o', 'b.o', 'main.o'], 'another compiler version');
}, { timeout: 180_000 });

test('a failed command is never cached, even if it wrote its output', async () => {
  const p = project();
  const root = p.write('one');
  const marker = path.join(p.top, 'fail');
  fs.writeFileSync(path.join(root, 'build', 'build.ninja'), `rule cp
  command = echo $out >> ${p.counter}; cp $in $out; test ! -e ${marker}
build out.txt: cp ${root}/src/a.h
`);
  fs.writeFileSync(marker, '');
  let r = await p.build('one');
  assert.is.not(r.code, 0, r.out);
  assert.equal(r.ran, ['out.txt']);
  assert.is((await p.stats()).entries, 0);
  fs.rmSync(marker);
  r = await p.build('one');
  assert.is(r.code, 0, r.out);
  assert.equal(r.ran, ['out.txt'], 'ran again: nothing was cached');
  assert.is((await p.stats()).entries, 1);
}, { timeout: 60_000 });

test('a command that never writes its declared output (a CMake custom target) runs every time and is not counted as a miss', async () => {
  const p = project();
  for (const name of ['one', 'two']) {
    const root = p.write(name);
    // As CMake's `add_custom_target(zstdcat ALL cmake -E create_symlink zstd zstdcat)`: the
    // declared output is a target name that the command never creates.
    fs.appendFileSync(path.join(root, 'build', 'build.ninja'), `rule custom
  command = echo $out >> ${p.counter}; ln -sf app appcat
build CMakeFiles/appcat: custom app
`);
  }
  let r = await p.build('one');
  assert.is(r.code, 0, r.out);
  assert.equal(r.ran, ['CMakeFiles/appcat', ...ALL].sort());
  assert.match(r.out, /action cache: 0 hits of 4 /);
  assert.is((await p.stats()).entries, 4, 'nothing recorded for the custom target');
  const events = path.join(p.top, 'events.json');
  r = await p.build('two', {}, ['--events', events]);
  assert.is(r.code, 0, r.out);
  assert.equal(r.ran, ['CMakeFiles/appcat'], 'only the custom target ran');
  assert.match(r.out, /action cache: 4 hits of 4 \(100%\)/);
  assert.ok(fs.lstatSync(path.join(p.top, 'two', 'build', 'appcat')).isSymbolicLink(), 'its effect happened');
  const custom = fs.readFileSync(events, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; key: string; cache?: string }).find((e) => e.event === 'finish' && e.key === 'CMakeFiles/appcat');
  assert.ok(custom !== undefined, 'a finish event for the custom target');
  assert.is(custom.cache, undefined, 'not a cache miss: never cacheable');
}, { timeout: 60_000 });

test('a writer killed mid-write leaves no entry; damaged entries and blobs are misses with right outputs', async () => {
  const p = project();
  p.write('one');
  let r = await p.build('one', { B_CACHE_TEST_KILL: 'entry' });
  assert.is(r.signal, 'SIGKILL', r.out);
  let s = await p.stats();
  assert.is(s.entries, 0, 'no entry');
  const leftovers = (dir: string): string[] => fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.tmp')) : [];
  assert.equal(leftovers(path.join(p.cache, 'actions', 'entries')), [], 'stats removed the dead writer\'s temp file');
  p.write('two');
  r = await p.build('two');
  assert.is(r.code, 0, r.out);
  assert.equal(r.ran, ALL, 'built, not restored');
  // Damage: every entry torn in half, then (after recording again) every blob overwritten.
  const entries = path.join(p.cache, 'actions', 'entries');
  const blobs = path.join(p.cache, 'actions', 'cas');
  const files = (dir: string): string[] => (fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })).map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile());
  for (const f of files(entries)) fs.writeFileSync(f, fs.readFileSync(f, 'utf8').slice(0, 40));
  p.write('three');
  r = await p.build('three');
  assert.is(r.code, 0, r.out);
  assert.equal(r.ran, ALL, 'torn entries are misses');
  for (const f of files(blobs).filter((f) => !f.includes(`${path.sep}in${path.sep}`))) fs.writeFileSync(f, 'garbage');
  p.write('four');
  r = await p.build('four');
  assert.is(r.code, 0, r.out);
  assert.equal(r.ran, ALL, 'damaged blobs are misses');
  for (const f of ALL) assert.ok(file(p, 'two', f).equals(file(p, 'four', f)), `${f} is right`);
  s = await p.stats();
  assert.ok(s.entries >= 4);
}, { timeout: 120_000 });

test('b cache stats and b cache clear; the size bound evicts', async () => {
  const p = project();
  p.write('one');
  assert.is((await p.build('one')).code, 0);
  const s = await p.stats();
  assert.is(s.entries, 4);
  assert.ok(s.blobs >= 4 && s.bytes > 0);
  const text = await b(['cache', 'stats'], { env: { ...process.env, B_CACHE_DIR: p.cache }, timeout: 30_000 });
  assert.match(text.stdout, /entries: 4/);
  const c = await b(['cache', 'clear'], { env: { ...process.env, B_CACHE_DIR: p.cache }, timeout: 30_000 });
  assert.is(c.code, 0, c.stderr);
  assert.match(c.stderr, /4 entries/);
  const after = await p.stats();
  assert.equal([after.entries, after.blobs, after.bytes], [0, 0, 0]);
  const bad = await b(['cache', 'nope'], { env: { ...process.env, B_CACHE_DIR: p.cache }, timeout: 30_000 });
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, /b cache stats/);
  // A bound smaller than one build: maintenance keeps the cache under it.
  p.write('two');
  const r = await p.build('two', { B_CACHE_MAX_BYTES: '3000' });
  assert.is(r.code, 0, r.out);
  assert.ok((await p.stats()).bytes <= 3000);
}, { timeout: 60_000 });

test.run();
