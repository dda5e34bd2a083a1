import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { suite, tmp, run } from './helpers.ts';
import { canonicalizePath, shellEscape } from '../src/ninja-path.ts';

const test = suite('ninja-path');
const haveNinja = spawnSync('ninja', ['--version']).status === 0;

test('canonicalizePath: already canonical paths come back unchanged', () => {
  for (const p of ['a', 'a/b/c.o', '../a', '../../x/y', '..', '../..', '/', '/a/b', '.', '.hidden/x', 'a/.b/c', 'a..b/c', '/..', '/../a', 'a/b..']) {
    assert.is(canonicalizePath(p), p, p);
  }
});

test('canonicalizePath: dots, double slashes, trailing slashes, dot-dot folding', () => {
  const cases: [string, string][] = [
    ['./a', 'a'],
    ['a/./b', 'a/b'],
    ['a//b', 'a/b'],
    ['a/b/', 'a/b'],
    ['a/b/.', 'a/b'],
    ['a/b/..', 'a'],
    ['a/../b', 'b'],
    ['a/..', '.'],
    ['./', '.'],
    ['./.', '.'],
    ['a/../..', '..'],
    ['a/../../b', '../b'],
    ['../a/../b', '../b'],
    ['../a/../../b', '../../b'],
    ['../../a/b/../../c', '../../c'],
    ['..//a', '../a'],
    ['../', '..'],
    ['./../a', '../a'],
    ['//a', '/a'],
    ['/a/./b/../c/', '/a/c'],
    ['/.', '/'],
    ['/a/../..', '/..'],
    ['/../../a', '/../../a'],
    ['a/b/c/../../../..', '..'],
    ['foo/.bar/../baz', 'foo/baz'],
    ['x/y/../z/./w//', 'x/z/w'],
  ];
  for (const [input, want] of cases) assert.is(canonicalizePath(input), want, input);
});

test('shellEscape: safe characters pass, others are single-quoted', () => {
  assert.is(shellEscape('abcXYZ019_+-./'), 'abcXYZ019_+-./');
  assert.is(shellEscape('a b'), "'a b'");
  assert.is(shellEscape("it's"), "'it'\\''s'");
  assert.is(shellEscape('$HOME'), "'$HOME'");
  assert.is(shellEscape('a"b'), `'a"b'`);
  assert.is(shellEscape('caf\u00e9'), "'caf\u00e9'");
  assert.is(shellEscape(''), '');
  assert.is(shellEscape('a:b'), "'a:b'");
});

/** Random paths from a deterministic generator, so that a failure can be reproduced. */
function randomPaths(count: number): string[] {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const parts = ['a', 'b', '.', '..', '..', '', 'c.d', '.e', '..f'];
  const paths: string[] = [];
  while (paths.length < count) {
    let p = rnd(5) === 0 ? '/' : '';
    const n = 1 + rnd(7);
    for (let k = 0; k < n; k++) p += (k > 0 ? '/' : '') + parts[rnd(parts.length)];
    if (rnd(6) === 0) p += '/';
    if (p !== '') paths.push(p);
  }
  return paths;
}

/** An independent, slow statement of the rules, to check the fast one against. */
function reference(p: string): string {
  const abs = p.startsWith('/');
  const stack: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..' && stack.length > 0 && stack[stack.length - 1] !== '..') stack.pop();
    else stack.push(c);
  }
  const r = (abs ? '/' : '') + stack.join('/');
  return r === '' ? '.' : r;
}

test('canonicalizePath agrees with a reference on many random paths', () => {
  for (const p of randomPaths(20000)) assert.is(canonicalizePath(p), reference(p), p);
});

if (haveNinja) {
  test('canonicalizePath agrees with ninja on random paths', async () => {
    const paths = randomPaths(1500);
    const dir = tmp('b-canon-');
    let manifest = 'rule r\n  command = echo $in\n';
    paths.forEach((p, i) => (manifest += `build o${i}: r ${p}\n`));
    fs.writeFileSync(path.join(dir, 'build.ninja'), manifest);
    const r = await run('ninja', ['-t', 'commands', ...paths.map((_, i) => `o${i}`)], { cwd: dir });
    assert.is(r.code, 0, r.stderr);
    const theirs = r.stdout.split('\n').filter((l) => l !== '');
    assert.is(theirs.length, paths.length);
    // ninja 1.11 turns paths naming the root ("/", "/a/..") into '' (fixed in 1.12: "/").
    const differ = paths.flatMap((p, i) => {
      const ours = canonicalizePath(p);
      return `echo ${ours}` === theirs[i] || (ours === '/' && theirs[i] === 'echo ') ? [] : [`${p} -> ${theirs[i]}`];
    });
    assert.equal(differ, []);
  });
} else {
  test.skip('canonicalizePath agrees with ninja', 'ninja not installed');
}

test.run();
