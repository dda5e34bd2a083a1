// `--cache-upload` (cache-upload.ts), end to end with the built executable and a real node: a
// client listed in the node's `--cache-writers` builds a small C project here and uploads its
// results; a second client (another key, another directory, an empty local cache) gets every
// compile from the node's cache, byte-identical. A client the node does not list builds fine,
// is told once (node and fix), and nothing of its build is served.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { B, b, run, startNode, stopNode, suite, tmp } from './helpers.ts';
import { user } from './raw.ts';
import { KEY_ENV } from '../src/action-env.ts';

const test = suite('cache-upload');

interface Ev { event: string; key: string; cache?: string; status?: string; node?: string }

/** The environment of a client whose declared environment (the key's) is empty. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of [...KEY_ENV, 'B_CACHE_ENV', 'B_CACHE', 'B_CACHE_UPLOAD', 'B_NODES']) delete env[k];
  return env;
}

const SOURCES = ['a', 'b', 'c'];

/** Three compiles and a link; `tag` makes the sources differ between tests (no hit from another test's uploads). */
function project(tag: string): string {
  const dir = tmp(`b-up-${tag}-`);
  const objs = SOURCES.map((s) => `${s}.o`).join(' ');
  // The compiles wait (order-only) for a console job, which runs here: by the time they are
  // placed this machine's workers are up, and a free local slot comes first (broker.ts place),
  // so they run here and not fenced on the node (--local 8 gives them the slots).
  fs.writeFileSync(path.join(dir, 'build.ninja'), `rule cc\n  command = cc -O1 -c $in -o $out\nrule ld\n  command = cc $in -o $out\nrule warm\n  command = sleep 1 && touch $out\n  pool = console\nbuild warm.stamp: warm\n${SOURCES.map((s) => `build ${s}.o: cc ${s}.c || warm.stamp\n`).join('')}build app: ld ${objs}\n`);
  for (const s of SOURCES) fs.writeFileSync(path.join(dir, `${s}.c`), s === 'a' ? `int b_${tag}(void); int c_${tag}(void);\nint main(void) { return b_${tag}() + c_${tag}() - 5; }\n` : `int ${s}_${tag}(void) { return ${s === 'b' ? 2 : 3}; }\n`);
  return dir;
}

function copyProject(from: string, tag: string): string {
  const dir = tmp(`b-up-${tag}-`);
  for (const f of ['build.ninja', ...SOURCES.map((s) => `${s}.c`)]) fs.copyFileSync(path.join(from, f), path.join(dir, f));
  return dir;
}

async function build(proj: string, env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number | null; err: string; events: Ev[] }> {
  const ev = `${proj}.events`;
  const r = await run(B, ['build', '-C', proj, '--heartbeat', '100', '--events', ev, ...args], { env, timeout: 60_000 });
  const events = fs.existsSync(ev) ? fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev) : [];
  fs.rmSync(ev, { force: true });
  return { code: r.code, err: r.stderr, events };
}

const compiles = (events: Ev[]): Ev[] => events.filter((e) => e.event === 'finish' && /\.o$/.test(e.key)).sort((x, y) => x.key.localeCompare(y.key));
const cc = spawnSync('cc', ['--version']).status === 0;

if (!cc) test.skip('uploads', 'no C compiler (cc) here');
else {
  let world: { dir: string; writer: Awaited<ReturnType<typeof user>>; other: Awaited<ReturnType<typeof user>>; reader: Awaited<ReturnType<typeof user>>; node: Awaited<ReturnType<typeof startNode>>; pinned: string } | undefined;
  const w = (): NonNullable<typeof world> => {
    if (!world) throw new Error('setup failed (see the first test)');
    return world;
  };

  test('a cache writer uploads what it ran here; another client in another directory gets every compile from the node', async () => {
    const dir = tmp('b-up-');
    const [writer, other, reader] = await Promise.all([user(dir, 'writer'), user(dir, 'other'), user(dir, 'reader')]);
    const nodeKeys = path.join(dir, 'node');
    assert.is((await b(['keygen', nodeKeys])).code, 0);
    fs.writeFileSync(path.join(dir, 'clients.pub'), [writer, other, reader].map((u) => u.key.publicKey).join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'writers.pub'), `${writer.key.publicKey}\n`);
    const node = await startNode(['--workers', '1', '--key', `${nodeKeys}.key`, '--allow', path.join(dir, 'clients.pub'), '--cache-writers', path.join(dir, 'writers.pub')], { B_CACHE_DIR: tmp('b-up-node-') });
    world = { dir, writer, other, reader, node, pinned: `${node.endpoint}#${nodeKeys}.pub` };
    const proj = project('w');
    // Every compile runs here (see project()), so what the node serves later is what was uploaded.
    const a = await build(proj, cleanEnv({ ...writer.env, B_CACHE_DIR: tmp('b-up-wc-') }), ['--cache-upload', '--node', w().pinned, '--local', '8']);
    assert.is(a.code, 0, a.err);
    assert.equal(compiles(a.events).map((e) => e.cache), ['miss', 'miss', 'miss'], JSON.stringify(a.events));
    assert.equal(compiles(a.events).map((e) => e.node), ['local', 'local', 'local'], 'the compiles ran here');
    assert.ok(/action cache: uploaded 3 results \(\d+ bytes\) to 1 node/.test(a.err), `${a.err}\n${JSON.stringify(a.events.filter((e) => e.event === "finish"))}`);
    assert.not.match(a.err, /refused|failed/);
    const second = copyProject(proj, 'r');
    const r = await build(second, cleanEnv({ ...reader.env, B_CACHE_DIR: tmp('b-up-rc-') }), ['--cache', '--node', w().pinned]);
    assert.is(r.code, 0, r.err);
    assert.equal(compiles(r.events).map((e) => e.cache), SOURCES.map(() => `node:${node.id}`), JSON.stringify(compiles(r.events)));
    assert.match(r.err, new RegExp(`action cache: 3 hits of 4 \\(75%\\).*node ${node.id} 3`));
    for (const s of SOURCES) assert.ok(fs.readFileSync(path.join(proj, `${s}.o`)).equals(fs.readFileSync(path.join(second, `${s}.o`))), `${s}.o is byte-identical`);
    assert.is(spawnSync(path.join(second, 'app')).status, 0, 'the program links and runs');
  }, { timeout: 60_000 });

  test('a client the node does not list as a cache writer: its build succeeds, it is told once (node, fix), and nothing is served', async () => {
    const { other, reader, node, pinned } = w();
    const proj = project('o');
    const a = await build(proj, cleanEnv({ ...other.env, B_CACHE_DIR: tmp('b-up-oc-') }), ['--cache-upload', '--node', pinned, '--local', '8']);
    assert.is(a.code, 0, a.err);
    const told = a.err.split('\n').filter((l) => l.includes(`node ${node.id} refused`));
    assert.is(told.length, 1, a.err);
    assert.match(told[0]!, /b keygen --show/);
    assert.match(told[0]!, /--cache-writers/);
    assert.not.match(a.err, /uploaded \d+ result/);
    const second = copyProject(proj, 'or');
    const r = await build(second, cleanEnv({ ...reader.env, B_CACHE_DIR: tmp('b-up-orc-') }), ['--cache', '--node', pinned, '--local', '8']);
    assert.is(r.code, 0, r.err);
    assert.equal(compiles(r.events).map((e) => e.cache), ['miss', 'miss', 'miss'], JSON.stringify(compiles(r.events)));
  }, { timeout: 60_000 });

  test.after(async () => {
    if (world) await stopNode(world.node);
  });
}

test.run();
