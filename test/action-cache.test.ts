// The action cache's store (action-cache.ts) without a build: entries, blobs, restore through
// the digest, dead writers' temp files, and least-recently-used eviction.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { suite, tmp } from './helpers.ts';
import { ActionCache } from '../src/action-cache.ts';
import { writeFileAtomic } from '../src/cachedir.ts';
import { withResult } from '../src/action-key.ts';
import { decodeToolDigests, MAX_TOOL_DIGESTS, programDigest, statId, withToolDigest } from '../src/action-env.ts';
import { digestFile, digestHex } from '../src/hash.ts';

const test = suite('action-cache');

const KEY = 'ab'.repeat(16);

function entryFor(key: string, hex: string, size: number) {
  return withResult(undefined, key, { deps: [], outputs: [{ path: 'o', digest: hex, size, mode: 0o755 }], output: '', t: 1 });
}

test('an entry is written without fsync (its reader verifies it); other atomic writes still sync', () => {
  const dir = tmp('b-ac-sync-');
  const c = new ActionCache(path.join(dir, 'cache'), 1 << 30);
  const src = path.join(dir, 'out.bin');
  fs.writeFileSync(src, 'hello');
  const { hex, size } = c.store(src);
  const cjsFs = createRequire(import.meta.url)('node:fs') as typeof fs;
  const real = cjsFs.fsyncSync;
  let syncs = 0;
  cjsFs.fsyncSync = (fd: number) => {
    syncs++;
    real(fd);
  };
  syncBuiltinESMExports();
  try {
    c.write(entryFor(KEY, hex, size));
    assert.is(syncs, 0, 'no fsync for an action cache entry');
    assert.equal(c.read(KEY)?.results[0]?.outputs[0]?.digest, hex);
    writeFileAtomic(path.join(dir, 'durable'), 'x');
    assert.is(syncs, 1, 'a durable write syncs');
  } finally {
    cjsFs.fsyncSync = real;
    syncBuiltinESMExports();
  }
});

test('store, read, restore (mode kept, replaces the file), damaged blobs and entries', () => {
  const dir = tmp('b-ac-');
  const c = new ActionCache(path.join(dir, 'cache'), 1 << 30);
  const src = path.join(dir, 'out.bin');
  fs.writeFileSync(src, 'hello');
  const { hex, size } = c.store(src);
  assert.is(size, 5);
  c.write(entryFor(KEY, hex, size));
  assert.equal(c.read(KEY)?.results[0]?.outputs[0]?.digest, hex);
  const dest = path.join(dir, 'tree', 'sub', 'o');
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.writeFileSync(dest, 'old');
  assert.ok(c.restore(hex, dest, 0o755));
  assert.is(fs.readFileSync(dest, 'utf8'), 'hello');
  assert.is(fs.statSync(dest).mode & 0o777, 0o755);
  assert.equal(fs.readdirSync(path.dirname(dest)), ['o'], 'no temp file left');
  // Into a directory that is not there yet (a clean build tree), with a mode the umask would cut.
  const deep = path.join(dir, 'fresh', 'a', 'b', 'o');
  assert.ok(c.restore(hex, deep, 0o777));
  assert.is(fs.readFileSync(deep, 'utf8'), 'hello');
  assert.is(fs.statSync(deep).mode & 0o777, 0o777);
  // The blob's use is recorded (its mtime: least recently used blobs go first).
  const blob = path.join(c.dir, 'cas', hex.slice(0, 2), hex);
  fs.utimesSync(blob, 1_000_000, 1_000_000);
  assert.ok(c.restore(hex, dest, 0o755));
  assert.ok(fs.statSync(blob).mtimeMs > Date.now() - 60_000, 'a restore touches the blob');
  // A blob cut short (or grown) in the store: not restored, and gone.
  fs.writeFileSync(blob, 'hell');
  assert.not.ok(c.restore(hex, deep, 0o644));
  assert.is(fs.readFileSync(deep, 'utf8'), 'hello', 'the old file stays');
  assert.not.ok(fs.existsSync(blob));
  assert.not.ok(c.restore(hex, deep, 0o644), 'a missing blob is a miss');
  assert.equal(fs.readdirSync(path.dirname(deep)), ['o'], 'no temp file left');
  c.store(src);
  // A blob changed in the store: not restored, and gone.
  fs.writeFileSync(blob, 'HELLO');
  assert.not.ok(c.restore(hex, dest, 0o644));
  assert.is(fs.readFileSync(dest, 'utf8'), 'hello', 'the old file stays');
  assert.not.ok(fs.existsSync(blob));
  // A torn entry reads as nothing and is removed.
  const entry = path.join(c.dir, 'entries', KEY.slice(0, 2), `${KEY}.json`);
  fs.writeFileSync(entry, '{"v":1,"key":');
  assert.is(c.read(KEY), undefined);
  assert.not.ok(fs.existsSync(entry));
  assert.equal(c.stats().entries, 0);
});

