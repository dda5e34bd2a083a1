// Who may submit and ask what on a node (broker-policy.ts): each refusal an attacker would try.
import * as assert from 'uvu/assert';
import { suite } from './helpers.ts';
import { admitSubmit, mayAsk, MAX_CLIENT_BYTES } from '../src/broker-policy.ts';
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

test.run();
