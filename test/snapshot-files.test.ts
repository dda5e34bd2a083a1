// The snapshot's file list (fastnoop.ts SnapshotFiles): written in chunks without an object per
// file, read back by checkSnapshot exactly as the one-buffer format it replaced. Pure: files in a
// temp dir, no build.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkSnapshot, SnapshotFiles, snapshotFile, writeSnapshot, type SnapshotHeader } from '../src/fastnoop.ts';
import { VERSION } from '../src/version.ts';
import { suite, tmp } from './helpers.ts';

const test = suite('snapshot-files');

function header(dir: string): SnapshotHeader {
  return { b: VERSION, buildFile: 'build.ninja', targets: [], env: [], upToDate: 0, dead: [], root: dir };
}

/** `n` files (names of varied length, some non-ASCII) recorded as they are, and one missing. */
function record(dir: string, n: number): { files: SnapshotFiles; names: string[] } {
  const files = new SnapshotFiles();
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = path.join(dir, `f${i}${i % 7 === 0 ? '-é' : ''}${'x'.repeat(i % 13)}`);
    fs.writeFileSync(f, String(i));
    const s = fs.statSync(f);
    files.add(f, s.size, s.mtimeMs, s.ctimeMs, s.ino);
    names.push(f);
  }
  files.add(path.join(dir, 'never-there'), undefined);
  return { files, names };
}

test('more files than a chunk and than the first stats array: every one is checked', () => {
  const dir = tmp('b-snapfiles-');
  fs.mkdirSync(path.join(dir, '.b'));
  const { files, names } = record(dir, 10_000); // 3 name chunks, the stats array grown twice
  assert.is(files.count, 10_001);
  writeSnapshot(dir, header(dir), files);
  const h = checkSnapshot(dir, 'build.ninja', [], {});
  assert.type(h, 'object', String(h));
  assert.is((h as SnapshotHeader).count, 10_001);
  // The last name of a middle chunk and the first of the next, changed: each is found.
  for (const i of [4095, 4096, 9999]) {
    const f = names[i]!;
    const before = fs.statSync(f);
    fs.writeFileSync(f, 'changed!');
    assert.is(checkSnapshot(dir, 'build.ninja', [], {}), `${f} changed`);
    fs.writeFileSync(f, String(i));
    fs.utimesSync(f, before.atime, before.mtime);
    writeSnapshot(dir, header(dir), record(dir, 10_000).files);
  }
  fs.writeFileSync(path.join(dir, 'never-there'), '');
  assert.is(checkSnapshot(dir, 'build.ninja', [], {}), `${path.join(dir, 'never-there')} appeared`);
});

test('an empty list and a torn file', () => {
  const dir = tmp('b-snapfiles-');
  fs.mkdirSync(path.join(dir, '.b'));
  writeSnapshot(dir, header(dir), new SnapshotFiles());
  assert.type(checkSnapshot(dir, 'build.ninja', [], {}), 'object');
  writeSnapshot(dir, header(dir), record(dir, 50).files);
  const buf = fs.readFileSync(snapshotFile(dir));
  fs.writeFileSync(snapshotFile(dir), buf.subarray(0, buf.length - 40));
  assert.is(checkSnapshot(dir, 'build.ninja', [], {}), 'snapshot unreadable');
  assert.equal(fs.readdirSync(path.join(dir, '.b')), ['noop']); // no temp file left behind
});

test.run();
