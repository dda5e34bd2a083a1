// filestate.ts absPath: path.resolve's answer for every key, computed by concatenation only where
// the key is already canonical. Pure: no files.
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { absPath } from '../src/filestate.ts';
import { suite } from './helpers.ts';

const test = suite('filestate');

const keys = [
  'a', 'a/b.o', '.hidden/x', 'x/.y', 'x..y', '...', 'a/...', '/abs/src/lib.c', '/', '',
  '.', '..', './a', '../a', '../../src/a.c', 'a/./b', 'a/../b', 'a//b', 'a/', 'a/.', 'a/..', '//x', 'a b/é',
];

test('the same path as path.resolve, under normalized, unnormalized and relative roots', () => {
  for (const root of ['/tmp/b-root', '/', '/tmp/b-root/', '/tmp//b-root/./x/..', 'rel/dir', '/tmp/b-root']) {
    for (const k of keys) assert.is(absPath(root, k), path.resolve(root, k), `${root} + ${k}`);
  }
});

test.run();
