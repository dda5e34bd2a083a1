// The answers a build node gives the client (build events, the build's reply, a node's status):
// their shapes as pure decoders, and `b status` against a fake node that answers garbage, as a
// hostile node on the network would.
import * as assert from 'uvu/assert';
import * as zmq from 'zeromq';
import { b, suite } from './helpers.ts';
import { parseBuildReply, parseEventBatch, parseNodeStatus, type BuildReply, type NodeStatus } from '../src/need-messages.ts';
import { T, decode, encode, isProtocolError, PROTOCOL_VERSION } from '../src/protocol.ts';
import { VERSION } from '../src/version.ts';

const test = suite('answers');
const J = (x: unknown): Buffer => Buffer.from(JSON.stringify(x));

test('an event batch decodes line by line, with reasons and terminations as tagged data', () => {
  const batch = Buffer.from([
    JSON.stringify({ event: 'run', key: 'a.o', t: 1, reason: { kind: 'input-changed', output: 'a.o', input: 'a.c', generated: false } }),
    JSON.stringify({ event: 'finish', key: 'a.o', status: 'failed', termination: { kind: 'exit', code: 2 }, error: { code: 'cmd', message: 'x', fields: { exit: 2, signal: '' } } }),
    '',
  ].join('\n'));
  const r = parseEventBatch(batch);
  if (isProtocolError(r)) throw new Error(r.message);
  assert.is(r.length, 2);
  assert.equal(r[0]!.reason, { kind: 'input-changed', output: 'a.o', input: 'a.c', generated: false });
  assert.equal(r[1]!.termination, { kind: 'exit', code: 2 });
});

test('one bad event refuses the whole batch: unknown kinds, a variant\'s missing or extra fields, unknown events', () => {
  const bad: unknown[] = [
    { event: 'run', key: 'a', reason: { kind: 'because', output: 'a' } },
    { event: 'run', key: 'a', reason: { kind: 'input-changed', output: 'a', input: 'b' } },
    { event: 'run', key: 'a', reason: { kind: 'always', output: 'a' } },
    { event: 'run', key: 'a', reason: 'always' },
    { event: 'finish', key: 'a', termination: { kind: 'exit', code: '2' } },
    { event: 'explode', key: 'a' },
    { event: 'finish', key: 'a', status: 'fine' },
    { event: 'finish', key: 'a', cache: 'elsewhere' },
    { event: 'finish', key: 'a', error: { code: 'x', message: 'y', fields: { a: { b: 1 } } } },
    { event: 'start', key: 'a', extra: 1 },
  ];
  for (const e of bad) {
    const r = parseEventBatch(Buffer.from(`${JSON.stringify({ event: 'start', key: 'ok' })}\n${JSON.stringify(e)}\n`));
    assert.ok(isProtocolError(r), `accepted ${JSON.stringify(e)}`);
  }
  assert.ok(isProtocolError(parseEventBatch(Buffer.from('{"event":"start","key":"a"}\nnot json\n'))));
  assert.ok(isProtocolError(parseEventBatch(Buffer.from('{"event":"start","key":"a"}\n{"event":"start","key":"a","key":"b"}\n'))), 'a duplicate key');
  assert.ok(isProtocolError(parseEventBatch(Buffer.from('{"event":"start","key":"a"}\n[1]\n'))), 'not an object');
});

const reply: BuildReply = { ok: true, ran: 1, upToDate: 2, failed: 0, errors: [], dead: [], notices: [], ms: 5, hashed: 1, stats: 3, phases: { load: 1, db: 1, build: 3 } };

test('a build reply decodes strictly', () => {
  assert.equal(parseBuildReply(J(reply)), reply);
  assert.ok(isProtocolError(parseBuildReply(J({ ...reply, ran: -1 }))));
  assert.ok(isProtocolError(parseBuildReply(J({ ...reply, errors: [{ code: 'x' }] }))));
  assert.ok(isProtocolError(parseBuildReply(J({ ...reply, admin: true }))));
  const { ok: _ok, ...noOk } = reply;
  assert.ok(isProtocolError(parseBuildReply(J(noOk))));
});

const status: NodeStatus = {
  node: 'n1', b: VERSION, protocol: PROTOCOL_VERSION, platform: 'linux-x64', pid: 7, uptime: 3, workers: 2, jobs: 4, running: 0, busy: 0, queued: 0,
  endpoints: ['tcp://127.0.0.1:7070'], secure: true, insecure: false, files: 'shared',
  clients: [{ name: 'b build', role: 'client', remote: true, key: 'abcdefabcdef', tasks: 0 }],
  peers: [{ address: 'tcp://x:1', node: null, alive: false, workers: 0, inflight: 0, incompatible: null, unhealthy: false, secure: true, tools: { cc: 'cc 12' }, sent: 0, done: 0, failed: 0, requeued: 0, deaths: 1 }],
  stats: { completed: 1 }, messages: { sent: 1, received: 2 }, dropped: {},
};

test('a node status decodes strictly', () => {
  assert.equal(parseNodeStatus(J(status)), status);
  assert.ok(isProtocolError(parseNodeStatus(J({ ...status, workers: 'many' }))));
  assert.ok(isProtocolError(parseNodeStatus(J({ ...status, peers: [{ address: 'x' }] }))));
  assert.ok(isProtocolError(parseNodeStatus(J({ ...status, stats: { completed: 'all' } }))));
});

/** A fake node: welcomes anyone, then answers every NEED and SUBMIT with `answer`. */
async function fakeNode(answer: (type: number) => Buffer): Promise<{ address: string; close: () => void }> {
  const sock = new zmq.Router({ linger: 0 });
  await sock.bind('tcp://127.0.0.1:*');
  void (async () => {
    try {
      for await (const [who, ...body] of sock) {
        const d = decode(body);
        if (isProtocolError(d)) continue;
        if (d.type === T.HELLO) await sock.send([who!, ...encode(T.WELCOME, 0, { protocol: PROTOCOL_VERSION, b: VERSION, node: 'evil', workers: 1 })]);
        else if (d.type === T.NEED) await sock.send([who!, ...encode(T.ANSWER, d.id, answer(T.NEED))]);
        else if (d.type === T.SUBMIT) await sock.send([who!, ...encode(T.RESULT, d.id, answer(T.SUBMIT))]);
      }
    } catch {
      // closed
    }
  })();
  return { address: sock.lastEndpoint!, close: () => sock.close() };
}

test('b status of a node that answers garbage: a clear error naming the node, never a crash', async () => {
  for (const garbage of [J({ node: 5 }), J({ ...status, clients: [{ name: 'x' }] }), Buffer.from('{')]) {
    const n = await fakeNode((type) => (type === T.NEED ? garbage : J({ platform: 'linux-x64', tools: {} })));
    try {
      const r = await b(['status', '--node', n.address, '--insecure'], { timeout: 20_000 });
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, `node ${n.address}: malformed status`);
      assert.match(r.stderr, 'same B release');
      assert.not.match(r.stderr, /TypeError|Cannot read|at .*\.ts:/);
    } finally {
      n.close();
    }
  }
}, { timeout: 60_000 });

test('b status of a node whose probe answer is malformed: refused as such', async () => {
  const n = await fakeNode((type) => (type === T.NEED ? J(status) : J({ platform: 'linux-x64', tools: { cc: 'not a print' } })));
  try {
    const r = await b(['status', '--node', n.address, '--insecure'], { timeout: 20_000 });
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, 'malformed probe result');
  } finally {
    n.close();
  }
}, { timeout: 30_000 });

test.run();
