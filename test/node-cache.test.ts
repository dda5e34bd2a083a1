// A node's action cache (node-cache.ts) and the client's lookup (node-cache-client.ts) without
// processes: keys computed from what ran, what is and is not recorded, damaged blobs, uploads,
// and a client that fetches from a lying node.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { suite, tmp } from './helpers.ts';

const cacheHome = tmp('b-node-cache-');
process.env.B_CACHE_DIR = cacheHome;

const { nodeKey, recordRexec, cacheLookup, cachePut, casPut, actionOfRexec } = await import('../src/node-cache.ts');
const { lookupOnNodes, nodeAction } = await import('../src/node-cache-client.ts');
const { nodeCas } = await import('../src/rexec.ts');
const { isolation } = await import('../src/sandbox.ts');
const { fetchVerified } = await import('../src/remote-output.ts');
const { parseWork } = await import('../src/messages.ts');
type RexecWork = import('../src/messages.ts').RexecWork;
type RexecResult = import('../src/messages.ts').RexecResult;
type NodeAction = import('../src/messages.ts').NodeAction;
type NodeCacheIo = import('../src/node-cache-client.ts').NodeCacheIo;

const test = suite('node-cache');

const hex = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex').slice(0, 32);
const SRC = 'int a(void) { return 1; }\n';
const HDR = '#define A 1\n';

/** A self-contained compile as a client in `tree` sends it (base: the checkout). */
function work(tree: string, over: Partial<RexecWork> = {}): RexecWork {
  return {
    k: 'rexec', cmd: `cc -O2 -c ${tree}/src/a.c -o ${tree}/b/a.o`, cwd: `${tree}/b`, roots: [tree],
    inputs: [{ path: `${tree}/src/a.c`, digest: hex(SRC), size: SRC.length, exec: false }, { path: `${tree}/src/a.h`, digest: hex(HDR), size: HDR.length, exec: false }],
    outputs: [`${tree}/b/a.o`], depfile: '', deps: '', msvcPrefix: '', rspfile: '', rspfileContent: '', prefixMap: true,
    cache: { base: tree, declared: [`${tree}/src/a.c`], env: {} },
    ...over,
  };
}

/** What the node would return for it, its output stored in the node's blob store. */
function ran(tree: string, object: string, over: Partial<RexecResult> = {}): RexecResult {
  const f = path.join(cacheHome, `obj-${Math.random()}`);
  fs.writeFileSync(f, object);
  const put = nodeCas().putFile(f);
  return { exit: 0, output: 'warning: x', outputs: [{ path: `${tree}/b/a.o`, digest: put.hex, size: put.size, mode: 0o644 }], deps: [`${tree}/src/a.c`, `${tree}/src/a.h`], fetched: 0, ms: 1, ...over };
}

function lookupOf(tree: string, over: Partial<NodeAction> = {}): { k: 'cache-lookup'; action: NodeAction } {
  return { k: 'cache-lookup', action: { ...actionOfRexec(work(tree))!, ...over } };
}

const isolated = isolation().kind === 'namespaces';

test('a node keys an action by what it runs: same in another checkout, different for a flag, an input, the environment', async () => {
  const digests = new Map<string, string>();
  const k1 = await nodeKey(actionOfRexec(work('/w/one'))!, digests);
  const k2 = await nodeKey(actionOfRexec(work('/home/me/two'))!, digests);
  assert.ok(k1 !== undefined && /^[0-9a-f]{32}$/.test(k1));
  assert.is(k1, k2, 'the same compile in another checkout');
  const other = async (w: RexecWork): Promise<string | undefined> => nodeKey(actionOfRexec(w)!, digests);
  assert.is.not(await other(work('/w/one', { cmd: 'cc -O3 -c /w/one/src/a.c -o /w/one/b/a.o' })), k1, 'a flag');
  assert.is.not(await other(work('/w/one', { cache: { base: '/w/one', declared: ['/w/one/src/a.c'], env: { LANG: 'de_DE.UTF-8' } } })), k1, 'a declared variable');
  const changed = work('/w/one');
  changed.inputs[0] = { ...changed.inputs[0]!, digest: hex('int a(void) { return 2; }\n') };
  assert.is.not(await other(changed), k1, 'the source');
  // A program inside the tree (a wrapper) is keyed by the content shipped for it; unshipped, not at all.
  const wrapped = { ...actionOfRexec(work('/w/one'))!, cmd: '/w/one/tools/cc -c /w/one/src/a.c -o /w/one/b/a.o' };
  assert.is(await nodeKey(wrapped, new Map()), undefined);
  const kw = await nodeKey(wrapped, new Map([['/w/one/tools/cc', hex('v1')]]));
  assert.ok(kw !== undefined && kw !== (await nodeKey(wrapped, new Map([['/w/one/tools/cc', hex('v2')]]))));
  // A declared input that was not shipped: the item stands for no action (nothing is recorded).
  assert.is(actionOfRexec(work('/w/one', { cache: { base: '/w/one', declared: ['/w/one/src/other.c'], env: {} } })), undefined);
});

