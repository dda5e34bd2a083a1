// Fuzzes B's wire protocol: random and mutated frames of every message type, for a bounded time,
// against a node (an authenticated raw client: what any allowed peer could send) and against a
// client (a fake node that `b build` uses, spraying the same at it). Then a build through the
// node, with the fake node still configured, must be correct. Prints frames sent, refusals the
// node counted, and crashes (must be 0).
//
//   node scripts/fuzz-protocol.ts [--seconds 60] [--seed N]      (FUZZ_DEBUG=1: the node's log)

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as zmq from 'zeromq';
import { T, encode } from '../src/protocol.ts';
import { readKeyPair, sessionId } from '../src/keys.ts';
import { platform } from '../src/toolchain.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = arg('--seconds', 60);
const SEED = arg('--seed', Date.now() % 1e9);
let seed = SEED;
// A 32-bit LCG (Math.imul: a float product of a large seed would lose its low bits).
const rnd = (m: number): number => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) % m;
const exe = path.resolve(import.meta.dirname, '..', 'dist', `b-${process.platform}-${process.arch}`);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'b-fuzz-'));
const env = { ...process.env, B_CONFIG_DIR: path.join(work, 'cfg') };
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(work, { recursive: true, force: true });
});

const cmd = { k: 'cmd', cmd: 'true', cwd: work, outs: [], depfile: '', deps: '', msvcPrefix: '', rspfile: '', rspfileContent: '', console: false };
/** One valid body of every message type, to mutate. */
const templates: Buffer[][] = [
  encode(T.HELLO, 0, { protocol: 1, b: 'fuzz', role: 'client', name: 'fuzz' }),
  encode(T.SUBMIT, 1, [{}, cmd]),
  encode(T.SUBMIT, 2, [{ via: ['x'], remote: false }, { k: 'probe', tools: ['cc'] }]),
  encode(T.SUBMIT, 3, [{}, { k: 'cas-get', digest: 'a'.repeat(64), offset: 0, length: 10 }]),
  encode(T.SUBMIT, 9, [{}, { k: 'exec', argv: ['true'] }]),
  encode(T.SUBMIT, 10, [{ root: work }, { k: 'fenced', cmd: 'true', cwd: work, outs: ['o'], depfile: '', deps: '', msvcPrefix: '', rspfile: '', rspfileContent: '' }]),
  encode(T.SUBMIT, 11, [{ root: work }, { k: 'rule', file: path.join(work, 'Bfile.mjs'), dir: work, rule: 'file:o', key: 'o', outs: ['o'], stem: '', fenced: true }]),
  encode(T.RESULT, 2, { outputs: {}, output: '', commands: [], fenced: [{ path: path.join(work, 'o'), digest: 'a'.repeat(32), size: 1, mode: 420 }] }),
  encode(T.NEED, 4, { op: 'status' }),
  encode(T.NEED, 5, { op: 'need', task: 1, keys: ['status'] }),
  encode(T.NEED, 6, { op: 'blob', task: 1, digest: 'a'.repeat(64), offset: 0, length: 10 }),
  encode(T.NEED, 7, { op: 'build', dir: work, targets: [], keepGoing: 1, dryRun: false, explain: false, events: false, env: {} }),
  encode(T.CANCEL, 1), encode(T.PING, 8), encode(T.BYE, 0), encode(T.WAKE, 1),
  encode(T.WELCOME, 0, { protocol: 1, b: 'x', node: 'fake', workers: 2, local: 2, platform: platform() }),
  encode(T.RESULT, 1, { exit: 0, output: '', outputs: {}, deps: [] }),
  encode(T.FAILURE, 1, { code: 'x', message: 'y' }), encode(T.ANSWER, 1, { answers: [] }), encode(T.EVENT, 1, '{}'),
  // A real batch (need-messages.ts parseEventBatch: line by line, from one decoded text), to mutate.
  encode(T.EVENT, 1, '{"event":"start","key":"a.o","t":1}\n{"event":"finish","key":"a.o","status":"ok","ran":true,"bytes":{"sent":1,"received":2}}\n'),
  encode(T.PONG, 1, { node: 'n', free: 1 }), encode(T.ERROR, 0, { code: 'x', message: 'y' }),
  encode(T.READY, 0, { worker: 'w1' }), encode(T.DONE, 1, '{}'), encode(T.FAIL, 1, { code: 'x', message: 'y' }),
  encode(T.SUSPEND, 1), encode(T.WORK, 1, '{}'), encode(T.RESUME, 1), encode(T.STOP, 0),
];

