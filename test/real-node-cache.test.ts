// The nodes' action caches on a real project (issue 13): zstd 1.5.4 (Debian's libzstd source,
// CMake) built with `--cache` through 2 build nodes that share neither network nor files with the
// client (each in its own network namespace and a mount namespace where a tmpfs hides both
// checkouts), first cold from one checkout, then from a second checkout with an empty client
// cache: the nodes answer from their caches and nothing is compiled, archived or linked again.
// Objects, the archive and the programs are compared with a local build of the second checkout,
// byte for byte. Both checkouts are configured with
// `-ffile-prefix-map=<src>=.`, as the README says a project must be for objects that do not
// name their checkout (zstd's programs use __FILE__).
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { B, exited, run, start, suite, tmp, b } from './helpers.ts';
import { debianSource, ensureTools, ninjaTargets, compareTrees, type Fetched } from './real-sources.ts';
import { netnsAvailable, startHiddenNode, stopHiddenNode, type HiddenNode } from './netns.ts';

const test = suite('real-node-cache');
const STEP_MS = 600_000;
const log = (s: string): void => {
  process.stdout.write(`  [real-node-cache] ${s}\n`);
};

let fetched: Fetched | undefined;
let fetchError: unknown;
const noNetns = netnsAvailable();
if (noNetns === undefined) {
  try {
    const tools = ensureTools(['cmake', 'ninja', 'cc']);
    fetched = tools.ok ? debianSource('libzstd') : tools;
  } catch (e) {
    fetchError = e;
  }
}

async function configure(src: string, tree: string): Promise<void> {
  const r = await run('cmake', ['-G', 'Ninja', '-S', path.join(src, 'build/cmake'), '-B', tree, '-DCMAKE_BUILD_TYPE=Release', `-DCMAKE_C_FLAGS=-ffile-prefix-map=${src}=.`,
    '-DZSTD_BUILD_PROGRAMS=ON', '-DZSTD_BUILD_TESTS=OFF', '-DZSTD_BUILD_SHARED=OFF'], { timeout: STEP_MS });
  assert.is(r.code, 0, `cmake configure failed:\n${r.stdout}\n${r.stderr}`);
}

interface Ev { event: string; key: string; ran?: boolean; node?: string; cache?: string; cacheBytes?: number }

async function build(tree: string, env: NodeJS.ProcessEnv, nodes: HiddenNode[]): Promise<{ code: number | null; err: string; done: Ev[]; ms: number }> {
  const ev = `${tree}.events`;
  const t0 = Date.now();
  const c = start(B, ['build', '-C', tree, '-j', '6', '--cache', '--local', '0', '--heartbeat', '200', '--events', ev, ...nodes.flatMap((n) => ['--node', n.addr])], { env });
  let err = '';
  c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  c.stdout?.resume();
  const r = await exited(c, STEP_MS);
  const events = fs.existsSync(ev) ? fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev) : [];
  fs.rmSync(ev, { force: true });
  return { code: r.code, err, done: events.filter((e) => e.event === 'finish'), ms: Date.now() - t0 };
}

function roundTrip(zstd: string, dir: string, src: string): void {
  const input = path.join(dir, 'roundtrip.in');
  fs.writeFileSync(input, Buffer.concat(['lib/compress/zstd_compress.c', 'lib/zstd.h'].map((f) => fs.readFileSync(path.join(src, f)))));
  assert.is(spawnSync(zstd, ['-q', '-f', '-19', input, '-o', `${input}.zst`]).status, 0);
  assert.is(spawnSync(zstd, ['-q', '-f', '-d', `${input}.zst`, '-o', `${input}.out`]).status, 0);
  assert.ok(fs.readFileSync(input).equals(fs.readFileSync(`${input}.out`)), 'zstd round trip');
}

