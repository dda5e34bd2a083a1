// The build database's records read back exactly as written (database.ts decodes them without
// Buffer.toString and readDoubleLE: this pins the hand-written reads), and a record that passed
// its checksum but lies about its length is no trace rather than a misread one. Pure: a journal
// in a temp dir, no build.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Database, type FileState, type Trace } from '../src/database.ts';
import { digest } from '../src/hash.ts';
import { suite, tmp } from './helpers.ts';

const test = suite('database');

function trace(action: string, deps: number): Trace {
  const group = (g: number): { key: string; hash: string }[] =>
    Array.from({ length: deps }, (_, i) => ({ key: `dir/é${g}-${i}.h`, hash: digest(`${action} ${g} ${i}`) }));
  return { action, fingerprint: 0x1234_5678_9abc, deps: [group(0), group(1), []], outputs: [action, `${action}.d`], value: '{"v":"ü"}', ms: 12.5, extra: 'x'.repeat(300) };
}

test('traces and file states read back as written, across a reopen', () => {
  const file = path.join(tmp('b-db-'), 'db');
  const st: FileState = { size: 2 ** 40 + 3, mtime: 1_796_317_617_150.777, ctime: -0.5, ino: 2 ** 52 - 1, digest: digest('a'), racy: true };
  const traces = [trace('out/a.o', 40), trace('out/b.o', 0), { ...trace('c', 1), value: undefined, deps: [] }];
  {
    const { db } = Database.open(file, 'test');
    db.putFile('src/a.c', st);
    for (const t of traces) db.putTrace(t);
    db.close();
  }
  const { db, reset } = Database.open(file, 'test');
  assert.is(reset, undefined);
  assert.equal(db.getFile('src/a.c'), st);
  for (const t of traces) assert.equal(db.getTrace(t.action), t);
  db.close();
});

test('a trace record whose group runs past its end is no trace (the action runs), and the rest still loads', () => {
  const file = path.join(tmp('b-db-'), 'db');
  {
    const { db } = Database.open(file, 'test');
    db.putTrace(trace('good', 3));
    db.putTrace(trace('bad', 3));
    db.close();
  }
  // Rewrite the second trace's first group count to claim more dependencies than the record
  // holds, with a checksum that matches (as a buggy writer would leave it).
  const buf = fs.readFileSync(file);
  const name = Buffer.from('bad');
  const at = buf.indexOf(Buffer.concat([Buffer.from([3, 0, 0, 0]), name]));
  assert.ok(at > 0);
  const groups = at + 4 + name.length + 16; // after the action, the fingerprint and ms
  buf.writeUInt32LE(1000, groups + 4);
  const start = at - 1 - 8; // the record's frame: u32 length, u32 crc, then the 'T'
  const len = buf.readUInt32LE(start);
  buf.writeUInt32LE(zlib.crc32(buf.subarray(start + 8, start + 8 + len)) >>> 0, start + 4);
  fs.writeFileSync(file, buf);
  const { db } = Database.open(file, 'test');
  assert.equal(db.getTrace('good'), trace('good', 3));
  assert.is(db.getTrace('bad'), undefined);
  db.close();
});

test('a torn last record is dropped and the journal cut back to the records before it', () => {
  const file = path.join(tmp('b-db-'), 'db');
  {
    const { db } = Database.open(file, 'test');
    db.putTrace(trace('first', 2));
    db.flush();
    db.putTrace(trace('torn', 2));
    db.close();
  }
  const whole = fs.statSync(file).size;
  fs.truncateSync(file, whole - 5); // the last record's last bytes never reached the disk
  const { db, dropped } = Database.open(file, 'test');
  assert.equal(db.getTrace('first'), trace('first', 2));
  assert.is(db.getTrace('torn'), undefined);
  assert.ok(dropped > 0 && dropped < whole);
  db.close();
  assert.is(fs.statSync(file).size, whole - 5 - dropped);
});

test.run();