function mutate(): Buffer[] {
  const kind = rnd(6);
  if (kind === 5) return templates[rnd(templates.length)]!; // valid frames, maybe not for this role
  if (kind === 0) return Array.from({ length: 1 + rnd(4) }, () => Buffer.from(Array.from({ length: rnd(64) }, () => rnd(256))));
  const frames = templates[rnd(templates.length)]!.map((f) => Buffer.from(f));
  const f = frames[rnd(frames.length)]!;
  if (kind === 1 && f.length > 0) for (let i = 0; i < 1 + rnd(4); i++) f[rnd(f.length)] = rnd(256);
  else if (kind === 2) frames.push(Buffer.from('extra'));
  else if (kind === 3 && frames.length > 1) {
    // Valid JSON, hostile content: extra keys, duplicate keys, wrong types.
    const j = frames[1]!.toString();
    const variants = [j.replace(/^\{/, '{"x":{"op":"need"},'), j.replace(/^\{/, '{"op":"build",'), j.replace(/:"[^"]*"/, ':12'), j.replace(/\}$/, ',"k":"exec"}')];
    frames[1] = Buffer.from(variants[rnd(variants.length)]!);
  } else if (kind === 4) frames[0]![2] = rnd(256);
  return frames;
}

async function startNode(): Promise<{ proc: ChildProcess; endpoint: string }> {
  const proc = spawn(exe, ['node', '--listen', 'tcp://127.0.0.1:*', '--workers', '2', '--heartbeat', '200', ...(process.env.FUZZ_DEBUG ? ['--verbose'] : [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => { if (process.env.FUZZ_DEBUG) process.stderr.write(d); });
  for (let i = 0; i < 600 && !/listening on tcp:\/\/\S+/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
  const endpoint = /listening on (tcp:\/\/\S+)/.exec(out)?.[1];
  if (endpoint === undefined) throw new Error(`node did not start: ${out}`);
  return { proc, endpoint };
}

async function main(): Promise<number> {
  spawnSync(exe, ['keygen', '--show'], { env });
  const key = readKeyPair(path.join(work, 'cfg', 'client.key'));
  const node = await startNode();
  // Against the node: an allowed client (session id proves its key), sending garbage.
  const raw = new zmq.Dealer({ linger: 0, routingId: sessionId(key, key.publicKey), curvePublicKey: key.publicKey, curveSecretKey: key.secretKey, curveServerKey: key.publicKey, sendHighWaterMark: 1000 });
  raw.connect(node.endpoint);
  void (async () => {
    try {
      for (;;) await raw.receive();
    } catch {
      // closed
    }
  })();
  // Against a client: a fake node the client uses beside the real one.
  const fakeKey = zmq.curveKeyPair();
  const fake = new zmq.Router({ linger: 0, curveServer: true, curvePublicKey: fakeKey.publicKey, curveSecretKey: fakeKey.secretKey });
  await fake.bind('tcp://127.0.0.1:*');
  const peers = new Set<string>();
  void (async () => {
    try {
      for (;;) {
        const [rid] = await fake.receive();
        if (rid !== undefined) peers.add(rid.toString('latin1'));
      }
    } catch {
      // closed
    }
  })();
  const proj = path.join(work, 'proj');
  fs.mkdirSync(proj);
  const N = 40;
  fs.writeFileSync(path.join(proj, 'build.ninja'), ['rule s', '  command = echo $out > $out', ...Array.from({ length: N }, (_, i) => `build o${i}: s`), `default ${Array.from({ length: N }, (_, i) => `o${i}`).join(' ')}`, ''].join('\n'));
  const nodes = ['--node', node.endpoint, '--node', `${fake.lastEndpoint!}#${fakeKey.publicKey}`];
  // A long build (the client stays up while the fake node sprays it), then the checked one.
  const longProj = path.join(work, 'long');
  fs.mkdirSync(longProj);
  fs.writeFileSync(path.join(longProj, 'build.ninja'), `rule s\n  command = sleep ${SECONDS + 5}; touch $out\nbuild o: s\ndefault o\n`);
  const victim = spawn(exe, ['build', '-C', longProj, '--local', '1', ...nodes], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(victim);
  let victimErr = '';
  victim.stderr!.on('data', (d: Buffer) => (victimErr += d.toString()));
  let crashes = 0;
  victim.on('exit', (code, sig) => {
    if (sig !== null && sig !== 'SIGKILL' && sig !== 'SIGINT') crashes++;
    else if (code !== null && code !== 0 && code !== 130) crashes++;
  });
  const t0 = Date.now();
  let sent = 0;
  while (Date.now() - t0 < SECONDS * 1000) {
    // A valid HELLO now and then, so that mutated requests reach the validators behind it.
    await raw.send(sent % 50 === 0 ? templates[0]! : mutate());
    sent++;
    for (const rid of peers) {
      await fake.send([Buffer.from(rid, 'latin1'), ...mutate()]).catch(() => {});
      sent++;
    }
    if (sent % 200 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  raw.close();
  if (node.proc.exitCode !== null) crashes++;
  if (victim.exitCode !== null && victim.exitCode !== 0) crashes++;
  const r = spawnSync(exe, ['build', '-C', proj, '--local', '0', ...nodes], { env, encoding: 'utf8', timeout: 120_000 });
  let correct = r.status === 0;
  for (let i = 0; i < N && correct; i++) correct = fs.readFileSync(path.join(proj, `o${i}`), 'utf8').trim() === `o${i}`;
  const st = spawnSync(exe, ['status', '--node', node.endpoint, '--json'], { env, encoding: 'utf8', timeout: 20_000 });
  const status = JSON.parse(st.stdout || '{}') as { stats?: { dropped?: number }; dropped?: Record<string, number> };
  victim.kill('SIGINT');
  fake.close();
  node.proc.kill('SIGINT');
  await new Promise((res) => node.proc.once('exit', res));
  if (node.proc.signalCode !== null && node.proc.signalCode !== 'SIGINT') crashes++;
  process.stdout.write(`fuzz-protocol: ${SECONDS} s, seed ${SEED}: ${sent} frames sent (node and client)\n`);
  process.stdout.write(`refusals counted by the node: ${status.stats?.dropped ?? '?'} ${JSON.stringify(status.dropped ?? {})}\n`);
  process.stdout.write(`crashes: ${crashes}${crashes > 0 ? ` (client stderr: ${victimErr.slice(-500)})` : ''}\n`);
  process.stdout.write(`build through them afterwards: ${correct ? 'correct' : `WRONG (exit ${r.status}): ${r.stderr.slice(-800)}`}\n`);
  return crashes === 0 && correct ? 0 : 1;
}

main().then((c) => process.exit(c), (e: unknown) => {
  process.stderr.write(`fuzz-protocol: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
