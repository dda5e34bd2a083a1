// Remote execution building blocks: command relocation, sandbox bounds, compile detection,
// project roots, output path checks, and the node's content-addressed store.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { suite, tmp } from './helpers.ts';
import { relocate, inSandbox, withAfterLastProgram } from '../src/rexec.ts';
import { compileInfo, projectRoots, shellWords, checkOutputPath, sourceFilesUnder, knownDigest } from '../src/rexec-client.ts';
import { Cas } from '../src/cas.ts';

const test = suite('rexec');

test('relocate rewrites client paths wherever a path starts, and nothing else', () => {
  const S = '/sb';
  assert.is(relocate('cc -I/p/inc -c /p/src/a.c -o out.o', ['/p'], S), 'cc -I/sb/p/inc -c /sb/p/src/a.c -o out.o');
  assert.is(relocate('cc -isystem /p/x "-I/p/y" -DX=/p/z', ['/p'], S), 'cc -isystem /sb/p/x "-I/sb/p/y" -DX=/sb/p/z');
  assert.is(relocate('cc /pp/a.c /p', ['/p'], S), 'cc /pp/a.c /sb/p', 'a longer name is another path');
  assert.is(relocate('cat rel/p/a', ['/p'], S), 'cat rel/p/a', 'a relative path ending in the root is left alone');
  assert.is(relocate('x /a/b /a', ['/a', '/a/b'], S), 'x /sb/a/b /sb/a');
});

test('the prefix map goes after the compiler of the last part, never after mkdir', () => {
  const M = ' -M';
  assert.is(withAfterLastProgram('/usr/bin/cc -c a.c -o a.o', M), '/usr/bin/cc -M -c a.c -o a.o');
  assert.is(withAfterLastProgram('mkdir -p obj && cc -c a.c', M), 'mkdir -p obj && cc -M -c a.c');
  assert.is(withAfterLastProgram('cd x; cc -c a.c', M), 'cd x; cc -M -c a.c');
  assert.is(withAfterLastProgram('true || cc -c a.c', M), 'true || cc -M -c a.c');
  assert.is(withAfterLastProgram('echo "a && b" && cc x', M), 'echo "a && b" && cc -M x', 'separators inside quotes are words');
  assert.is(withAfterLastProgram('cc x &&', M), 'cc x &&', 'nothing after the last separator: unchanged');
});

test('inSandbox keeps every path inside the sandbox', () => {
  assert.is(inSandbox('/sb', '/p/a.c'), '/sb/p/a.c');
  assert.is(inSandbox('/sb', '/p/../../etc/passwd'), '/sb/etc/passwd');
  assert.throws(() => inSandbox('/sb', 'relative'), /not an absolute path/);
});

test('compileInfo: compiles only, with their include dirs', () => {
  assert.equal(compileInfo('/usr/bin/cc -Iinc -I /abs/x -iquote q -c src/a.c -o a.o', '/w'), { compiler: '/usr/bin/cc', includeDirs: ['/w/inc', '/abs/x', '/w/q'], source: '/w/src/a.c' });
  assert.ok(compileInfo('x86_64-linux-gnu-gcc-12 -c a.c -o a.o', '/w'));
  assert.ok(compileInfo('clang++ -c a.cc -o a.o', '/w'));
  assert.is(compileInfo('cc a.o b.o -o app', '/w'), undefined, 'a link stays local');
  assert.is(compileInfo('cd x && cc -c a.c -o a.o', '/w'), undefined, 'shell operators stay local');
  assert.is(compileInfo('python gen.py -c x -o y', '/w'), undefined);
  assert.equal(shellWords(`a 'b c' "d\\"e" f\\ g`), ['a', 'b c', 'd"e', 'f g']);
});

test('projectRoots: one common ancestor per top-level directory, never /', () => {
  assert.equal(projectRoots(['/tmp/x/build', '/tmp/x/src/a.c', '/tmp/x/src/inc/h.h']), ['/tmp/x']);
  assert.equal(projectRoots(['/home/u/src/a.c', '/tmp/build/o.o']).sort(), ['/home/u/src/a.c', '/tmp/build/o.o'].sort());
  assert.equal(projectRoots(['/tmp/a', '/tmp/b']), ['/tmp']);
});

