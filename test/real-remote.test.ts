// Remote execution without a shared filesystem, proven on a real project: zstd 1.5.4 (Debian's
// libzstd source, `build/cmake`, `cmake -G Ninja`) built by B with 2 build nodes that cannot see
// the client's files: each `b node` runs in its own network namespace (a test host reached over
// a veth pair) and its own mount namespace in which a tmpfs hides the directory holding the
// source tree and the build directories. The nodes get everything through B: inputs as blobs
// from the client, outputs back as blobs.
//
// Checked: the build succeeds with compiles spread over the nodes; the built zstd round-trips a
// file; every object is byte-identical to a local build (same-length build dirs, Release without
// -g, deterministic gcc); a rebuild after editing one .c file moves only that file's bytes to the
// nodes (plus the changed object back); the same build with a node killed halfway succeeds.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { B, b, exited, run, start, suite, tmp } from './helpers.ts';
import { debianSource, ensureTools, ninjaTargets, compareTrees, type Fetched } from './real-sources.ts';
import { netnsAvailable, startHiddenNode as startNode, stopHiddenNode as stopNode, type HiddenNode as Node } from './netns.ts';

const test = suite('real-remote');
const STEP_MS = 600_000;
const log = (s: string): void => {
  process.stdout.write(`  [real-remote] ${s}\n`);
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

interface World {
  dir: string;
  src: string;
  local: string;
  remote: string;
  keys: string;
  env: NodeJS.ProcessEnv;
  nodes: Node[];
}
let world: World | undefined;
const w = (): World => {
  if (!world) throw new Error('setup failed (see the first test)');
  return world;
};

async function configure(src: string, tree: string): Promise<void> {
  const r = await run('cmake', ['-G', 'Ninja', '-S', path.join(src, 'build/cmake'), '-B', tree, '-DCMAKE_BUILD_TYPE=Release',
    '-DZSTD_BUILD_PROGRAMS=ON', '-DZSTD_BUILD_TESTS=OFF', '-DZSTD_BUILD_SHARED=OFF'], { timeout: STEP_MS });
  assert.is(r.code, 0, `cmake configure failed:\n${r.stdout}\n${r.stderr}`);
}

interface Ev {
  event: string;
  key: string;
  ran?: boolean;
  node?: string;
  note?: string;
  bytes?: { sent: number; received: number };
}

async function remoteBuild(tree: string, local = 1, killAfterMs?: number): Promise<{ code: number | null; err: string; ran: Ev[] }> {
  const { env, nodes } = w();
  const ev = `${tree}.events`;
  const c = start(B, ['build', '-C', tree, '-j', '6', '--local', String(local), '--heartbeat', '200', '--events', ev, ...nodes.flatMap((n) => ['--node', n.addr])], { env });
  let err = '';
  c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  c.stdout?.resume();
  if (killAfterMs !== undefined) setTimeout(() => nodes[0]!.proc.kill('SIGKILL'), killAfterMs);
  const r = await exited(c, STEP_MS);
  const events = fs.existsSync(ev) ? fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev) : [];
  fs.rmSync(ev, { force: true });
  return { code: r.code, err, ran: events.filter((e) => e.event === 'finish' && e.ran) };
}

function roundTrip(zstd: string, dir: string): void {
  const input = path.join(dir, 'roundtrip.in');
  fs.writeFileSync(input, Buffer.concat(['lib/compress/zstd_compress.c', 'lib/zstd.h'].map((f) => fs.readFileSync(path.join(w().src, f)))));
  assert.is(spawnSync(zstd, ['-q', '-f', '-19', input, '-o', `${input}.zst`]).status, 0);
  assert.is(spawnSync(zstd, ['-q', '-f', '-d', `${input}.zst`, '-o', `${input}.out`]).status, 0);
  assert.ok(fs.readFileSync(input).equals(fs.readFileSync(`${input}.out`)), 'zstd round trip');
}

