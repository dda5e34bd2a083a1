// Bfile rules use the farm: `b demo`'s project (a C program, Bfile.ts) built with two nodes that
// cannot see the client's files. Each `b node` runs on its own test host (network namespace) and
// in a private mount namespace where a tmpfs hides the directory holding every project tree, as
// real-remote.test.ts sets up for zstd. The rule bodies run on the client; their run() commands
// are actions that go to the nodes with their inputs as blobs, and come back verified.
//
// Checked: the compiles and the link ran on the nodes (--events `command` events name them), both
// nodes took some; outputs (objects, depfiles, the program) are byte-identical to a local build;
// after editing a header exactly the commands of the objects that include it (and the link) run
// again; with --cache, a first build through the nodes records the results and a build of
// another checkout restores every command from the cache and runs nothing, anywhere.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { B, b, exited, run, suite, tmp } from './helpers.ts';
import { netnsAvailable, startHiddenNode, type HiddenNode } from './netns.ts';
import { C_PROJECT, writeProject } from '../src/demo.ts';

const test = suite('bfile-farm');
const log = (s: string): void => {
  process.stdout.write(`  [bfile-farm] ${s}\n`);
};

type Node = HiddenNode;

interface Ev {
  event: string;
  key: string;
  node?: string;
  cache?: string;
  ran?: boolean;
  description?: string;
  bytes?: { sent: number; received: number };
}

async function stopHidden(n: Node): Promise<void> {
  if (n.proc.exitCode !== null || n.proc.signalCode !== null) return;
  n.proc.kill('SIGINT');
  n.proc.kill('SIGINT');
  await exited(n.proc, 20_000).catch(() => n.proc.kill('SIGKILL'));
}

const FILES = ['hello', 'obj/main.o', 'obj/greet.o', 'obj/mathx.o', 'obj/main.o.d', 'obj/greet.o.d', 'obj/mathx.o.d'];

function sameFiles(a: string, c: string): void {
  for (const f of FILES) {
    assert.ok(fs.existsSync(path.join(c, f)), `${f} exists in ${c}`);
    assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(c, f))), `${f} is byte-identical to the local build's`);
  }
}

const noNetns = netnsAvailable();
const cc = spawnSync('cc', ['--version']).status === 0;