test('projectRoots: the same roots as splitting every path into components', () => {
  // The reference: the component-wise algorithm projectRoots replaced (for speed), on paths as
  // planRexec gives them (absolute, normalized).
  const reference = (paths: string[]): string[] => {
    const groups = new Map<string, string[]>();
    for (const p of paths) {
      const top = p.split('/').filter(Boolean)[0];
      if (top !== undefined) groups.set(top, [...(groups.get(top) ?? []), p]);
    }
    return [...groups.values()].map((ps) => {
      let common = ps[0]!.split('/');
      for (const p of ps.slice(1)) {
        const q = p.split('/');
        let k = 0;
        while (k < common.length && k < q.length && common[k] === q[k]) k++;
        common = common.slice(0, k);
      }
      return common.join('/') || `/${ps[0]!.split('/')[1]}`;
    });
  };
  const names = ['a', 'ab', 'b', 'a.c', 'x', 'tmp'];
  let seed = 7;
  const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let i = 0; i < 2000; i++) {
    const paths = Array.from({ length: 1 + rnd(5) }, () => '/' + Array.from({ length: 1 + rnd(4) }, () => names[rnd(names.length)]!).join('/'));
    assert.equal(projectRoots(paths), reference(paths), paths.join(' '));
  }
  assert.equal(projectRoots(['/tmp/ab/c', '/tmp/a']), ['/tmp'], 'a common prefix inside a component is no common directory');
  assert.equal(projectRoots(['/tmp/a/b', '/tmp/a']), ['/tmp/a']);
  assert.equal(projectRoots(['/', '']), []);
});

test('knownDigest: a digest is taken again when the file changed, and never kept for a racy one', () => {
  const d = tmp('b-rexec-digest-');
  const f = path.join(d, 'h.h');
  fs.writeFileSync(f, 'one');
  let calls = 0;
  const digestOf = (abs: string): { digest: string; size: number; exec: boolean } => {
    calls++;
    const b = fs.readFileSync(abs);
    return { digest: createHash('sha256').update(b).digest('hex').slice(0, 16), size: b.length, exec: false };
  };
  const first = knownDigest(f, digestOf);
  knownDigest(f, digestOf);
  assert.is(calls, 2, 'just written (racy): asked each time');
  const old = new Date(Date.now() - 60_000);
  fs.utimesSync(f, old, old);
  // utimes changes the ctime to now: racy by its ctime still, until that is old too.
  assert.equal(knownDigest(f, digestOf), first);
  assert.is(calls, 3);
  const realNow = Date.now;
  try {
    Date.now = () => realNow() + 10_000;
    knownDigest(f, digestOf);
    assert.is(calls, 4, 'taken once the stat is old enough to be trusted');
    assert.equal(knownDigest(f, digestOf), first);
    assert.equal(knownDigest(f, digestOf), first);
    assert.is(calls, 4, 'then answered from the stat alone');
    fs.writeFileSync(f, 'two');
    fs.utimesSync(f, old, old); // same mtime as before: the size and ctime tell
    const second = knownDigest(f, digestOf);
    assert.is(calls, 5, 'a changed file is digested again');
    assert.is.not(second?.digest, first?.digest);
    fs.chmodSync(f, 0o755);
    knownDigest(f, digestOf);
    assert.is(calls, 6, 'a mode change (the exec bit) asks again');
    fs.rmSync(f);
    assert.is(knownDigest(f, (abs) => (calls++, fs.existsSync(abs) ? digestOf(abs) : undefined)), undefined, 'a removed file is absent');
    assert.is(calls, 7);
  } finally {
    Date.now = realNow;
  }
});

test('outputs written from remote results stay inside the build root', () => {
  const root = tmp();
  const outside = tmp();
  assert.is(checkOutputPath(root, 'obj/a.o', 'r'), path.join(root, 'obj/a.o'));
  assert.throws(() => checkOutputPath(root, '../x.o', 'obj/x.o'), /rule obj\/x\.o: output \.\.\/x\.o is outside the build root/);
  assert.throws(() => checkOutputPath(root, '/etc/x', 'r'), /outside the build root/);
  fs.symlinkSync(outside, path.join(root, 'link'));
  assert.throws(() => checkOutputPath(root, 'link/a.o', 'r'), /goes through a symlink out of the build root/);
});

