// Outputs a node sends inline in a rexec result (RexecOutput.data): verified exactly as fetched
// ones, never written on a mismatch, and they save the client's cas-get. The node is a fake: the
// results are built by hand, as a hostile node could send them.

import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite, tmp } from './helpers.ts';
import { digest, digestHex } from '../src/hash.ts';
import { INLINE_OUTPUT_MAX, INLINE_RESULT_MAX, parseResult, type RexecOutput, type RexecResult } from '../src/messages.ts';
import { placeOutputs } from '../src/remote-output.ts';
import { remoteResult, RunFailure } from '../src/bfile-farm.ts';
import { isProtocolError } from '../src/protocol.ts';
import type { PlannedRun, RuleFacts } from '../src/bfile-action.ts';

const test = suite('inline-output');

const hexOf = (b: Buffer): string => digestHex(digest(b));
const rec = (abs: string, b: Buffer, over: Partial<RexecOutput> = {}): RexecOutput => ({ path: abs, digest: hexOf(b), size: b.length, mode: 0o644, data: b.toString('base64'), ...over });

/** A fetch that counts its calls (each is one cas-get round trip or more) and serves `blobs`. */
function counting(blobs: Map<string, Buffer> = new Map()): { calls: number; fetch: (hex: string, size: number, dest: string) => Promise<void> } {
  const c = {
    calls: 0,
    fetch: async (hex: string, _size: number, dest: string): Promise<void> => {
      c.calls++;
      const b = blobs.get(hex);
      if (b === undefined) throw new Error(`no blob ${hex}`);
      fs.writeFileSync(dest, b, { flag: 'wx' });
    },
  };
  return c;
}

/** The directory's entries: a refused output leaves neither itself nor a temp file. */
const entries = (dir: string): string[] => fs.readdirSync(dir).sort();

test('an inline output is placed without any fetch; the same output without data costs one', async () => {
  const root = tmp();
  const obj = Buffer.from('object bytes\n'.repeat(100));
  const f = counting(new Map([[hexOf(obj), obj]]));
  const got = await placeOutputs(root, 'a.o', ['a.o'], [rec(path.join(root, 'a.o'), obj)], f.fetch);
  assert.ok('outs' in got, JSON.stringify(got));
  assert.is(f.calls, 0, 'no cas-get for an inline output');
  assert.ok(fs.readFileSync(path.join(root, 'a.o')).equals(obj));
  assert.is(got.received, obj.length);
  const { data: _, ...plain } = rec(path.join(root, 'b.o'), obj);
  const got2 = await placeOutputs(root, 'b.o', ['b.o'], [plain], f.fetch);
  assert.ok('outs' in got2);
  assert.is(f.calls, 1, 'an output without data is fetched');
  assert.equal(entries(root), ['a.o', 'b.o']);
});

test('an inline output gets the mode the node announced, as a fetched one does', async () => {
  const root = tmp();
  const obj = Buffer.from('#!/bin/sh\necho hi\n');
  const got = await placeOutputs(root, 'r', ['run.sh', 'data.o'], [rec(path.join(root, 'run.sh'), obj, { mode: 0o755 }), rec(path.join(root, 'data.o'), obj, { mode: 0o640 })], counting().fetch);
  assert.ok('outs' in got);
  assert.is(fs.statSync(path.join(root, 'run.sh')).mode & 0o777, 0o755);
  assert.is(fs.statSync(path.join(root, 'data.o')).mode & 0o777, 0o640);
  assert.equal(fs.readFileSync(path.join(root, 'run.sh')), obj);
});

test('inline data whose digest is wrong is refused and nothing is written', async () => {
  const root = tmp();
  const obj = Buffer.from('real object');
  const f = counting();
  const got = await placeOutputs(root, 'a.o', ['a.o'], [rec(path.join(root, 'a.o'), obj, { digest: hexOf(Buffer.from('other')) })], f.fetch);
  assert.ok(!('outs' in got));
  assert.is(got.code, 'remote.fetch');
  assert.match(got.message, /other bytes than it claimed/);
  assert.equal(entries(root), []);
});

test('inline data whose size is not the announced one is refused and nothing is written', async () => {
  const root = tmp();
  const obj = Buffer.from('real object');
  for (const size of [obj.length - 1, obj.length + 1, 0]) {
    const got = await placeOutputs(root, 'a.o', ['a.o'], [rec(path.join(root, 'a.o'), obj, { size })], counting().fetch);
    assert.ok(!('outs' in got), `size ${size}`);
    assert.match(got.message, /announced/);
    assert.equal(entries(root), []);
  }
});

