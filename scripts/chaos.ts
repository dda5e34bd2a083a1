// Chaos: SIGKILL the client, and separately a build node, at random moments of a real build
// (zstd 1.5.4, Debian's libzstd source, CMake + Ninja), N times each. After each kill the next
// build must succeed and every object it leaves must be byte-identical to a clean build's.
//
//   node scripts/chaos.ts [--n 20] [--seed 1] [--jobs 2] [--only client|node]
//
// Client kills: `b build -C tree` is SIGKILLed at a uniformly random moment of a clean build's
// duration; then `b build` runs to completion and the tree's objects are compared with a
// reference tree built once, cleanly, by B. Node kills: a `b node` on loopback that cannot see
// the tree (its own mount namespace with a tmpfs over it, so it gets self-contained compiles
// and uses its store; needs root, else a node that shares the files) is SIGKILLed at a random
// moment while a build with one local slot uses it; that build must still succeed (its items
// are placed again) or, if not, the next one. Each round starts from a clean tree (`b ninja -t
// clean`) so that there is something to kill. Trees have names of the same length, so no path
// differs between the objects (Release, no -g).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { debianSource, ensureTools, ninjaShim, objects } from '../test/real-sources.ts';

const root = path.resolve(import.meta.dirname, '..');
const exe = path.join(root, 'dist', `b-${process.platform === 'darwin' ? 'macos' : process.platform}-${process.arch}`);
const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const N = opt('--n', 20);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const JOBS = String(opt('--jobs', 2));
let seed = opt('--seed', 1);
/** Deterministic random numbers (mulberry32): a failing round can be replayed with --seed. */
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const say = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

const children = new Set<ChildProcess>();
const dirs: string[] = [];
function cleanup(): void {
  for (const c of children) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => process.exit(130));

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  ms: number;
}