test('a result is recorded only when it can be checked later, and served to another checkout with its dependencies', async () => {
  assert.is(await recordRexec(work('/w/one'), ran('/w/one', 'OBJ-1')), isolated, `recorded iff commands run isolated here (${isolation().text})`);
  if (!isolated) {
    assert.equal((await cacheLookup(lookupOf('/w/two'))).results, [], 'unisolated: nothing recorded, nothing served');
    return;
  }
  const r = await cacheLookup(lookupOf('/w/two'));
  assert.is(r.results.length, 1);
  const res = r.results[0]!;
  assert.equal(res.deps, [['\u0000B/src/a.c', hex(SRC)], ['\u0000B/src/a.h', hex(HDR)]], 'paths relative to the base, with the shipped digests');
  assert.equal(res.outputs.map((o) => [o.path, o.size]), [['\u0000C/a.o', 5]]);
  assert.is(res.output, 'warning: x');
  // Never recorded: a failure, a missing output, a dependency that was never shipped, no cache info.
  const t3 = '/w/three';
  assert.not.ok(await recordRexec(work(t3), ran(t3, 'X', { exit: 1 })));
  assert.not.ok(await recordRexec(work(t3), ran(t3, 'X', { outputs: [{ path: `${t3}/b/a.o`, digest: null, size: 0, mode: 0 }] })));
  assert.not.ok(await recordRexec(work(t3), ran(t3, 'X', { deps: [`${t3}/src/a.c`, `${t3}/src/unshipped.h`] })));
  const { cache: _c, ...plain } = work(t3);
  assert.not.ok(await recordRexec(plain, ran(t3, 'X')));
  assert.equal((await cacheLookup(lookupOf('/w/four', { cmd: 'cc -O2 -c /w/four/src/a.c -o /w/four/b/a.o -DX' }))).results, [], 'another command: no result');
});

test('a damaged blob in the node\'s store makes its result a miss, and the result is dropped', async () => {
  if (!isolated) return;
  const t = '/w/damaged';
  const w = work(t, { cmd: `cc -O1 -c ${t}/src/a.c -o ${t}/b/a.o` });
  const r = ran(t, 'OBJ-DAMAGED');
  assert.ok(await recordRexec(w, r));
  const lookup = { k: 'cache-lookup' as const, action: actionOfRexec(w)! };
  assert.is((await cacheLookup(lookup)).results.length, 1);
  fs.writeFileSync(nodeCas().pathOf(r.outputs[0]!.digest!), 'OBJ-EVIL!!!');
  assert.equal((await cacheLookup(lookup)).results, [], 'damaged: not served');
  assert.not.ok(fs.existsSync(nodeCas().pathOf(r.outputs[0]!.digest!)), 'the damaged blob is removed');
  fs.writeFileSync(nodeCas().pathOf(r.outputs[0]!.digest!), 'OBJ-DAMAGED');
  assert.equal((await cacheLookup(lookup)).results, [], 'the entry went with it');
});

test('uploads: a blob must hash to its name; a result naming a blob the node lacks is not stored', async () => {
  const data = Buffer.from('uploaded object');
  assert.throws(() => casPut({ k: 'cas-put', digest: hex('something else'), data: data.toString('base64') }), /does not match its digest/);
  assert.not.ok(nodeCas().has(hex('something else')));
  assert.equal(casPut({ k: 'cas-put', digest: hex(data), data: data.toString('base64') }), { stored: true });
  const action = { ...actionOfRexec(work('/w/up'))!, cmd: 'cc -Os -c /w/up/src/a.c -o /w/up/b/a.o' };
  const result = { deps: [] as [string, string][], outputs: [{ path: '\u0000C/a.o', digest: hex('never uploaded'), size: 14, mode: 0o644 }], output: '' };
  assert.equal(await cachePut({ k: 'cache-put', action, result }), { stored: false });
  assert.equal((await cacheLookup({ k: 'cache-lookup', action })).results, []);
  result.outputs[0] = { path: '\u0000C/a.o', digest: hex(data), size: data.length, mode: 0o644 };
  assert.equal(await cachePut({ k: 'cache-put', action, result }), { stored: true });
  assert.is((await cacheLookup({ k: 'cache-lookup', action: { ...action, cwd: '/other/b', base: '/other', cmd: 'cc -Os -c /other/src/a.c -o /other/b/a.o', inputs: action.inputs.map((i) => ({ ...i, path: i.path.replace('/w/up', '/other') })), outputs: ['/other/b/a.o'] } })).results.length, 1);
});

