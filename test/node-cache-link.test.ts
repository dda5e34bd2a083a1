// Links and static archives on build nodes that share neither network nor files with the client
// (issue 13, rexec-link.ts): they run there, come back byte-identical to a local build, and a
// second checkout gets them from the node's cache; a node that lacks the objects fetches them
// from the client; a client with another linker is never served the node's link.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { B, b, exited, run, start, suite, tmp } from './helpers.ts';
import { netnsAvailable, startHiddenNode, stopHiddenNode, type HiddenNode } from './netns.ts';

const test = suite('node-cache-link');
const STEP_MS = 120_000;

// CMake's rules for a static library and an executable, as zstd's build.ninja has them.
const NINJA = `rule cc
  command = cc -O2 -c $in -o $out
rule archive
  command = : && rm -f $out && ar qc $out $in && ranlib $out && :
rule link
  command = : && cc -z noexecstack $in -o $out $libs && :
build f.o: cc f.c
build g.o: cc g.c
build m.o: cc m.c
build libfg.a: archive f.o g.o
build prog: link m.o | libfg.a
  libs = libfg.a
`;

/** A project whose program exits 0 when f() + g() is 12. */
function project(dir: string, f = 7, g = 5): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'build.ninja'), NINJA);
  fs.writeFileSync(path.join(dir, 'f.c'), `int f(void) { return ${f}; }\n`);
  fs.writeFileSync(path.join(dir, 'g.c'), `int g(void) { return ${g}; }\n`);
  fs.writeFileSync(path.join(dir, 'm.c'), 'int f(void); int g(void);\nint main(void) { return f() + g() == 12 ? 0 : 1; }\n');
  return dir;
}

interface Ev { event: string; key: string; ran?: boolean; node?: string; cache?: string }

async function build(tree: string, env: NodeJS.ProcessEnv, nodes: HiddenNode[], extra: string[] = []): Promise<{ err: string; done: Map<string, Ev> }> {
  const ev = `${tree}.events`;
  const c = start(B, ['build', '-C', tree, '--cache', '--local', '0', '--heartbeat', '200', '--events', ev, ...nodes.flatMap((n) => ['--node', n.addr]), ...extra], { env });
  let err = '';
  c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  c.stdout?.resume();
  const r = await exited(c, STEP_MS);
  assert.is(r.code, 0, err.slice(-3000));
  const events = fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev);
  fs.rmSync(ev, { force: true });
  return { err, done: new Map(events.filter((e) => e.event === 'finish').map((e) => [e.key, e])) };
}

/** The archive and the executable of a tree built by B alone, without cache or nodes. */
async function localBuild(tree: string, env: NodeJS.ProcessEnv): Promise<Map<string, Buffer>> {
  const r = await run(B, ['ninja', '-C', tree], { timeout: STEP_MS, env: { ...env, B_CACHE: '' } });
  assert.is(r.code, 0, r.stderr);
  return outputs(tree);
}

function outputs(tree: string): Map<string, Buffer> {
  return new Map(['libfg.a', 'prog'].map((f) => [f, fs.readFileSync(path.join(tree, f))]));
}

function sameBytes(a: Map<string, Buffer>, b: Map<string, Buffer>, what: string): void {
  for (const [k, v] of a) assert.ok(b.get(k)?.equals(v), `${what}: ${k} differs from the local build`);
}

const noNetns = netnsAvailable();
let nodes: HiddenNode[] = [];

