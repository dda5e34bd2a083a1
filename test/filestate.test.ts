// filestate.ts absPath: path.resolve's answer for every key, computed by concatenation only where
// the key is already canonical (pure: no files); currentStateAndMode: one stat for both answers.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Database } from '../src/database.ts';
import { absPath, counters, currentState, currentStateAndMode } from '../src/filestate.ts';
import { suite, tmp } from './helpers.ts';

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

test('currentStateAndMode: the state currentState gives and the file\'s mode, from one stat', () => {
  const dir = tmp('b-fs-');
  const { db } = Database.open(path.join(dir, 'db'), 'test');
  try {
    const f = path.join(dir, 'tool.sh');
    fs.writeFileSync(f, '#!/bin/sh\n');
    fs.chmodSync(f, 0o755);
    const before = counters.stats;
    const got = currentStateAndMode(db, 'tool.sh', f);
    assert.is(counters.stats - before, 1, 'one stat');
    assert.ok(got !== undefined && (got.mode & 0o111) !== 0, 'the exec bit');
    assert.equal(got?.state, currentState(db, 'tool.sh', f));
    fs.chmodSync(f, 0o644);
    assert.is((currentStateAndMode(db, 'tool.sh', f)!.mode & 0o111), 0);
    assert.is(currentStateAndMode(db, 'gone', path.join(dir, 'gone')), undefined);
  } finally {
    db.close();
  }
});

test.run();
