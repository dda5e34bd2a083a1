// The upload queue (cache-upload.ts) over a fake pair of nodes, no processes: blobs before the
// result, each blob once per node, at most 4 uploads at once, a refusing node told once and then
// left alone, other failures summed as warnings, and `drain` waits for everything in flight.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite, tmp } from './helpers.ts';
import { Uploader } from '../src/cache-upload.ts';
import type { NodeAction, WorkItem } from '../src/messages.ts';

const test = suite('cache-upload-queue');

const action = (n: number): NodeAction => ({
  cmd: `cc -c s${n}.c -o s${n}.o`, cwd: '/w', base: '/w', inputs: [{ path: `/w/s${n}.c`, digest: 'a'.repeat(32) }], outputs: [`/w/s${n}.o`],
  depfile: '', deps: '', msvcPrefix: '', rspfile: '', rspfileContent: '', env: {},
});

test('blobs then the result, once per node; a refusing node is named once; drain waits for all', async () => {
  const dir = tmp('b-upq-');
  const blob = path.join(dir, 'blob');
  fs.writeFileSync(blob, 'object bytes');
  const calls: { node: string; k: string }[] = [];
  let inFlight = 0;
  let most = 0;
  const io = {
    nodes: () => ({ nodes: ['good', 'closed', 'flaky'], pending: false }),
    call: async (node: string, work: WorkItem): Promise<Buffer> => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      calls.push({ node, k: work.k });
      if (node === 'closed') throw Object.assign(new Error('client c may not write into the action cache of node closed'), { code: 'cache.writer' });
      if (node === 'flaky' && work.k === 'cache-put') throw new Error('node flaky did not answer');
      return Buffer.from(JSON.stringify({ stored: true }));
    },
  };
  const up = new Uploader(io);
  // Ten results sharing one output blob (the same digest): it goes to each node once.
  for (let i = 0; i < 10; i++) {
    up.enqueue({ tool: 'cc', action: action(i), result: { deps: [], outputs: [{ path: `\u0000C/s${i}.o`, digest: 'b'.repeat(32), size: 12, mode: 0o644 }], output: '' }, blob: () => blob });
  }
  const s = await up.drain();
  assert.is(s.results, 10, 'every result stored on the good node');
  assert.is(s.nodes, 1);
  assert.is(s.bytes, 24, 'the blob sent once to good and once to flaky');
  assert.is(calls.filter((c) => c.node === 'good' && c.k === 'cas-put').length, 1);
  assert.is(calls.filter((c) => c.node === 'good' && c.k === 'cache-put').length, 10);
  // Four uploads at once, each to three nodes.
  assert.ok(most <= 12, `at most 4 uploads in flight (${most} calls at once)`);
  assert.ok(calls.filter((c) => c.node === 'closed').length <= 4, 'the refusing node gets nothing once it refused');
  assert.is(s.warnings.filter((w) => w.includes('node closed refused')).length, 1);
  assert.match(s.warnings.find((w) => w.includes('node closed'))!, /b keygen --show.*--cache-writers/);
  assert.match(s.warnings.find((w) => w.includes('node flaky'))!, /^10 uploads into the action cache of node flaky failed/);
  assert.equal(await up.drain(), s, 'drain again: nothing more');
}, { timeout: 10_000 });

test('an output larger than one upload carries, or gone from the local cache: a warning, nothing stored', async () => {
  const io = { nodes: () => ({ nodes: ['n'], pending: false }), call: async (): Promise<Buffer> => Buffer.from(JSON.stringify({ stored: true })) };
  const up = new Uploader(io);
  up.enqueue({ tool: 'cc', action: action(1), result: { deps: [], outputs: [{ path: '\u0000C/s1.o', digest: 'c'.repeat(32), size: 64 << 20, mode: 0o644 }], output: '' }, blob: () => undefined });
  up.enqueue({ tool: 'cc', action: action(2), result: { deps: [], outputs: [{ path: '\u0000C/s2.o', digest: 'd'.repeat(32), size: 3, mode: 0o644 }], output: '' }, blob: () => undefined });
  const s = await up.drain();
  assert.is(s.results, 0);
  assert.match(s.warnings[0] ?? '', /2 uploads into the action cache of node n failed \(first: output s1\.o is \d+ bytes, more than one upload carries/);
}, { timeout: 10_000 });

test.run();
