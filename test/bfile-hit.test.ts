// A Bfile run() hit answered by the rule's own worker (bfile-hit.ts): it hits only for the key
// the build host computes for the same call (inputs, flags, declared environment, program
// fingerprint, platform), restores verified outputs, and leaves everything it cannot know to the
// build host (an input only B's database knows, a result that lists headers, another cache
// directory, an uncacheable command). Then end to end: an all-hits build sends no NEED `run` per
// rule, and a changed input or a changed program misses there too.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { B, run, suite, tmp } from './helpers.ts';

const test = suite('bfile-hit');

const top = tmp('b-bhit-');
// The worker's cache is the process's own (cachedir.ts reads B_CACHE_DIR once): set it first.
process.env.B_CACHE_DIR = path.join(top, 'cache');
const { ActionCache } = await import('../src/action-cache.ts');
const { withResult } = await import('../src/action-key.ts');
const { planRun } = await import('../src/bfile-action.ts');
const { callOf, isFile, runKey, workerHit } = await import('../src/bfile-hit.ts');
const { cacheDir } = await import('../src/cachedir.ts');
const { digestFile, digestHex } = await import('../src/hash.ts');
type RunHitEnv = import('../src/messages.ts').RunHitEnv;

const root = path.join(top, 'p');
const bin = path.join(top, 'bin');
fs.mkdirSync(path.join(root, 'in'), { recursive: true });
fs.mkdirSync(path.join(root, 'out'), { recursive: true });
fs.mkdirSync(bin);
// A program of our own on PATH, so that the test can replace it (its fingerprint is its bytes).
const tool = path.join(bin, 'copy-tool');
fs.writeFileSync(tool, '#!/bin/sh\ncat "$1" > "$2"\n', { mode: 0o755 });
fs.writeFileSync(path.join(root, 'in', 'a.txt'), 'alpha\n');
const hexOf = (abs: string): string => digestHex(digestFile(abs));

let builds = 0;
const env = (over: Partial<RunHitEnv> = {}): RunHitEnv => ({
  dir: path.join(cacheDir(), 'actions'), base: root, env: { LANG: 'C' }, platform: 'linux-x64', path: bin, build: `t${builds++}`, ...over,
});
const req = { shell: 'copy-tool in/a.txt out/a.txt', cwd: root, outputs: ['out/a.txt'] };
const state = (digest = hexOf(path.join(root, 'in', 'a.txt'))): Parameters<typeof workerHit>[1] => ({ root, kind: 'file', outs: ['out/a.txt'], needed: [{ key: 'in/a.txt', digest }] });

/** Records a result for `req` as the build host would (same key function), with `deps` recorded. */
async function record(e: RunHitEnv, content: string, deps: [string, string][] = []): Promise<string> {
  const cache = new ActionCache(e.dir);
  const st = state();
  const facts = { ...st, lastDeps: [] };
  const call = callOf(req, root);
  const key = await runKey(planRun(call, facts, isFile), call, facts, e, () => undefined);
  assert.ok(key !== undefined, 'the call has a key');
  const src = path.join(top, 'result.txt');
  fs.writeFileSync(src, content);
  const blob = cache.store(src);
  cache.write(withResult(undefined, key, { deps, outputs: [{ path: 'out/a.txt', digest: blob.hex, size: blob.size, mode: 0o644 }], output: '', stdout: 'said\n', t: Date.now() }));
  return key;
}

const out = path.join(root, 'out', 'a.txt');

test('a recorded result for the same call is restored by the worker, verified, with its stdout', async () => {
  fs.rmSync(out, { force: true });
  await record(env(), 'from the cache\n');
  const hit = await workerHit(req, state(), env());
  assert.ok(hit !== undefined, 'a hit');
  assert.is(hit.stdout, 'said\n');
  assert.is(hit.bytes, 15);
  assert.is(fs.readFileSync(out, 'utf8'), 'from the cache\n');
});

test('a changed input, declared variable, platform or program misses; so does another cache directory', async () => {
  await record(env(), 'from the cache\n');
  assert.is(await workerHit(req, state('b'.repeat(32)), env()), undefined, 'an input with another digest (an edited or attacker-changed file)');
  assert.is(await workerHit(req, state(), env({ env: { LANG: 'de_DE' } })), undefined, 'another declared environment');
  assert.is(await workerHit(req, state(), env({ platform: 'linux-arm64' })), undefined, 'another platform');
  assert.is(await workerHit({ ...req, shell: 'copy-tool in/a.txt out/a.txt # -O2' }, state(), env()), undefined, 'another command line');
  assert.is(await workerHit(req, state(), env({ dir: path.join(top, 'elsewhere', 'actions') })), undefined, 'a directory that is not this thread\'s cache');
  // The program rewritten (another fingerprint): the old result is never served for it.
  fs.writeFileSync(tool, '#!/bin/sh\ncat "$1" > "$2"; echo v2 >/dev/null\n', { mode: 0o755 });
  assert.is(await workerHit(req, state(), env()), undefined, 'another program behind the same name');
  fs.writeFileSync(tool, '#!/bin/sh\ncat "$1" > "$2"\n', { mode: 0o755 });
  assert.ok(await workerHit(req, state(), env()) !== undefined, 'the original program hits again');
});