test('a link is recorded with the system files its linker read, and never from an upload', async () => {
  if (!isolated) return;
  const t = '/w/link';
  const obj = 'OBJ-M';
  const w: RexecWork = {
    k: 'rexec', cmd: ': && cc -z noexecstack m.o -o prog && :', cwd: t, roots: [t], inputs: [{ path: `${t}/m.o`, digest: hex(obj), size: obj.length, exec: false }],
    outputs: [`${t}/prog`], depfile: '', deps: '', msvcPrefix: '', rspfile: '', rspfileContent: '', prefixMap: false, link: true,
    cache: { base: t, declared: [`${t}/m.o`], env: {} },
  };
  const f = path.join(cacheHome, 'prog');
  fs.writeFileSync(f, 'PROGRAM');
  const put = nodeCas().putFile(f);
  const libc = '/usr/lib/x86_64-linux-gnu/libc_nonshared.a';
  const sys = fs.existsSync(libc) ? libc : '/bin/sh';
  const r: RexecResult = { exit: 0, output: '', outputs: [{ path: `${t}/prog`, digest: put.hex, size: put.size, mode: 0o755 }], deps: [`${t}/m.o`, sys], depDigests: [hex(obj), hex(fs.readFileSync(sys))], fetched: 0, ms: 1 };
  assert.ok(await recordRexec(w, r));
  const action = actionOfRexec(w)!;
  const got = await cacheLookup({ k: 'cache-lookup', action });
  assert.equal(got.results[0]?.deps, [['\u0000C/m.o', hex(obj)], [sys, hex(fs.readFileSync(sys))]], 'a lookup compares the system file with the client\'s');
  // The same link with a linker that did not say what it read: not recorded.
  assert.not.ok(await recordRexec({ ...w, cmd: ': && cc -z noexecstack m.o -o prog -O1 && :' }, { ...r, deps: [`${t}/m.o`, `${t}/unshipped.so`], depDigests: [hex(obj), null] }));
  const result = { deps: [] as [string, string][], outputs: [{ path: '\u0000C/prog', digest: put.hex, size: put.size, mode: 0o755 }], output: '' };
  assert.equal(await cachePut({ k: 'cache-put', action: { ...action, cmd: ': && cc -O2 m.o -o prog && :' }, result }), { stored: false }, 'an uploaded link names no system file');
});

test('messages: cache items are validated like every work item', () => {
  const ok = parseWork(Buffer.from(JSON.stringify(lookupOf('/w/one'))));
  assert.is((ok as { k?: string }).k, 'cache-lookup');
  for (const bad of [
    { ...lookupOf('/w/one'), extra: 1 },
    { k: 'cache-lookup', action: { ...lookupOf('/w/one').action, inputs: [{ path: '/x', digest: 'zz' }] } },
    { k: 'cas-put', digest: hex('x'), data: 'not base64!' },
    { k: 'cache-put', action: lookupOf('/w/one').action, result: { deps: [['a', 'b', 'c']], outputs: [], output: '' } },
  ]) {
    const r = parseWork(Buffer.from(JSON.stringify(bad)));
    assert.ok('error' in r, `refused: ${JSON.stringify(bad).slice(0, 80)}`);
  }
  assert.ok('error' in parseWork(Buffer.from('{"k":"cache-lookup","action":{},"action":{}}')), 'duplicate keys');
});

/** A fake node for the client's lookup: its results, and the bytes it serves for each blob. */
function fakeIo(results: unknown[], blobs: Map<string, Buffer>): NodeCacheIo & { fetched: string[] } {
  const fetched: string[] = [];
  return {
    fetched,
    nodes: () => ({ nodes: ['n1'], pending: false }),
    call: async () => Buffer.from(JSON.stringify({ results })),
    fetch: async (node, h, size, dest) => {
      fetched.push(h);
      await fetchVerified(node, h, size, dest, async (off, len) => (blobs.get(h) ?? Buffer.alloc(0)).subarray(off, off + len));
    },
  };
}