test('temp files of dead writers go; least recently used go first over the bound', () => {
  const dir = tmp('b-ac-');
  const c = new ActionCache(path.join(dir, 'cache'), 10_000);
  const sub = path.join(c.dir, 'entries', 'ab');
  fs.mkdirSync(sub, { recursive: true });
  const dead = path.join(sub, `${KEY}.json.999999999.x.tmp`);
  const live = path.join(sub, `${KEY}.json.${process.pid}.y.tmp`);
  fs.writeFileSync(dead, 'half');
  fs.writeFileSync(live, 'half');
  c.stats();
  assert.not.ok(fs.existsSync(dead));
  assert.ok(fs.existsSync(live), 'a live writer keeps its temp file');
  fs.rmSync(live);
  const keys: string[] = [];
  for (let i = 0; i < 6; i++) {
    const f = path.join(dir, `f${i}`);
    fs.writeFileSync(f, String(i).repeat(3000));
    const { hex, size } = c.store(f);
    const key = `${i}`.repeat(32);
    c.write(entryFor(key, hex, size));
    // Ages, oldest first, except entry 0 which is used last.
    const t = new Date(Date.now() - (10 - i) * 60_000);
    for (const p of [path.join(c.dir, 'cas', hex.slice(0, 2), hex), path.join(c.dir, 'entries', key.slice(0, 2), `${key}.json`)]) fs.utimesSync(p, t, t);
    keys.push(key);
  }
  assert.ok(c.read(keys[0]!), 'a read counts as a use');
  const r = c.maintain();
  assert.ok(r.bytes <= 9000 && r.evicted > 0, JSON.stringify(r));
  assert.ok(c.read(keys[0]!), 'the recently used entry stays');
  assert.is(c.read(keys[1]!), undefined, 'the oldest unused entry went');
  c.clear();
  assert.equal(c.stats().entries + c.stats().blobs, 0);
});

test('programs\' byte digests: kept across builds for the same stat only, never when racy', () => {
  const dir = tmp('b-tools-');
  const prog = path.join(dir, 'tool');
  const memo = path.join(dir, 'tools.json');
  fs.writeFileSync(prog, '#!/bin/sh\necho one\n', { mode: 0o755 });
  fs.utimesSync(prog, 1_700_000_000, 1_700_000_000); // an old mtime: the ctime (now) still makes it racy
  const st1 = fs.statSync(prog);
  const real1 = digestHex(digestFile(prog));
  // Just written (inside the racy window): hashed, not remembered.
  assert.is(programDigest(prog, st1, memo), real1);
  assert.not.ok(fs.existsSync(memo), 'a racy program is not remembered');
  // Older than the window: remembered under its path and stat.
  assert.is(programDigest(prog, st1, memo, Date.now() + 3000), real1);
  assert.equal([...decodeToolDigests(fs.readFileSync(memo, 'utf8'))], [[statId(prog, st1), real1]]);
  // The memo is what answers for that stat (a planted digest comes back: no hash was taken).
  const planted = path.join(dir, 'planted.json');
  fs.writeFileSync(planted, JSON.stringify({ v: 1, tools: [[statId(prog, st1), 'f'.repeat(32)]] }));
  assert.is(programDigest(prog, st1, planted), 'f'.repeat(32));
  // Rewritten in place with the same size and its old mtime put back: the ctime moved, so the
  // stat is another one and the new bytes are hashed.
  fs.writeFileSync(prog, '#!/bin/sh\necho two\n');
  fs.utimesSync(prog, 1_700_000_000, 1_700_000_000);
  const st2 = fs.statSync(prog);
  assert.is(st2.size, st1.size);
  assert.is(st2.mtimeMs, st1.mtimeMs);
  assert.is.not(statId(prog, st2), statId(prog, st1));
  const real2 = digestHex(digestFile(prog));
  assert.is.not(real2, real1);
  assert.is(programDigest(prog, st2, planted, Date.now() + 3000), real2);
  // Strict decoding: anything malformed is an empty memo; the memo is bounded, newest kept.
  for (const bad of ['', '{', 'null', '{"v":2,"tools":[]}', '{"v":1,"tools":[["a","xyz"]]}', '{"v":1,"tools":[["a"]]}', '{"v":1}']) {
    assert.is(decodeToolDigests(bad).size, 0, bad);
  }
  let m = new Map<string, string>();
  for (let i = 0; i < MAX_TOOL_DIGESTS + 5; i++) m = withToolDigest(m, `p${i}`, 'a'.repeat(32));
  assert.is(m.size, MAX_TOOL_DIGESTS);
  assert.ok(m.has(`p${MAX_TOOL_DIGESTS + 4}`) && !m.has('p0'), 'the oldest goes first');
  m = withToolDigest(m, 'p5', 'b'.repeat(32));
  assert.is([...m.keys()].pop(), 'p5', 'a re-hashed program becomes the newest');
});

test.run();