test('sourceFilesUnder: a directory read before sees files added, removed and renamed since', () => {
  const d = tmp('b-rexec-scan-');
  fs.mkdirSync(path.join(d, 'src', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(d, 'src', 'a.c'), 'a');
  fs.writeFileSync(path.join(d, 'src', 'notes.txt'), 'not source-like');
  fs.writeFileSync(path.join(d, 'src', 'sub', 'b.h'), 'b');
  // Old enough not to be racy: the listing is kept and reused.
  const old = new Date(Date.now() - 60_000);
  const age = (): void => {
    for (const x of [path.join(d, 'src'), path.join(d, 'src', 'sub')]) fs.utimesSync(x, old, old);
  };
  age();
  const scan = (): string[] => (sourceFilesUnder([path.join(d, 'src')], () => false) ?? []).map((f) => path.relative(d, f)).sort();
  assert.equal(scan(), ['src/a.c', 'src/sub/b.h']);
  assert.equal(scan(), ['src/a.c', 'src/sub/b.h'], 'the same answer from the kept listing');
  fs.writeFileSync(path.join(d, 'src', 'sub', 'c.h'), 'c'); // a generated header
  assert.equal(scan(), ['src/a.c', 'src/sub/b.h', 'src/sub/c.h'], 'a file added since is seen');
  age();
  scan();
  fs.renameSync(path.join(d, 'src', 'a.c'), path.join(d, 'src', 'z.c'));
  fs.rmSync(path.join(d, 'src', 'sub', 'b.h'));
  assert.equal(scan(), ['src/sub/c.h', 'src/z.c'], 'renamed and removed files are seen');
  assert.equal(sourceFilesUnder([path.join(d, 'src')], (p) => p.endsWith('z.c'))?.map((f) => path.basename(f)), ['c.h'], 'skip applies to kept listings');
});

test('the store: verified writes, reads, LRU eviction, dead temp files removed', () => {
  const dir = tmp();
  const cas = new Cas(path.join(dir, 'cas'), 3000);
  const blob = (s: string): { hex: string; data: Buffer } => {
    const data = Buffer.from(s.repeat(1000));
    return { hex: createHash('sha256').update(data).digest('hex').slice(0, 32), data };
  };
  const a = blob('a');
  const w = cas.writer(a.hex);
  w.write(a.data.subarray(0, 500));
  w.write(a.data.subarray(500));
  w.commit();
  assert.ok(cas.has(a.hex));
  assert.equal(cas.read(a.hex, 10, 5), a.data.subarray(10, 15));
  const bad = cas.writer(blob('b').hex);
  bad.write(Buffer.from('not b'));
  assert.throws(() => bad.commit(), /arrived corrupted/);
  assert.not.ok(cas.has(blob('b').hex));
  fs.writeFileSync(path.join(dir, 'cas', a.hex.slice(0, 2), `${a.hex}.999999999.dead.tmp`), 'half');
  const live = path.join(dir, 'cas', a.hex.slice(0, 2), `${a.hex}.${process.pid}.writing.tmp`);
  fs.writeFileSync(live, 'in progress');
  for (const s of ['c', 'd', 'e', 'f']) {
    const x = blob(s);
    const wr = cas.writer(x.hex);
    wr.write(x.data);
    wr.commit();
  }
  const r = cas.maintain();
  assert.ok(r.evicted > 0 && r.bytes <= 3000, JSON.stringify(r));
  const left = fs.readdirSync(path.join(dir, 'cas')).flatMap((d) => fs.readdirSync(path.join(dir, 'cas', d)));
  assert.equal(left.filter((f) => f.endsWith('.tmp')), [path.basename(live)], 'only the live writer\'s temp file is kept');
  assert.throws(() => cas.pathOf('../../etc/passwd'), /not a content digest/);
});

test.run();
