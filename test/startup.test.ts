// What a build loads: a Ninja build without --cache runs none of the action cache's module code,
// and a build on this machine alone starts no build node (no ZeroMQ, no broker, no worker
// isolate), on the first build, an edit-rebuild and a no-op alike. Module init is start-up time
// on every edit-rebuild (the cache's modules cost ~75 ms of CPU of a zstd edit at load 11).
//
// Seen at run time, not read from the import graph: B runs from its sources under this Node with
// a module hook (node:module registerHooks) that appends every module it loads to a file.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { b, root, run, suite, tmp } from './helpers.ts';

const test = suite('startup');

/** The action cache's modules (ninja-cache.ts and what only it and the node cache import). */
const CACHE = ['ninja-cache.ts', 'action-key.ts', 'action-cache.ts', 'cas.ts', 'node-cache-client.ts', 'node-cache.ts', 'cache-upload.ts'];
/** The build node's: a Ninja build here runs its engine and commands in the main thread (build-local.ts). */
const NODE = ['zmq.ts', 'runtime.ts', 'broker.ts', 'worker.ts', 'client.ts'];

const HOOK = `import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({ load(url, context, next) {
  if (url.startsWith('file:')) appendFileSync(process.env.B_TEST_MODULES, url + '\\n');
  return next(url, context);
} });
`;

/** Runs `b ninja ARGS` from the sources in `dir`; the names of the src/ modules it loaded. */
async function ninjaFromSources(dir: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; modules: string[] }> {
  const list = path.join(dir, '.modules');
  fs.rmSync(list, { force: true });
  const hook = path.join(dir, '.hook.mjs');
  fs.writeFileSync(hook, HOOK);
  const r = await run(process.execPath, ['--import', hook, path.join(root, 'src', 'main.ts'), 'ninja', ...args], {
    cwd: dir,
    env: { ...process.env, B_CACHE: '', B_CACHE_UPLOAD: '', B_NODES: '', B_TEST_MODULES: list, ...env },
    timeout: 60_000,
  });
  const src = `${path.join(root, 'src')}${path.sep}`;
  const modules = fs.existsSync(list)
    ? fs.readFileSync(list, 'utf8').split('\n').filter((u) => u.startsWith('file:')).map((u) => new URL(u).pathname).filter((p) => p.startsWith(src)).map((p) => p.slice(src.length))
    : [];
  return { code: r.code, out: r.stdout + r.stderr, modules };
}

function project(): string {
  const dir = tmp('b-startup-');
  fs.writeFileSync(path.join(dir, 'build.ninja'), `rule cc
  command = cat $in > $out && cat $out > $out.d.tmp && printf '%s: %s\\n' $out $in > $out.d
  depfile = $out.d
  deps = gcc
rule link
  command = cat $in > $out
build a.o: cc a.c
build b.o: cc b.c
build prog: link a.o b.o
`);
  fs.writeFileSync(path.join(dir, 'a.c'), 'a\n');
  fs.writeFileSync(path.join(dir, 'b.c'), 'b\n');
  return dir;
}

test('a Ninja build without --cache loads none of the cache\'s modules and no build node; with --cache it loads the cache', async () => {
  const dir = project();
  const first = await ninjaFromSources(dir, []);
  assert.is(first.code, 0, first.out);
  assert.match(first.out, /\[3\/3\]/);
  // The hook saw the build's own modules: the check below is not vacuous.
  for (const m of ['ninja-cli.ts', 'build-host.ts', 'engine.ts', 'ninja-action.ts', 'ninja-run.ts']) assert.ok(first.modules.includes(m), `${m} not seen: ${first.modules.join(' ')}`);
  fs.appendFileSync(path.join(dir, 'a.c'), 'edited\n');
  const edit = await ninjaFromSources(dir, []);
  assert.is(edit.code, 0, edit.out);
  assert.match(edit.out, /\[2\/2\]/, 'the edit reruns its compile and the link');
  const noop = await ninjaFromSources(dir, []);
  assert.match(noop.out, /no work to do/);
  for (const [what, r] of [['first build', first], ['edit-rebuild', edit], ['no-op', noop]] as const) {
    const cache = r.modules.filter((m) => CACHE.includes(m));
    assert.equal(cache, [], `${what} without --cache loaded ${cache.join(' ')}`);
    const node = r.modules.filter((m) => NODE.includes(m));
    assert.equal(node, [], `${what} on this machine alone loaded the build node: ${node.join(' ')}`);
  }

  fs.appendFileSync(path.join(dir, 'b.c'), 'edited\n');
  const cached = await ninjaFromSources(dir, ['--cache'], { B_CACHE_DIR: path.join(dir, '.cache') });
  assert.is(cached.code, 0, cached.out);
  assert.match(cached.out, /action cache: 0 hits of 2/);
  for (const m of ['ninja-cache.ts', 'action-key.ts', 'action-cache.ts']) assert.ok(cached.modules.includes(m), `--cache did not load ${m}`);
}, { timeout: 120_000 });