test('left to the build host: headers to check, an input only B\'s database knows, uncacheable commands', async () => {
  await record(env(), 'with headers\n', [['\u0000C/include/x.h', 'c'.repeat(32)]]);
  assert.is(await workerHit(req, state(), env()), undefined, 'a result that lists headers: the engine must need them');
  await record(env(), 'plain\n');
  fs.writeFileSync(path.join(root, 'in', 'b.txt'), 'beta\n');
  assert.is(await workerHit({ ...req, shell: 'copy-tool in/a.txt out/a.txt in/b.txt' }, state(), env()), undefined, 'in/b.txt was never needed: its digest is not the worker\'s to know');
  assert.is(await workerHit({ ...req, cache: false }, state(), env()), undefined, 'cache: false');
  assert.is(await workerHit(req, { ...state(), kind: 'phony' }, env()), undefined, 'a phony rule');
  assert.is(await workerHit(req, { ...state(), kind: 'oracle' }, env()), undefined, 'an oracle');
});

test('a damaged blob is a miss, never an output, and its entry is dropped', async () => {
  const key = await record(env(), 'good bytes\n');
  const cache = new ActionCache(env().dir);
  const blob = cache.read(key)!.results[0]!.outputs[0]!.digest;
  fs.writeFileSync(cache.blobPath(blob)!, 'evil bytes\n');
  fs.writeFileSync(out, 'before\n');
  assert.is(await workerHit(req, state(), env()), undefined);
  assert.is(fs.readFileSync(out, 'utf8'), 'before\n', 'the output is untouched');
  assert.is(cache.read(key), undefined, 'the entry is gone');
});

// End to end: N rules each with one run(), built in one directory then (all hits) in another.
const N = 40;
function project(dir: string, bump = -1): void {
  fs.mkdirSync(path.join(dir, 'in'), { recursive: true });
  for (let i = 0; i < N; i++) fs.writeFileSync(path.join(dir, 'in', `${i}.txt`), `input ${i}${i === bump ? ' edited' : ''}\n`);
  fs.writeFileSync(path.join(dir, 'Bfile.mjs'), `export default (b) => {
  b.default('all');
  b.rule('all', async ({ need, write, out }) => { const o = []; for (let i = 0; i < ${N}; i++) o.push(\`out/\${i}.txt\`); await need(o); await write(out, 'done'); });
  b.rule('out/%.txt', async ({ stem, need, run, out }) => { await need(\`in/\${stem}.txt\`); await run(\`mkdir -p out && cp in/\${stem}.txt \${out}\`, { outputs: [out] }); });
};
`);
}

async function build(dir: string, cache: string): Promise<{ code: number | null; err: string; received: number; caches: string[] }> {
  const ev = `${dir}.events`;
  const r = await run(B, ['build', '-C', dir, '--cache', '--verbose', '--events', ev], { env: { ...process.env, B_CACHE_DIR: cache }, timeout: 60_000 });
  const caches = fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; cache?: string }).filter((e) => e.event === 'command').map((e) => e.cache ?? 'none');
  const m = /(\d+) messages sent and (\d+) received/.exec(r.stderr + r.stdout);
  return { code: r.code, err: r.stderr + r.stdout, received: Number(m?.[2] ?? NaN), caches };
}

test('an all-hits build asks the build host nothing per run(); an edited input misses there and gets its own output', async () => {
  const cache = path.join(top, 'e2e-cache');
  const [a, b, c] = ['a', 'b', 'c'].map((n) => path.join(top, n)) as [string, string, string];
  project(a);
  const first = await build(a, cache);
  assert.is(first.code, 0, first.err);
  assert.is(first.caches.filter((x) => x === 'miss').length, N);
  project(b);
  const hits = await build(b, cache);
  assert.is(hits.code, 0, hits.err);
  assert.is(hits.caches.filter((x) => x === 'local').length, N, hits.err);
  assert.match(hits.err, new RegExp(`action cache: ${N} hits of ${N}`));
  // Through the build host a hit cost the broker 7 messages received per rule (work credit,
  // NEED need, NEED run, result...); answered by the worker, 4 (measured: 288 against 168 for 40).
  assert.ok(hits.received < 5.5 * N + 20, `${hits.received} messages received for ${N} hits: a NEED run per rule?`);
  for (let i = 0; i < N; i++) assert.is(fs.readFileSync(path.join(b, 'out', `${i}.txt`), 'utf8'), `input ${i}\n`);
  project(c, 7);
  const edited = await build(c, cache);
  assert.is(edited.code, 0, edited.err);
  assert.is(edited.caches.filter((x) => x === 'local').length, N - 1);
  assert.is(edited.caches.filter((x) => x === 'miss').length, 1, 'exactly the rule whose input changed');
  assert.is(fs.readFileSync(path.join(c, 'out', '7.txt'), 'utf8'), 'input 7 edited\n');
}, { timeout: 180_000 });

test.run();
