// Inline outputs (RexecOutput.data) past the client: a relaying node copies none of them (they
// travel in the result), and a node's action cache never keeps their bytes in an entry.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { suite, tmp } from './helpers.ts';

const cacheHome = tmp('b-inline-cache-');
process.env.B_CACHE_DIR = cacheHome;

const { recordRexec, cacheLookup, actionOfRexec } = await import('../src/node-cache.ts');
const { pullOutputs } = await import('../src/relay.ts');
const { nodeCas, runRexec } = await import('../src/rexec.ts');
const { INLINE_OUTPUT_MAX } = await import('../src/messages.ts');
type TaskContext = import('../src/task-context.ts').TaskContext;
const { isolation } = await import('../src/sandbox.ts');
type RexecWork = import('../src/messages.ts').RexecWork;
type RexecResult = import('../src/messages.ts').RexecResult;

const test = suite('inline-relay-cache');
const hex = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex').slice(0, 32);

test('a relay fetches the outputs that did not come inline, and only those', async () => {
  const small = Buffer.from('inline object');
  const far = Buffer.from('fetched object');
  const r: RexecResult = {
    exit: 0, output: '', deps: [], fetched: 0, ms: 1,
    outputs: [
      { path: '/p/a.o', digest: hex(small), size: small.length, mode: 0o644, data: small.toString('base64') },
      { path: '/p/b.o', digest: hex(far), size: far.length, mode: 0o644 },
    ],
  };
  const asked: string[] = [];
  const f = await pullOutputs('rexec', Buffer.from(JSON.stringify(r)), 'far', async (h, _size, dest) => {
    asked.push(h);
    fs.writeFileSync(dest, far, { flag: 'wx' });
  });
  assert.is(f, undefined);
  assert.equal(asked, [hex(far)], 'no copy of the inline output');
});

test('a node records a result with inline outputs without their bytes', async () => {
  const tree = '/w/inl';
  const SRC = 'int a(void) { return 1; }\n';
  const w: RexecWork = {
    k: 'rexec', cmd: `cc -c ${tree}/a.c -o ${tree}/a.o`, cwd: tree, roots: [tree], inputs: [{ path: `${tree}/a.c`, digest: hex(SRC), size: SRC.length, exec: false }],
    outputs: [`${tree}/a.o`], depfile: '', deps: '', msvcPrefix: '', rspfile: '', rspfileContent: '', prefixMap: true, inline: true,
    cache: { base: tree, declared: [`${tree}/a.c`], env: {} },
  };
  const obj = 'OBJECT-BYTES-THAT-MUST-NOT-BE-IN-THE-ENTRY';
  const f = path.join(cacheHome, 'obj');
  fs.writeFileSync(f, obj);
  const put = nodeCas().putFile(f);
  const r: RexecResult = { exit: 0, output: '', outputs: [{ path: `${tree}/a.o`, digest: put.hex, size: put.size, mode: 0o644, data: Buffer.from(obj).toString('base64') }], deps: [`${tree}/a.c`], fetched: 0, ms: 1 };
  const recorded = await recordRexec(w, r);
  if (isolation().kind !== 'namespaces') {
    assert.is(recorded, false);
    return;
  }
  assert.ok(recorded);
  const hit = await cacheLookup({ k: 'cache-lookup', action: actionOfRexec(w)! });
  assert.is(hit.results.length, 1);
  const out = hit.results[0]!.outputs;
  assert.is(out.length, 1);
  assert.equal(Object.keys(out[0]!).sort(), ['digest', 'mode', 'path', 'size'], 'no data in the served entry');
  assert.is(out[0]!.digest, put.hex);
  // And on disk: no entry file holds the bytes, in base64 or not.
  const b64 = Buffer.from(obj).toString('base64');
  const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]);
  for (const file of walk(cacheHome).filter((p) => !p.includes(`${path.sep}cas${path.sep}`) && p !== f)) {
    const text = fs.readFileSync(file, 'latin1');
    assert.ok(!text.includes(b64) && !text.includes(obj), `${file} holds the output's bytes`);
  }
});

test('a node sends outputs under the cap inline when asked, and only then', async () => {
  const tree = '/w/inl-run';
  const small = Buffer.from('small object\n'.repeat(10));
  const big = Buffer.alloc(INLINE_OUTPUT_MAX + 1, 9);
  const inputs = [['s.in', small], ['b.in', big]].map(([name, b]) => {
    const f = path.join(cacheHome, `in-${name as string}`);
    fs.writeFileSync(f, b as Buffer);
    const put = nodeCas().putFile(f);
    return { path: `${tree}/${name as string}`, digest: put.hex, size: put.size, exec: false };
  });
  const w: RexecWork = {
    k: 'rexec', cmd: `cp ${tree}/s.in ${tree}/s.o && cp ${tree}/b.in ${tree}/b.o`, cwd: tree, roots: [tree], inputs,
    outputs: [`${tree}/s.o`, `${tree}/b.o`], depfile: '', deps: '', msvcPrefix: '', rspfile: '', rspfileContent: '', prefixMap: false,
  };
  const ctx = {
    worker: 'test', task: 1, signal: new AbortController().signal, wait: <R>(p: Promise<R>): Promise<R> => p,
    submit: () => Promise.reject(new Error('no submit here')), need: () => Promise.reject(new Error('every input is in the store')),
  } satisfies TaskContext;
  const asked = await runRexec({ ...w, inline: true }, ctx);
  assert.is(asked.exit, 0, asked.output);
  const [s, b] = asked.outputs;
  assert.is(s!.data, small.toString('base64'), 'the small output inline');
  assert.is(b!.data, undefined, 'over INLINE_OUTPUT_MAX: fetched, not inline');
  assert.ok(b!.digest !== null && nodeCas().has(b!.digest) && nodeCas().has(s!.digest!), 'both still in the store');
  const plain = await runRexec(w, ctx);
  assert.ok(plain.outputs.every((o) => o.data === undefined), 'a client that did not ask gets no data (its decoder would refuse it)');
});

test.run();