test('inline data over the caps is refused: by the decoder, per output and per result', async () => {
  const big = Buffer.alloc(INLINE_OUTPUT_MAX + 3, 7);
  const result = (outputs: RexecOutput[]): Buffer => Buffer.from(JSON.stringify({ exit: 0, output: '', outputs, deps: [], fetched: 0, ms: 1 } satisfies RexecResult));
  const r = parseResult('rexec', result([rec('/p/a.o', big)]));
  assert.ok(isProtocolError(r), 'an inline output over INLINE_OUTPUT_MAX does not decode');
  assert.ok(isProtocolError(parseResult('rexec', result([rec('/p/a.o', Buffer.from('x'), { data: 'not base64!' })]))), 'data must be base64');
  assert.ok(!isProtocolError(parseResult('rexec', result([rec('/p/a.o', Buffer.alloc(INLINE_OUTPUT_MAX, 1))]))), 'at the cap it decodes');
  // Within each output's cap but more than INLINE_RESULT_MAX in all: the client refuses the result.
  const root = tmp();
  const part = Buffer.alloc(INLINE_OUTPUT_MAX, 2);
  const n = Math.floor(INLINE_RESULT_MAX / INLINE_OUTPUT_MAX) + 1;
  const names = Array.from({ length: n }, (_, i) => `o${i}`);
  const recs = names.map((o, i) => rec(path.join(root, o), Buffer.concat([part.subarray(1), Buffer.from([i])])));
  const f = counting();
  const got = await placeOutputs(root, 'o0', names, recs, f.fetch);
  assert.ok(!('outs' in got));
  assert.match(got.message, /inline in one result/);
  assert.equal(entries(root), []);
  assert.is(f.calls, 0);
});

test('an inline output outside the build root or not declared is never written', async () => {
  const world = tmp();
  const root = path.join(world, 'root');
  fs.mkdirSync(root);
  const evil = Buffer.from('#!/bin/sh\necho owned\n');
  const got = await placeOutputs(root, 'x', ['../escape'], [rec(path.join(world, 'escape'), evil)], counting().fetch);
  assert.ok(!('outs' in got));
  assert.is(got.code, 'remote.output');
  assert.equal(entries(world), ['root']);
  // A record for a path the action did not declare is ignored, inline data or not.
  const got2 = await placeOutputs(root, 'a.o', ['a.o'], [rec(path.join(root, 'a.o'), Buffer.from('ok')), rec(path.join(root, 'extra'), evil)], counting().fetch);
  assert.ok('outs' in got2);
  assert.equal(entries(root), ['a.o']);
  // Through a symlink out of the root.
  fs.mkdirSync(path.join(world, 'outside'));
  fs.symlinkSync(path.join(world, 'outside'), path.join(root, 'link'));
  const got3 = await placeOutputs(root, 'link/a.o', ['link/a.o'], [rec(path.join(root, 'link', 'a.o'), evil)], counting().fetch);
  assert.ok(!('outs' in got3));
  assert.equal(entries(path.join(world, 'outside')), []);
});

// The Bfile path (bfile-farm.ts remoteResult): the same checks on a run()'s outputs.
function bfileCase(root: string, outputs: RexecOutput[]): { payload: Buffer; plan: PlannedRun; facts: RuleFacts } {
  const r: RexecResult = { exit: 0, output: '', outputs, deps: [], fetched: 0, ms: 1, stdout: '' };
  const plan = { text: 'cp in out', shell: 'cp in out', programs: ['cp'], outputs: ['out'], depfile: '' } as unknown as PlannedRun;
  const facts: RuleFacts = { root, kind: 'file', outs: ['out'], needed: [], lastDeps: undefined };
  return { payload: Buffer.from(JSON.stringify(r)), plan, facts };
}

test('bfile run(): an inline output is placed with no fetch; a wrong digest or size is refused, nothing written', async () => {
  const root = tmp();
  const body = Buffer.from('rule output');
  const ok = bfileCase(root, [rec(path.join(root, 'out'), body)]);
  const f = counting();
  const done = await remoteResult(ok.payload, ok.plan, ok.facts, [], f.fetch);
  assert.ok(!(done instanceof RunFailure), String(done));
  assert.is(f.calls, 0);
  assert.ok(fs.readFileSync(path.join(root, 'out')).equals(body));
  fs.rmSync(path.join(root, 'out'));
  for (const over of [{ digest: hexOf(Buffer.from('nope')) }, { size: body.length + 5 }]) {
    const bad = bfileCase(root, [rec(path.join(root, 'out'), body, over)]);
    const d = await remoteResult(bad.payload, bad.plan, bad.facts, [], counting().fetch);
    assert.ok(d instanceof RunFailure, JSON.stringify(over));
    assert.is(d.failure.code, 'remote.fetch');
    assert.equal(entries(root), []);
  }
});

test.run();