test('the client: a hit only when every dependency matches here; a blob that fails verification is a miss and nothing is written', async () => {
  const tree = tmp('b-node-lookup-');
  fs.mkdirSync(path.join(tree, 'b'));
  const action = nodeAction({
    cmd: 'cc -c ../src/a.c -o a.o', root: path.join(tree, 'b'), base: tree, inputs: [{ path: path.join(tree, 'src/a.c'), digest: hex(SRC) }],
    outputs: ['a.o', 'a.lst'], depfile: '', deps: '', msvcPrefix: '', rspfile: '', rspfileContent: '', env: {},
  });
  const obj = Buffer.from('GOOD OBJECT');
  const lst = Buffer.from('listing');
  const result = (objHex: string) => ({
    deps: [['\u0000B/src/a.h', hex(HDR)]],
    outputs: [{ path: '\u0000C/a.o', digest: objHex, size: obj.length, mode: 0o644 }, { path: '\u0000C/a.lst', digest: hex(lst), size: lst.length, mode: 0o600 }],
    output: 'note',
  });
  const headerNow = { value: hex(HDR) as string | undefined };
  const opts = { tool: 'cc', current: async (deps: string[]) => deps.map((d) => (d === path.join(tree, 'src/a.h') ? headerNow.value : undefined)), destination: (p: string) => p };
  const listing = (): string[] => fs.readdirSync(path.join(tree, 'b')).sort();
  // The node serves other bytes than the digest it named for the first output.
  const lying = fakeIo([result(hex(obj))], new Map([[hex(obj), Buffer.from('EVIL OBJECT')], [hex(lst), lst]]));
  assert.is(await lookupOnNodes(lying, action, opts), undefined, 'a poisoned blob is a miss');
  assert.equal(listing(), [], 'nothing written, no temp file left');
  // A header that differs here: not even fetched.
  headerNow.value = hex('#define A 2\n');
  const honest = fakeIo([result(hex(obj))], new Map([[hex(obj), obj], [hex(lst), lst]]));
  assert.is(await lookupOnNodes(honest, action, opts), undefined);
  assert.equal(honest.fetched, []);
  // Outputs that are not exactly the declared ones: a miss.
  headerNow.value = hex(HDR);
  const swapped = fakeIo([{ ...result(hex(obj)), outputs: [...result(hex(obj)).outputs].reverse() }], new Map([[hex(obj), obj], [hex(lst), lst]]));
  assert.is(await lookupOnNodes(swapped, action, opts), undefined);
  const hit = await lookupOnNodes(honest, action, opts);
  assert.ok(hit !== undefined);
  assert.is(hit.node, 'n1');
  assert.is(hit.bytes, obj.length + lst.length);
  assert.equal(hit.deps, [path.join(tree, 'src/a.h')]);
  assert.equal(listing(), ['a.lst', 'a.o']);
  assert.is(fs.readFileSync(path.join(tree, 'b/a.o'), 'utf8'), 'GOOD OBJECT');
  assert.is(fs.statSync(path.join(tree, 'b/a.lst')).mode & 0o777, 0o600);
});

test('the client: outputs and dependencies named after absolute paths (CMake\'s out-of-tree objects) map to this checkout', async () => {
  const tree = tmp('b-node-lookup-cmake-');
  const root = path.join(tree, 'R');
  const obj = `CMakeFiles/x.dir${tree}/src/a.c.o`;
  fs.mkdirSync(path.dirname(path.join(root, obj)), { recursive: true });
  const action = nodeAction({
    cmd: `cc -c ${tree}/src/a.c -o ${obj}`, root, base: tree, inputs: [{ path: path.join(tree, 'src/a.c'), digest: hex(SRC) }],
    outputs: [obj], depfile: '', deps: '', msvcPrefix: '', rspfile: '', rspfileContent: '', env: {},
  });
  const bytes = Buffer.from('OBJECT');
  // As a node that ran it in /elsewhere recorded it: both directories as markers.
  const io = fakeIo([{ deps: [['\u0000B/src/gen/\u0000B.h', hex(HDR)]], outputs: [{ path: '\u0000C/CMakeFiles/x.dir\u0000B/src/a.c.o', digest: hex(bytes), size: bytes.length, mode: 0o644 }], output: '' }], new Map([[hex(bytes), bytes]]));
  const asked: string[][] = [];
  const hit = await lookupOnNodes(io, action, { tool: 'cc', current: async (deps) => (asked.push(deps), deps.map(() => hex(HDR))), destination: (p) => p });
  assert.ok(hit !== undefined);
  assert.equal(asked, [[`${tree}/src/gen/${tree}.h`]]);
  assert.is(fs.readFileSync(path.join(root, obj), 'utf8'), 'OBJECT');
});

test.run();
