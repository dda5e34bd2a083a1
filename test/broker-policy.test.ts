// Who may submit and ask what on a node (broker-policy.ts): each refusal an attacker would try.
import * as assert from 'uvu/assert';
import { suite } from './helpers.ts';
import { admitHello, admitSubmit, mayAsk, MAX_CLIENT_BYTES } from '../src/broker-policy.ts';
import { NeedForwards } from '../src/need-forwards.ts';
import { T, decode, isProtocolError } from '../src/protocol.ts';
import { sessionId } from '../src/keys.ts';
import { curveKeyPair } from '../src/zmq.ts';
import type { ClientState } from '../src/broker-types.ts';
import type { NeedOp } from '../src/need-messages.ts';

const test = suite('broker-policy');

function client(over: Partial<ClientState>): ClientState {
  return { key: 'k', identity: 'KEY-A', role: 'client', name: 'a', via: 'remote', remote: true, bytes: 0, send: () => {}, lastSeen: 0, tasks: new Map(), ...over };
}
const node = { nodeId: 'n1', cacheWriters: ['KEY-CI'] };
const work = (o: object): Buffer => Buffer.from(JSON.stringify(o));
const meta = Buffer.from('{}');

test('another machine may not submit the runtime test kinds, nor malformed work', () => {
  for (const w of [{ k: 'exec', cmd: 'id' }, { k: 'sleep', ms: 1 }, { k: 'echo' }]) {
    const r = admitSubmit(client({}), 1, meta, work(w), node);
    assert.ok('reason' in r, JSON.stringify(w));
  }
  const bad = admitSubmit(client({}), 1, meta, Buffer.from('{"k":"probe","tools":[],"x":1}'), node);
  assert.ok('reason' in bad && bad.reason.startsWith('work.'));
});

test('only a listed cache writer may write a node\'s action cache; a lookup stays on this node', () => {
  const put = work({ k: 'cas-put', digest: 'a'.repeat(32), data: '' });
  const no = admitSubmit(client({ identity: 'KEY-A' }), 1, meta, put, node);
  assert.ok('reason' in no && no.reason === 'cache.writer', JSON.stringify(no));
  const yes = admitSubmit(client({ identity: 'KEY-CI' }), 1, meta, put, node);
  assert.ok(!('reason' in yes), JSON.stringify(yes));
  if (!('reason' in yes)) assert.is(yes.meta.remote, false);
});

test('a request id in use, a full quota and a bad meta are refused', () => {
  const probe = work({ k: 'probe', tools: [] });
  const busy = client({ tasks: new Map([[7, {} as never]]) });
  const dup = admitSubmit(busy, 7, meta, probe, node);
  assert.ok('reason' in dup && dup.reason === 'duplicate-id');
  const full = admitSubmit(client({ bytes: MAX_CLIENT_BYTES }), 1, meta, probe, node);
  assert.ok('reason' in full && full.reason === 'quota');
  const m = admitSubmit(client({}), 1, Buffer.from('{"nope":1}'), probe, node);
  assert.ok('reason' in m && m.reason.startsWith('meta.'));
});

test('build and clean only from the build\'s own client; need only for a task on that worker', () => {
  const build = { op: 'build' } as unknown as NeedOp;
  assert.type(mayAsk(client({}), build, () => undefined), 'string');
  assert.type(mayAsk(client({ via: 'node', role: 'peer' }), build, () => undefined), 'string');
  assert.is(mayAsk(client({ via: 'inproc', role: 'client' }), build, () => undefined), undefined);
  const need = { op: 'need', task: 3 } as unknown as NeedOp;
  assert.type(mayAsk(client({}), need, () => 'w1'), 'string');
  assert.is(mayAsk(client({ via: 'inproc', role: 'worker-client', name: 'w1' }), need, () => 'w1'), undefined);
  assert.type(mayAsk(client({ via: 'inproc', role: 'worker-client', name: 'w2' }), need, () => 'w1'), 'string');
  assert.is(mayAsk(client({}), { op: 'status' } as unknown as NeedOp, () => undefined), undefined);
});


test('HELLO: a remote routing id must prove an allowed key; worker clients are local only', () => {
  const nodeKey = curveKeyPair();
  const ok = curveKeyPair();
  const stranger = curveKeyPair();
  const facts = { key: nodeKey, allow: [ok.publicKey] };
  const rid = (kp: typeof ok, forNode = nodeKey.publicKey): Buffer => Buffer.from(sessionId(kp, forNode), 'latin1');
  assert.equal(admitHello('client', false, Buffer.from('x'), facts), { identity: 'local' });
  assert.equal(admitHello('client', true, rid(ok), facts), { identity: ok.publicKey });
  const role = admitHello('worker-client', true, rid(ok), facts);
  assert.ok('reason' in role && role.reason === 'role');
  for (const [what, id] of [
    ['a key not allowed', rid(stranger)],
    ['a session id made for another node', rid(ok, curveKeyPair().publicKey)],
    ['a routing id copied with its MAC cut', rid(ok).subarray(0, 60)],
    ['random bytes', Buffer.from('b1'.padEnd(90, 'x'))],
  ] as const) {
    const r = admitHello('client', true, id, facts);
    assert.ok('reason' in r && r.reason === 'identity' && r.failure.code === 'protocol.identity', what);
  }
  const insecure = admitHello('client', true, Buffer.from([1, 2]), {});
  assert.equal(insecure, { identity: 'insecure:0102' });
});

test('a forwarded NEED is answered only by the session it went to; a session that leaves fails its questions', () => {
  const dropped: string[] = [];
  const f = new NeedForwards((r) => dropped.push(r));
  const sent: Buffer[][] = [];
  const to = client({ name: 'origin', send: (b) => sent.push(b as Buffer[]) });
  const other = client({ name: 'other' });
  const replies: Buffer[][] = [];
  f.send(to, { op: 'need', task: 3, keys: ['a'] }, (b) => replies.push(b as Buffer[]), 41);
  f.send(to, { op: 'need', task: 4, keys: ['b'] }, (b) => replies.push(b as Buffer[]), 42);
  const asked = sent.map((b) => decode(b));
  assert.ok(asked.every((d) => !isProtocolError(d) && d.type === T.NEED));
  const [id1, id2] = asked.map((d) => (isProtocolError(d) ? -1 : d.id));
  f.answer(other, T.ANSWER, id1!, Buffer.from('{}'));
  assert.equal(dropped, ['answer.unasked'], 'another session cannot answer');
  assert.is(replies.length, 0);
  f.answer(to, T.ANSWER, id1!, Buffer.from('{"answers":[]}'));
  const r1 = decode(replies[0]!);
  assert.ok(!isProtocolError(r1) && r1.type === T.ANSWER && r1.id === 41);
  f.answer(to, T.ANSWER, id1!, Buffer.from('{}'));
  assert.equal(dropped, ['answer.unasked', 'answer.unasked'], 'an answer counts once');
  f.clientGone(to);
  const r2 = decode(replies[1]!);
  assert.ok(!isProtocolError(r2) && r2.type === T.FAILURE && r2.id === 42);
  f.answer(to, T.ANSWER, id2!, Buffer.from('{}'));
  assert.is(replies.length, 2, 'nothing is answered twice');
});
test.run();