if (noNetns !== undefined) {
  test.skip('zstd built on nodes that share no files with the client', noNetns);
} else if (fetchError !== undefined) {
  test('fetch the libzstd source package', () => {
    throw fetchError;
  });
} else if (fetched !== undefined && !fetched.ok) {
  test.skip('zstd built on nodes that share no files with the client', fetched.why);
} else if (fetched !== undefined && fetched.ok) {
  const pristine = fetched.dir;

  test('zstd builds on two nodes that cannot see its files; outputs identical to a local build', async () => {
    const dir = tmp('b-real-remote-');
    const src = path.join(dir, 'src');
    fs.cpSync(pristine, src, { recursive: true, verbatimSymlinks: true });
    const local = path.join(dir, 'L');
    const remote = path.join(dir, 'R');
    await configure(src, local);
    await configure(src, remote);
    const keys = tmp('b-remote-keys-');
    const env = { ...process.env, B_CONFIG_DIR: path.join(keys, 'cfg') };
    assert.is((await b(['keygen', path.join(keys, 'node')], { env })).code, 0);
    fs.writeFileSync(path.join(keys, 'clients.pub'), (await b(['keygen', '--show'], { env })).stdout);
    world = { dir, src, local, remote, keys, env, nodes: [] };
    world.nodes = await Promise.all([startNode(dir, keys), startNode(dir, keys)]);
    // What a node sees: the same namespaces, the tree hidden.
    const peek = spawnSync('ip', ['netns', 'exec', world.nodes[0]!.host.ns, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs none '${dir}' && ls '${src}/lib' '${local}'`], { encoding: 'utf8' });
    assert.is.not(peek.status, 0, `a node would see the client's files: ${peek.stdout}`);
    let t0 = Date.now();
    const l = await run(B, ['build', '-C', local, '-j', '2'], { timeout: STEP_MS });
    assert.is(l.code, 0, l.stderr.slice(-3000));
    log(`local build: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    t0 = Date.now();
    const r = await remoteBuild(remote);
    assert.is(r.code, 0, r.err.slice(-5000));
    const nodeIds = new Set(w().nodes.map((n) => n.id));
    const onNodes = r.ran.filter((e) => nodeIds.has(e.node ?? ''));
    const sent = r.ran.reduce((a, e) => a + (e.bytes?.sent ?? 0), 0);
    const received = r.ran.reduce((a, e) => a + (e.bytes?.received ?? 0), 0);
    log(`remote build: ${((Date.now() - t0) / 1000).toFixed(1)} s, ${onNodes.length} of ${r.ran.length} steps on the nodes, ${(sent / 1e6).toFixed(2)} MB sent, ${(received / 1e6).toFixed(2)} MB received`);
    for (const id of nodeIds) assert.ok(onNodes.some((e) => e.node === id), `node ${id} compiled something`);
    // Compiles, and the archive and links (rexec-link.ts); zstd's custom symlink targets stay here.
    const linked = ['lib/libzstd.a', 'programs/zstd', 'programs/zstd-frugal'];
    assert.ok(onNodes.every((e) => e.key.endsWith('.o') || linked.includes(e.key)), `only compiles, the archive and links left this machine: ${onNodes.map((e) => e.key).filter((k) => !k.endsWith('.o')).join(' ')}`);
    assert.ok(sent > 0 && received > 0);
    assert.match(r.err, /files moved: .* sent to nodes, .* received from them/, 'the build reports bytes moved');
    roundTrip(path.join(remote, 'programs', 'zstd'), dir);
    const objects = [...ninjaTargets(remote).keys()].filter((o) => o.endsWith('.o'));
    const d = compareTrees(local, remote, objects);
    assert.equal(d.missing, []);
    assert.equal(d.differ, [], `objects that differ from the local build: ${d.differ.join(' ')}`);
    assert.ok(d.same.length > 40, `${d.same.length} identical objects`);
  }, { timeout: 1_200_000 });

  test('after editing one .c file only its bytes go to the nodes', async () => {
    const { src, remote } = w();
    const file = path.join(src, 'lib/common/entropy_common.c');
    fs.appendFileSync(file, '\nint b_remote_test_marker(void) { return 42; }\n');
    // Everything that can go to a node does (--local 0): the compile must, the rest falls back.
    const r = await remoteBuild(remote, 0);
    assert.is(r.code, 0, r.err.slice(-3000));
    // The compile's bytes: the archive and links that follow ship an input the node that runs
    // them lacks when another node made it (the new libzstd.a, 2.3 MB): counted apart.
    const sent = r.ran.filter((e) => e.key.endsWith('.o')).reduce((a, e) => a + (e.bytes?.sent ?? 0), 0);
    const linkSent = r.ran.filter((e) => !e.key.endsWith('.o')).reduce((a, e) => a + (e.bytes?.sent ?? 0), 0);
    const compiled = r.ran.filter((e) => e.key.endsWith('.o')).map((e) => e.key);
    log(`one-file rebuild: ${compiled.length} compiles (${compiled.join(' ')}), ${sent} bytes sent for them, ${linkSent} for the archive and links`);
    assert.ok(compiled.length >= 1 && compiled.every((k) => k.includes('entropy_common')), `compiled: ${compiled.join(' ')}`);
    const nodeIds = new Set(w().nodes.map((n) => n.id));
    assert.ok(r.ran.some((e) => e.key.includes('entropy_common') && nodeIds.has(e.node ?? '')), 'the compile ran on a node');
    const size = fs.statSync(file).size;
    assert.ok(sent > 0 && sent <= size, `sent ${sent} bytes, the edited file has ${size}`);
    roundTrip(path.join(remote, 'programs', 'zstd'), w().dir);
  }, { timeout: 600_000 });

  test('the same build with a node killed halfway still succeeds', async () => {
    const { remote } = w();
    // A clean tree: every object, archive and program removed (B rebuilds what is missing).
    const clean = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) clean(p);
        else if (/\.(o|a)$/.test(e.name) || p === path.join(remote, 'programs', 'zstd')) fs.rmSync(p);
      }
    };
    clean(remote);
    const r = await remoteBuild(remote, 1, 12_000);
    assert.is(r.code, 0, r.err.slice(-5000));
    assert.match(r.err, /stopped answering/);
    roundTrip(path.join(remote, 'programs', 'zstd'), w().dir);
  }, { timeout: 1_200_000 });

  test.after(async () => {
    if (world) await Promise.all(world.nodes.map(stopNode));
  });
}

test.run();