if (noNetns !== undefined) {
  test.skip('zstd through the caches of nodes that share no files with the client', noNetns);
} else if (fetchError !== undefined) {
  test('fetch the libzstd source package', () => {
    throw fetchError;
  });
} else if (fetched !== undefined && !fetched.ok) {
  test.skip('zstd through the caches of nodes that share no files with the client', fetched.why);
} else if (fetched !== undefined && fetched.ok) {
  const pristine = fetched.dir;
  let nodes: HiddenNode[] = [];

  test('zstd: cold through two nodes, then from a second checkout all compiles are node hits; objects identical to a local build', async () => {
    const dir = tmp('b-real-nc-');
    const tree = (which: string) => ({ src: path.join(dir, which, 'src'), remote: path.join(dir, which, 'R'), local: path.join(dir, which, 'L') });
    const one = tree('one');
    const two = tree('two');
    for (const t of [one, two]) fs.cpSync(pristine, t.src, { recursive: true, verbatimSymlinks: true });
    await configure(one.src, one.remote);
    await configure(two.src, two.remote);
    await configure(two.src, two.local);
    const keys = tmp('b-nc-keys-');
    const env = { ...process.env, B_CONFIG_DIR: path.join(keys, 'cfg') };
    assert.is((await b(['keygen', path.join(keys, 'node')], { env })).code, 0);
    fs.writeFileSync(path.join(keys, 'clients.pub'), (await b(['keygen', '--show'], { env })).stdout);
    nodes = await Promise.all([startHiddenNode(dir, keys), startHiddenNode(dir, keys)]);
    const nodeIds = new Set(nodes.map((n) => n.id));

    const cold = await build(one.remote, { ...env, B_CACHE_DIR: path.join(dir, 'client-cache-one') }, nodes);
    assert.is(cold.code, 0, cold.err.slice(-5000));
    const coldOnNodes = cold.done.filter((e) => e.ran && nodeIds.has(e.node ?? ''));
    log(`cold build (checkout one): ${(cold.ms / 1000).toFixed(1)} s, ${coldOnNodes.length} of ${cold.done.length} steps on the nodes`);
    assert.ok(coldOnNodes.length > 40, `${coldOnNodes.length} compiles on the nodes`);
    assert.ok(cold.done.every((e) => e.cache === undefined || e.cache === 'miss'), 'nothing to hit yet');
    const recorded = nodes.map((n) => fs.readdirSync(path.join(n.cache, 'node-actions', 'entries')).flatMap((s) => fs.readdirSync(path.join(n.cache, 'node-actions', 'entries', s))).length);
    log(`entries recorded by the nodes: ${recorded.join(' + ')}`);
    assert.is(recorded.reduce((a, x) => a + x, 0), coldOnNodes.length, 'each node recorded what it compiled');

    const warm = await build(two.remote, { ...env, B_CACHE_DIR: path.join(dir, 'client-cache-two') }, nodes);
    assert.is(warm.code, 0, warm.err.slice(-5000));
    const compiles = warm.done.filter((e) => e.key.endsWith('.o'));
    const hits = compiles.filter((e) => e.cache?.startsWith('node:') === true && nodeIds.has(e.cache.slice(5)));
    const ranOnNodes = warm.done.filter((e) => nodeIds.has(e.node ?? ''));
    const fetchedBytes = hits.reduce((a, e) => a + (e.cacheBytes ?? 0), 0);
    log(`warm build (checkout two, empty client cache): ${(warm.ms / 1000).toFixed(1)} s, ${hits.length} of ${compiles.length} compiles from the nodes' caches (${(fetchedBytes / 1e6).toFixed(2)} MB), ${ranOnNodes.length} ran on nodes`);
    log(warm.err.split('\n').filter((l) => /action cache:|files moved:/.test(l)).join(' | '));
    assert.is(hits.length, compiles.length, `misses: ${compiles.filter((e) => !hits.includes(e)).map((e) => e.key).join(' ')}`);
    assert.is(ranOnNodes.length, 0, 'nothing was compiled again');
    for (const id of nodeIds) assert.ok(hits.some((e) => e.cache === `node:${id}`), `node ${id} answered from its cache`);
    assert.match(warm.err, /action cache: \d+ hits of \d+ \(\d+%\), .* restored \(.*node .* fetched/);

    const t0 = Date.now();
    const l = await run(B, ['build', '-C', two.local, '-j', '2'], { timeout: STEP_MS, env: { ...env, B_CACHE_DIR: path.join(dir, 'client-cache-local') } });
    assert.is(l.code, 0, l.stderr.slice(-3000));
    log(`local build of checkout two: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const objects = [...ninjaTargets(two.remote).keys()].filter((o) => o.endsWith('.o'));
    const d = compareTrees(two.local, two.remote, objects);
    assert.equal(d.missing, []);
    assert.equal(d.differ, [], `objects that differ from the local build: ${d.differ.join(' ')}`);
    assert.ok(d.same.length > 40, `${d.same.length} identical objects`);
    // The archive and the links ran on the nodes in the cold build and were node hits here (rexec-link.ts).
    const linked = ['lib/libzstd.a', 'programs/zstd', 'programs/zstd-frugal'];
    for (const k of linked) {
      assert.ok(nodeIds.has(cold.done.find((e) => e.key === k)?.node ?? ''), `${k} ran on a node in the cold build`);
      assert.ok(nodeIds.has(warm.done.find((e) => e.key === k)?.cache?.slice(5) ?? ''), `${k} was a node hit`);
    }
    assert.equal(compareTrees(two.local, two.remote, linked).same, linked, 'archive and programs identical to the local build');
    roundTrip(path.join(two.remote, 'programs', 'zstd'), dir, two.src);
  }, { timeout: 1_500_000 });

  test.after(async () => {
    await Promise.all(nodes.map(stopHiddenNode));
  });
}

test.run();