if (noNetns !== undefined) test.skip('demo on nodes that cannot see its files', noNetns);
else if (!cc) test.skip('demo on nodes that cannot see its files', 'no C compiler (cc) here: the demo is a C program');
else {
  let world: { dir: string; keys: string; env: NodeJS.ProcessEnv; nodes: Node[] } | undefined;
  const w = (): NonNullable<typeof world> => {
    if (!world) throw new Error('setup failed (see the first test)');
    return world;
  };

  /** `b build` of `tree` through both nodes, everything sent out that can be (--local 0). */
  async function farmBuild(tree: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; err: string; events: Ev[] }> {
    const ev = `${tree}.events`;
    const t0 = Date.now();
    const r = await run(B, ['build', '-C', tree, '-j', '4', '--local', '0', '--heartbeat', '200', '--events', ev, ...extra, ...w().nodes.flatMap((n) => ['--node', n.addr])], { env: { ...w().env, ...env }, timeout: 120_000 });
    const events = fs.existsSync(ev) ? fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev) : [];
    fs.rmSync(ev, { force: true });
    log(`${path.basename(tree)} ${extra.join(' ')}: ${Date.now() - t0} ms through the nodes; ${r.stderr.split('\n').filter((l) => /^\S+: ran|action cache|files moved/.test(l)).join(' | ')}`);
    return { code: r.code, err: r.stderr, events };
  }

  test('the demo compiles and links on two nodes that cannot see its files; outputs identical to a local build', async () => {
    const dir = tmp('b-farm-');
    const keys = tmp('b-farm-keys-');
    const env = { ...process.env, B_CONFIG_DIR: path.join(keys, 'cfg'), B_CACHE_DIR: path.join(keys, 'client-cache') };
    assert.is((await b(['keygen', path.join(keys, 'node')], { env })).code, 0);
    fs.writeFileSync(path.join(keys, 'clients.pub'), (await b(['keygen', '--show'], { env })).stdout);
    world = { dir, keys, env, nodes: [] };
    world.nodes = await Promise.all([startHiddenNode(dir, keys), startHiddenNode(dir, keys)]);
    const local = path.join(dir, 'L');
    const remote = path.join(dir, 'R');
    writeProject(local, C_PROJECT);
    writeProject(remote, C_PROJECT);
    // What a node sees: the tree hidden.
    const peek = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs none '${dir}' && cat '${remote}/src/main.c'`], { encoding: 'utf8' });
    assert.is.not(peek.status, 0, `a node would see the client's files: ${peek.stdout}`);

    const t0 = Date.now();
    const l = await run(B, ['build', '-C', local], { env, timeout: 120_000 });
    assert.is(l.code, 0, l.stderr);
    log(`L (local build, no nodes): ${Date.now() - t0} ms`);
    const r = await farmBuild(remote);
    assert.is(r.code, 0, `${r.err}\n${w().nodes.map((n) => n.err()).join('\n')}`);
    const ids = new Set(w().nodes.map((n) => n.id));
    const commands = r.events.filter((e) => e.event === 'command');
    assert.equal(commands.map((e) => e.key).sort(), ['hello', 'obj/greet.o', 'obj/main.o', 'obj/mathx.o'], 'one command per rule');
    for (const c of commands) assert.ok(ids.has(c.node ?? ''), `${c.key}'s command ran on a node, not ${c.node}: ${r.err}`);
    for (const id of ids) assert.ok(commands.some((c) => c.node === id), `node ${id} ran some command`);
    // The rule bodies themselves ran here: the nodes cannot see the Bfile.
    assert.ok(r.events.filter((e) => e.event === 'finish' && e.ran).every((e) => e.node === 'local'));
    assert.ok(commands.every((c) => (c.bytes?.received ?? 0) > 0), 'every output came back from a node');
    assert.match(r.err, /files moved: .* sent to nodes, .* received from them/);
    sameFiles(local, remote);
    assert.match(spawnSync(path.join(remote, 'hello'), { encoding: 'utf8' }).stdout, /triangle\(10\) = 55/);
    // Nothing left behind next to the outputs (temp files of fetches).
    assert.equal(fs.readdirSync(path.join(remote, 'obj')).filter((f) => f.endsWith('.tmp')), []);
  }, { timeout: 240_000 });

  test('after editing a header, exactly its dependents run again, on the nodes', async () => {
    const { dir } = w();
    // Only main.c includes version.h; the new version string changes main.o, so the link runs too.
    for (const t of ['L', 'R']) {
      const h = path.join(dir, t, 'include/version.h');
      fs.writeFileSync(h, fs.readFileSync(h, 'utf8').replace('"1.0"', '"1.1"'));
    }
    const l = await run(B, ['build', '-C', path.join(dir, 'L')], { env: w().env, timeout: 120_000 });
    assert.is(l.code, 0, l.stderr);
    const r = await farmBuild(path.join(dir, 'R'));
    assert.is(r.code, 0, r.err);
    const commands = r.events.filter((e) => e.event === 'command');
    assert.equal(commands.map((e) => e.key).sort(), ['hello', 'obj/main.o']);
    const ids = new Set(w().nodes.map((n) => n.id));
    assert.ok(commands.every((c) => ids.has(c.node ?? '')), JSON.stringify(commands));
    sameFiles(path.join(dir, 'L'), path.join(dir, 'R'));
    assert.match(spawnSync(path.join(dir, 'R', 'hello'), { encoding: 'utf8' }).stdout, /hello 1\.1/);
  }, { timeout: 240_000 });

  test('--cache: results of commands run on the nodes are recorded; another checkout restores them all and runs nothing', async () => {
    const { dir } = w();
    const cacheDir = tmp('b-farm-cache-');
    const first = path.join(dir, 'C1');
    const second = path.join(dir, 'C2-other-name');
    writeProject(first, C_PROJECT);
    writeProject(second, C_PROJECT);
    const env = { B_CACHE_DIR: cacheDir };
    const a = await farmBuild(first, ['--cache'], env);
    assert.is(a.code, 0, a.err);
    const ids = new Set(w().nodes.map((n) => n.id));
    const ran = a.events.filter((e) => e.event === 'command');
    assert.equal(ran.map((e) => e.cache).sort(), ['miss', 'miss', 'miss', 'miss'], 'each result recorded');
    assert.ok(ran.every((e) => ids.has(e.node ?? '')), 'they ran on the nodes');
    const c = await farmBuild(second, ['--cache'], env);
    assert.is(c.code, 0, c.err);
    const hits = c.events.filter((e) => e.event === 'command');
    assert.equal(hits.map((e) => e.key).sort(), ['hello', 'obj/greet.o', 'obj/main.o', 'obj/mathx.o']);
    assert.ok(hits.every((e) => e.cache === 'local' && e.node === 'local'), `every command restored from the cache: ${JSON.stringify(hits)}`);
    assert.match(c.err, /action cache: 4 hits of 4 \(100%\)/);
    assert.not.match(c.err, /files moved/, 'nothing went to a node');
    // Identical to a local build of the same sources (the unedited demo).
    const ref = path.join(dir, 'L2');
    writeProject(ref, C_PROJECT);
    const l = await run(B, ['build', '-C', ref], { env: w().env, timeout: 120_000 });
    assert.is(l.code, 0, l.stderr);
    sameFiles(ref, second);
    // The next build there is a no-op: a hit records what a run would.
    const again = await run(B, ['build', '-C', second, '--cache'], { env: { ...w().env, ...env }, timeout: 60_000 });
    assert.match(again.stderr, /no work to do/);
  }, { timeout: 240_000 });

  test('--cache with empty local caches: the nodes record what they ran; another checkout gets every command from their caches', async () => {
    const { dir } = w();
    // A version no other test built, so the nodes' caches start without these actions.
    const edit = (t: string): void => {
      const h = path.join(t, 'include/version.h');
      fs.writeFileSync(h, fs.readFileSync(h, 'utf8').replace('"1.0"', '"3.0-node-cache"'));
    };
    const first = path.join(dir, 'N1');
    const second = path.join(dir, 'N2-elsewhere');
    for (const t of [first, second]) {
      writeProject(t, C_PROJECT);
      edit(t);
    }
    const a = await farmBuild(first, ['--cache'], { B_CACHE_DIR: tmp('b-farm-nc1-') });
    assert.is(a.code, 0, a.err);
    const ids = new Set(w().nodes.map((n) => n.id));
    const ran = a.events.filter((e) => e.event === 'command');
    // main.o (it includes version.h) and the link are new here: they run on the nodes. greet.o and
    // mathx.o are the --cache test's actions, which the nodes recorded then: already node hits.
    const byKey = new Map(ran.map((e) => [e.key, e]));
    for (const k of ['obj/main.o', 'hello']) assert.ok(ids.has(byKey.get(k)?.node ?? '') && byKey.get(k)?.cache === 'miss', `${k} ran on a node: ${JSON.stringify(ran)}`);
    for (const k of ['obj/greet.o', 'obj/mathx.o']) assert.match(byKey.get(k)?.cache ?? '', /^node:/, `${k} from a node's cache: ${JSON.stringify(ran)}`);
    const c = await farmBuild(second, ['--cache'], { B_CACHE_DIR: tmp('b-farm-nc2-') });
    assert.is(c.code, 0, c.err);
    const hits = c.events.filter((e) => e.event === 'command');
    assert.equal(hits.map((e) => e.key).sort(), ['hello', 'obj/greet.o', 'obj/main.o', 'obj/mathx.o']);
    assert.ok(hits.every((e) => /^node:/.test(e.cache ?? '') && ids.has((e.cache ?? '').slice(5))), `every command from a node's cache: ${JSON.stringify(hits)}`);
    assert.match(c.err, /action cache: 4 hits of 4 \(100%\), .* restored \(node /);
    for (const f of FILES) assert.ok(fs.readFileSync(path.join(first, f)).equals(fs.readFileSync(path.join(second, f))), `${f} is byte-identical`);
    assert.match(spawnSync(path.join(second, 'hello'), { encoding: 'utf8' }).stdout, /hello 3\.0-node-cache/);
  }, { timeout: 240_000 });

  test('a command that reads a file its rule never needed fails on the node and runs again here; a real error fails the rule', async () => {
    const dir = path.join(w().dir, 'hidden-input');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'in.txt'), 'needed\n');
    fs.writeFileSync(path.join(dir, 'data.txt'), 'never needed\n');
    fs.writeFileSync(path.join(dir, 'Bfile.mjs'), `export default (b) => {
  b.default('out.txt');
  b.rule('out.txt', async ({ need, run }) => { await need('in.txt'); await run('cat in.txt $(echo data).txt > out.txt'); });
  b.rule('bad.txt', async ({ need, run }) => { await need('in.txt'); await run("cat in.txt > bad.txt && sh -c 'exit 3'"); });
};
`);
    const r = await farmBuild(dir);
    assert.is(r.code, 0, r.err);
    assert.is(fs.readFileSync(path.join(dir, 'out.txt'), 'utf8'), 'needed\nnever needed\n');
    const ids = new Set(w().nodes.map((n) => n.id));
    const note = r.events.find((e) => e.event === 'output' && /failed on node (\S+) .*ran again here/.test((e as { note?: string }).note ?? ''));
    assert.ok(note !== undefined, `the node's failure is reported: ${JSON.stringify(r.events)}`);
    assert.ok(ids.has(/failed on node (\S+)/.exec((note as { note?: string }).note ?? '')?.[1] ?? ''));
    assert.equal(r.events.filter((e) => e.event === 'command').map((e) => e.node), ['local'], 'it ran here in the end');
    const bad = await farmBuild(dir, ['bad.txt']);
    assert.is(bad.code, 1, bad.err);
    assert.match(bad.err, /command failed \(exit code 3\)/);
  }, { timeout: 120_000 });

  test('`b demo` itself with the nodes (B_NODES): builds, runs the program, rebuilds after its edit', async () => {
    const dir = path.join(w().dir, 'demo');
    const r = await run(B, ['demo', dir], { env: { ...w().env, B_NODES: w().nodes.map((n) => n.addr).join(',') }, timeout: 180_000 });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /Hello from B!\ntriangle\(10\) = 55 \(hello 1\.0\)/);
    assert.match(r.stderr, /after editing include\/mathx\.h/);
  }, { timeout: 240_000 });

  test.after(async () => {
    if (world) await Promise.all(world.nodes.map(stopHidden));
  });
}

test.run();