/** Runs a process in its own group; `killAfterMs` SIGKILLs the group at that moment. */
function runProc(cmd: string, argv: string[], opts: { env?: NodeJS.ProcessEnv; killAfterMs?: number; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const c = spawn(cmd, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    children.add(c);
    let out = '';
    c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const kill = (): void => {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const k = opts.killAfterMs !== undefined ? setTimeout(kill, opts.killAfterMs) : undefined;
    const t = setTimeout(kill, opts.timeoutMs ?? 900_000);
    c.on('close', (code, signal) => {
      clearTimeout(k);
      clearTimeout(t);
      children.delete(c);
      resolve({ code, signal, out, ms: Date.now() - t0 });
    });
  });
}

function differences(ref: Map<string, Buffer>, tree: string): string[] {
  const got = objects(tree);
  const bad: string[] = [];
  for (const [k, v] of ref) if (!got.get(k)?.equals(v)) bad.push(k);
  for (const k of got.keys()) if (!ref.has(k)) bad.push(`${k} (extra)`);
  return bad;
}

/** B as CMake's make program: the `ninja` symlink (argv[0] selects B's Ninja personality). */
let makeProgram = exe;

async function configure(src: string, tree: string): Promise<void> {
  const r = spawnSync('cmake', ['-G', 'Ninja', '-S', path.join(src, 'build/cmake'), '-B', tree, '-DCMAKE_BUILD_TYPE=Release',
    '-DZSTD_BUILD_PROGRAMS=ON', '-DZSTD_BUILD_TESTS=OFF', '-DZSTD_BUILD_SHARED=OFF', `-DCMAKE_MAKE_PROGRAM=${makeProgram}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cmake failed for ${tree}:\n${r.stdout}${r.stderr}`);
}

async function clean(tree: string): Promise<void> {
  const r = await runProc(exe, ['ninja', '-C', tree, '-t', 'clean']);
  if (r.code !== 0) throw new Error(`clean failed: ${r.out}`);
}

async function startNode(hide: string, cache: string): Promise<{ proc: ChildProcess; endpoint: string }> {
  const isRoot = process.getuid?.() === 0;
  const nodeArgs = ['node', '--workers', '2', '--heartbeat', '200', '--listen', 'tcp://127.0.0.1:*'];
  const proc = isRoot
    ? spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs none '${hide}' && exec '${exe}' ${nodeArgs.map((a) => `'${a}'`).join(' ')}`], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, B_CACHE_DIR: cache } })
    : spawn(exe, nodeArgs, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, B_CACHE_DIR: cache } });
  children.add(proc);
  proc.on('close', () => children.delete(proc));
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', () => undefined);
  const t0 = Date.now();
  while (!/listening on (tcp:\S+)/.test(out)) {
    if (Date.now() - t0 > 30_000 || proc.exitCode !== null) throw new Error(`node did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, endpoint: /listening on (tcp:\S+)/.exec(out)![1]! };
}

async function main(): Promise<void> {
  if (!fs.existsSync(exe)) throw new Error(`${exe} is missing: npm run build:host first`);
  const tools = ensureTools(['cmake', 'cc']);
  if (!tools.ok) throw new Error(tools.why);
  const fetched = debianSource('libzstd');
  if (!fetched.ok) throw new Error(`cannot fetch libzstd: ${fetched.why}`);
  const world = fs.mkdtempSync(path.join(os.tmpdir(), 'b-chaos-'));
  dirs.push(world);
  // The source is copied into the world so that a node's tmpfs over the world hides it too.
  const src = path.join(world, 'src');
  fs.cpSync(fetched.dir, src, { recursive: true });
  const shim = ninjaShim(path.join(world, 'bin'), exe);
  if (!shim.works) throw new Error(`the ninja symlink to B does not answer --version: ${shim.version}`);
  makeProgram = shim.bin;
  const ref = path.join(world, 'r');
  const tree = path.join(world, 'c');
  await configure(src, ref);
  await configure(src, tree);
  const env = { ...process.env, B_CACHE_DIR: path.join(world, 'client-cache') };
  const first = await runProc(exe, ['build', '-C', ref, '-j', JOBS], { env });
  if (first.code !== 0) throw new Error(`clean reference build failed:\n${first.out}`);
  const cleanMs = first.ms;
  const reference = objects(ref);
  say(`reference: clean build of zstd ${fetched.version} in ${(cleanMs / 1000).toFixed(1)} s, ${reference.size} objects and archives`);

  const tally = { client: { kills: 0, nextOk: 0, identical: 0 }, node: { kills: 0, buildOk: 0, nextOk: 0, identical: 0 } };
  const failures: string[] = [];

  for (let i = 0; i < (only === 'node' ? 0 : N); i++) {
    await clean(tree);
    const at = Math.round(200 + random() * (cleanMs * 0.9));
    const killed = await runProc(exe, ['build', '-C', tree, '-j', JOBS], { env, killAfterMs: at });
    if (killed.signal === 'SIGKILL') tally.client.kills++;
    const next = await runProc(exe, ['build', '-C', tree, '-j', JOBS], { env });
    if (next.code === 0) tally.client.nextOk++;
    else failures.push(`client round ${i} (killed at ${at} ms): next build exit ${next.code}:\n${next.out.slice(-2000)}`);
    const diff = differences(reference, tree);
    if (diff.length === 0) tally.client.identical++;
    else failures.push(`client round ${i} (killed at ${at} ms): ${diff.length} objects differ: ${diff.slice(0, 5).join(', ')}`);
    say(`client kill ${i + 1}/${N} at ${at} ms: ${killed.signal === 'SIGKILL' ? 'killed' : `finished first (exit ${killed.code})`}; next build exit ${next.code}; ${diff.length === 0 ? 'objects identical' : `${diff.length} objects DIFFER`}`);
  }

  // A build with a node is faster than the clean local one: kill moments drawn from the local
  // build's duration missed it in 7 of 20 rounds (it had finished). Drawn from the shortest
  // build with the node seen so far instead.
  let nodeMs = cleanMs;
  for (let i = 0; i < (only === 'client' ? 0 : N); i++) {
    await clean(tree);
    const cache = path.join(world, 'node-cache');
    const node = await startNode(world, cache);
    const at = Math.round(200 + random() * (nodeMs * 0.9));
    let hit = false;
    const timer = setTimeout(() => {
      try {
        process.kill(-node.proc.pid!, 'SIGKILL');
        hit = true;
        tally.node.kills++;
      } catch {
        // gone
      }
    }, at);
    const during = await runProc(exe, ['build', '-C', tree, '-j', JOBS, '--node', node.endpoint, '--local', '1', '--heartbeat', '200'], { env });
    clearTimeout(timer);
    if (during.code === 0 && during.ms < at) nodeMs = Math.min(nodeMs, during.ms);
    try {
      process.kill(-node.proc.pid!, 'SIGKILL');
    } catch {
      // gone
    }
    if (during.code === 0) tally.node.buildOk++;
    const next = during.code === 0 ? during : await runProc(exe, ['build', '-C', tree, '-j', JOBS], { env });
    if (next.code === 0) tally.node.nextOk++;
    else failures.push(`node round ${i} (killed at ${at} ms): next build exit ${next.code}:\n${next.out.slice(-2000)}`);
    const diff = differences(reference, tree);
    if (diff.length === 0) tally.node.identical++;
    else failures.push(`node round ${i} (killed at ${at} ms): ${diff.length} objects differ: ${diff.slice(0, 5).join(', ')}`);
    say(`node kill ${i + 1}/${N} at ${at} ms: ${hit ? 'killed' : 'finished first'}; build during the kill exit ${during.code}${during.code === 0 ? '' : `, next build exit ${next.code}`}; ${diff.length === 0 ? 'objects identical' : `${diff.length} objects DIFFER`}`);
  }

  say('');
  if (only !== 'node') say(`client SIGKILLed ${tally.client.kills} of ${N} rounds; next build succeeded ${tally.client.nextOk}/${N}; objects identical ${tally.client.identical}/${N}`);
  if (only !== 'client') say(`node SIGKILLed ${tally.node.kills} of ${N} rounds; build during the kill succeeded ${tally.node.buildOk}/${N}; next build succeeded ${tally.node.nextOk}/${N}; objects identical ${tally.node.identical}/${N}`);
  for (const f of failures) say(`FAILED: ${f}`);
  process.exitCode = failures.length === 0 ? 0 : 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`chaos: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
});
