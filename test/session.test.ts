// Session ids (src/keys.ts): the routing id a client uses on a keyed node proves its key, so a
// node binds sessions to keys, not to whatever routing id a peer chose.
import * as assert from 'uvu/assert';
import * as zmq from 'zeromq';
import { suite } from './helpers.ts';
import { SESSION_ID_LENGTH, sessionId, verifySessionId } from '../src/keys.ts';

const test = suite('session');

test('a session id proves its key to that node only, and resists tampering', () => {
  const client = zmq.curveKeyPair();
  const nodeA = zmq.curveKeyPair();
  const nodeB = zmq.curveKeyPair();
  const id = sessionId(client, nodeA.publicKey);
  assert.is(id.length, SESSION_ID_LENGTH);
  assert.is(verifySessionId(id, nodeA), client.publicKey);
  // Another node cannot use it (the MAC is under the secret shared with node A).
  assert.is(verifySessionId(id, nodeB), undefined);
  // Another key in the same id, a changed nonce or MAC, other lengths: refused.
  const other = zmq.curveKeyPair();
  assert.is(verifySessionId(id.replace(client.publicKey, other.publicKey), nodeA), undefined);
  assert.is(verifySessionId(`${id.slice(0, 42)}0000000000000000${id.slice(58)}`, nodeA), undefined);
  assert.is(verifySessionId(`${id.slice(0, -1)}${id.endsWith('0') ? '1' : '0'}`, nodeA), undefined);
  assert.is(verifySessionId(id.slice(1), nodeA), undefined);
  assert.is(verifySessionId('vm-1234-abcd', nodeA), undefined);
  // Two processes of one user: two sessions, both proving the same key.
  const id2 = sessionId(client, nodeA.publicKey);
  assert.is.not(id2, id);
  assert.is(verifySessionId(id2, nodeA), client.publicKey);
});

test.run();
