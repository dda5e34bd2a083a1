// Unit tests of the control messages between B's threads (src/thread-messages.ts): each
// direction's union decodes what its sender posts, and refuses, with a reason naming the field,
// every malformed message (a bug in B, reported rather than dropped).
import * as assert from 'uvu/assert';
import { suite } from './helpers.ts';
import { isProtocolError } from '../src/protocol.ts';
import { decodeFromBroker, decodeFromWorker, decodeToBroker, decodeToWorker, threadBug } from '../src/thread-messages.ts';

const test = suite('thread-messages');

const refused = (v: unknown, re: RegExp): void => {
  assert.ok(isProtocolError(v), `accepted: ${JSON.stringify(v)?.slice(0, 200)}`);
  assert.match((v as { message: string }).message, re);
};

test('what each side posts decodes to itself', () => {
  const toBroker = [{ type: 'stop', reason: 'SIGINT' }, { type: 'stop', reason: 'done', drainMs: 5000 }];
  for (const m of toBroker) assert.equal(decodeToBroker(m), m);
  const fromBroker = [
    { type: 'started', node: 'n1', workers: 2, jobs: 4, endpoints: ['inproc://b-1-front', 'tcp://127.0.0.1:7000'] },
    { type: 'failed', message: 'Address already in use' },
    { type: 'stopped' },
    { type: 'log', level: 'warn', message: 'worker w1 exited; starting a replacement' },
  ];
  for (const m of fromBroker) assert.equal(decodeFromBroker(m), m);
  for (const m of [{ type: 'cancel' }, { type: 'cancel-task', task: 7 }]) assert.equal(decodeToWorker(m), m);
  for (const level of ['error', 'warn', 'info', 'debug']) {
    const m = { type: 'log', level, message: 'x' };
    assert.equal(decodeFromWorker(m), m);
  }
});

test('a message that is not an object, or has no known type, is refused with the types expected', () => {
  for (const m of [undefined, null, 3, 'stop', [], {}, { type: 7 }, { type: 'status' }]) {
    refused(decodeToBroker(m), /message to the broker thread: unknown type .*\(expected stop\)/);
  }
  refused(decodeFromBroker({ type: 'status', status: {} }), /unknown type "status" \(expected started, failed, stopped, log\)/);
  refused(decodeToWorker({ type: 'stop' }), /unknown type "stop" \(expected cancel, cancel-task\)/);
  // A type of another direction is not this direction's.
  refused(decodeFromWorker({ type: 'started', node: 'n', workers: 1, jobs: 1, endpoints: [] }), /unknown type "started"/);
  refused(decodeFromBroker({ type: 'toString' }), /unknown type "toString"/);
});

test('each malformed field is refused and named', () => {
  refused(decodeToBroker({ type: 'stop' }), /"stop" lacks the field "reason"/);
  refused(decodeToBroker({ type: 'stop', reason: 3 }), /\.reason must be a string/);
  refused(decodeToBroker({ type: 'stop', reason: 'x', drainMs: -1 }), /\.drainMs must be from 0/);
  refused(decodeToBroker({ type: 'stop', reason: 'x', drainMs: 1.5 }), /\.drainMs must be an integer/);
  refused(decodeToBroker({ type: 'stop', reason: 'x', hurry: true }), /unknown field "hurry"/);

  const started = { type: 'started', node: 'n1', workers: 2, jobs: 4, endpoints: ['inproc://x'] };
  refused(decodeFromBroker({ ...started, node: undefined }), /lacks the field "node"/);
  refused(decodeFromBroker({ ...started, workers: -1 }), /\.workers must be from 0/);
  refused(decodeFromBroker({ ...started, jobs: '4' }), /\.jobs must be an integer/);
  refused(decodeFromBroker({ ...started, endpoints: 'inproc://x' }), /\.endpoints must be an array/);
  refused(decodeFromBroker({ ...started, endpoints: [1] }), /\.endpoints\[0\] must be a string/);
  refused(decodeFromBroker({ type: 'failed' }), /"failed" lacks the field "message"/);
  refused(decodeFromBroker({ type: 'stopped', why: 'x' }), /unknown field "why"/);
  refused(decodeFromBroker({ type: 'log', level: 'loud', message: 'x' }), /\.level is not in the expected format/);
  refused(decodeFromBroker({ type: 'log', level: 'info' }), /lacks the field "message"/);

  refused(decodeToWorker({ type: 'cancel-task' }), /lacks the field "task"/);
  refused(decodeToWorker({ type: 'cancel-task', task: '7' }), /\.task must be an integer/);
  refused(decodeToWorker({ type: 'cancel-task', task: 2 ** 32 }), /\.task must be from 0 to 4294967295/);
  refused(decodeToWorker({ type: 'cancel', task: 1 }), /unknown field "task"/);

  refused(decodeFromWorker({ type: 'log', level: 'info', message: { text: 'x' } }), /\.message must be a string/);
  refused(decodeFromWorker({ type: 'log', level: 'info', message: 'x', extra: 1 }), /unknown field "extra"/);
});

test('an invalid message is reported as a bug in B, naming the receiver and the reason', () => {
  const e = decodeToWorker({ type: 'cancel-task' });
  assert.ok(isProtocolError(e));
  if (!isProtocolError(e)) return;
  const line = threadBug('worker w3', e);
  assert.match(line, /^internal error \(a bug in B; please report it\): worker w3 got an invalid message: /);
  assert.match(line, /lacks the field "task"/);
});

test.run();