if (noNetns !== undefined) {
  test.skip('links and archives on hidden nodes', noNetns);
} else {
  test('a link and an archive run on a hidden node, come back identical, and a second checkout gets them from its cache', async () => {
    const dir = tmp('b-nc-link-');
    const keys = tmp('b-nc-link-keys-');
    const env = { ...process.env, B_CONFIG_DIR: path.join(keys, 'cfg') };
    assert.is((await b(['keygen', path.join(keys, 'node')], { env })).code, 0);
    fs.writeFileSync(path.join(keys, 'clients.pub'), (await b(['keygen', '--show'], { env })).stdout);
    nodes = [await startHiddenNode(dir, keys)];
    const id = nodes[0]!.id;
    const local = await localBuild(project(path.join(dir, 'L')), env);

    const one = project(path.join(dir, '1'));
    const cold = await build(one, { ...env, B_CACHE_DIR: path.join(dir, 'cache-1') }, nodes);
    for (const k of ['libfg.a', 'prog']) {
      const e = cold.done.get(k);
      assert.is(e?.node, id, `${k} ran on the node: ${JSON.stringify(e)}`);
      assert.is(e?.cache, 'miss', `${k} was a cacheable miss`);
    }
    sameBytes(local, outputs(one), 'first checkout, through the node');
    assert.is((await run(path.join(one, 'prog'), [], { timeout: 10_000 })).code, 0, 'the program runs');

    const two = project(path.join(dir, '2'));
    const warm = await build(two, { ...env, B_CACHE_DIR: path.join(dir, 'cache-2') }, nodes);
    for (const k of ['f.o', 'g.o', 'm.o', 'libfg.a', 'prog']) assert.is(warm.done.get(k)?.cache, `node:${id}`, `${k} from the node's cache: ${JSON.stringify(warm.done.get(k))}`);
    assert.match(warm.err, /action cache: 5 hits of 5/);
    sameBytes(local, outputs(two), 'second checkout, from the node\'s cache');
  }, { timeout: 400_000 });

  test('a node without the objects fetches them from the client; a client with another linker is never served the node\'s link', async () => {
    const dir = tmp('b-nc-link2-');
    const keys = tmp('b-nc-link2-keys-');
    const env = { ...process.env, B_CONFIG_DIR: path.join(keys, 'cfg') };
    assert.is((await b(['keygen', path.join(keys, 'node')], { env })).code, 0);
    fs.writeFileSync(path.join(keys, 'clients.pub'), (await b(['keygen', '--show'], { env })).stdout);
    const node = await startHiddenNode(dir, keys);
    nodes.push(node);
    // Objects the node never saw: compiled here, of a source no checkout the node built has.
    const three = project(path.join(dir, '3'), 9, 3);
    const r = await run(B, ['ninja', '-C', three, 'f.o', 'g.o', 'm.o'], { timeout: STEP_MS, env: { ...env, B_CACHE: '' } });
    assert.is(r.code, 0, r.stderr);
    const local = await localBuild(project(path.join(dir, 'L'), 9, 3), env);
    const got = await build(three, { ...env, B_CACHE_DIR: path.join(dir, 'cache-3') }, [node]);
    for (const k of ['libfg.a', 'prog']) assert.is(got.done.get(k)?.node, node.id, `${k} ran on the node: ${JSON.stringify(got.done.get(k))}`);
    sameBytes(local, outputs(three), 'objects the node had to fetch');

    // Another linker here (its --version differs): the node's link is neither asked for nor run there.
    const fake = tmp('b-nc-link-ld-');
    fs.writeFileSync(path.join(fake, 'ld'), '#!/bin/sh\nif [ "$1" = --version ]; then echo "GNU ld (another build) 9.99"; exit 0; fi\nexec /usr/bin/ld "$@"\n', { mode: 0o755 });
    const four = project(path.join(dir, '4'), 9, 3);
    const other = await build(four, { ...env, PATH: `${fake}:${process.env.PATH ?? ''}`, B_CACHE_DIR: path.join(dir, 'cache-4') }, [node]);
    assert.is(other.done.get('libfg.a')?.cache, `node:${node.id}`, 'the archive does not use the linker: still a hit');
    const prog = other.done.get('prog');
    assert.is(prog?.cache, 'miss', `the link is a miss: ${JSON.stringify(prog)}`);
    assert.is.not(prog?.node, node.id, 'and did not run on the node');
    assert.match(other.err, /different link:cc/);
  }, { timeout: 400_000 });

  test.after(async () => {
    await Promise.all(nodes.map(stopHiddenNode));
  });
}

test.run();