test('a no-op answered by the snapshot loads neither the build client (cmd-build.ts) nor the manifest loader', async () => {
  const dir = project();
  // Build files written within the last 2 s are not trusted to a snapshot: date them back.
  const t = Date.now() / 1000 - 10;
  for (const f of ['build.ninja', 'a.c', 'b.c']) fs.utimesSync(path.join(dir, f), t, t);
  const first = await ninjaFromSources(dir, []);
  assert.is(first.code, 0, first.out);
  assert.ok(fs.existsSync(path.join(dir, '.b', 'noop')), 'the build wrote its snapshot');
  const noop = await ninjaFromSources(dir, []);
  assert.is(noop.code, 0, noop.out);
  assert.match(noop.out, /no work to do/);
  assert.ok(noop.modules.includes('fastnoop.ts'), `the snapshot path was not taken: ${noop.modules.join(' ')}`);
  // cmd-build.ts (and progress, need-messages, protocol with it) is the normal path's.
  const loaded = noop.modules.filter((m) => ['cmd-build.ts', 'progress.ts', 'need-messages.ts', 'ninja-build.ts', 'build-host.ts', 'engine.ts'].includes(m));
  assert.equal(loaded, [], `the no-op loaded ${loaded.join(' ')}`);
}, { timeout: 120_000 });

// The executable runs its bundle with the code cache made at build time (sea-main.ts,
// scripts/code-cache.ts). A cache V8 turned down would cost every start the compile of the whole
// bundle, silently: the cache must be accepted as built, and a start whose V8 flags differ (the
// cache is then invalid) must still build correctly.
test('the executable\'s code caches (main bundle, threads) are accepted, and a start with other V8 flags still builds', async () => {
  const r = await b(['debug', 'startup'], { timeout: 30_000 });
  assert.is(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { codeCache: string; thread: { threadCache: string } };
  assert.match(info.codeCache, /^accepted \(\d+ bytes\)$/);
  assert.is(info.thread.threadCache, 'accepted', 'a thread compiles its bundle with the thread cache');
  const dir = project();
  const env = { ...process.env, B_NODES: '', NODE_OPTIONS: '--max-semi-space-size=2' }; // V8 hashes its flags into the cache's check
  const other = await b(['debug', 'startup'], { env, timeout: 30_000 });
  assert.is(other.code, 0, other.stderr);
  assert.equal(JSON.parse(other.stdout), { codeCache: 'rejected', thread: { threadCache: 'rejected' }, node: process.version });
  const built = await b(['ninja', '-C', dir], { env, timeout: 60_000 });
  assert.is(built.code, 0, built.stdout + built.stderr);
  assert.is(fs.readFileSync(path.join(dir, 'prog'), 'utf8'), 'a\nb\n');
  // Threads too (a Bfile's rules run in worker threads).
  const bf = tmp('b-startup-bfile-');
  fs.writeFileSync(path.join(bf, 'Bfile.ts'), "export default (b: any) => { b.default('o.txt'); b.rule('o.txt', async ({ run }: any) => { await run('echo hi > o.txt'); }); };\n");
  const rules = await b(['build', '-C', bf], { env, timeout: 60_000 });
  assert.is(rules.code, 0, rules.stdout + rules.stderr);
  assert.is(fs.readFileSync(path.join(bf, 'o.txt'), 'utf8'), 'hi\n');
});

test.run();
