import * as assert from 'uvu/assert';
import { suite } from './helpers.ts';
import {
  T, PROTOCOL_VERSION, HEADER_BYTES, decode, encode, header, isProtocolError, parseHello, parseFailure,
  parseWelcome, typeName, type Decoded, type ProtocolError,
} from '../src/protocol.ts';

const test = suite('protocol');

function ok(x: Decoded | ProtocolError): Decoded {
  if (isProtocolError(x)) throw new Error(`unexpected protocol error: ${x.message}`);
  return x;
}

function err(x: Decoded | ProtocolError): ProtocolError {
  if (!isProtocolError(x)) throw new Error(`expected a protocol error, got ${typeName(x.type)}`);
  return x;
}

test('every message type round-trips with its id and payload', () => {
  for (const [name, type] of Object.entries(T)) {
    const withPayload = ![T.CANCEL, T.PING, T.BYE, T.WAKE, T.SUSPEND, T.PARK, T.RESUME, T.STOP].includes(type as never);
    const two = type === T.SUBMIT;
    const body = Buffer.from(`payload of ${name}`);
    const frames = encode(type, 0xfffffffe, withPayload ? (two ? [Buffer.from('{"remote":true}'), body] : body) : undefined);
    const d = ok(decode(frames));
    assert.is(d.type, type, name);
    assert.is(d.id, 0xfffffffe, name);
    if (two) {
      assert.is(d.payload?.toString(), '{"remote":true}');
      assert.is(d.payload2?.toString(), `payload of ${name}`);
    } else if (withPayload) assert.is(d.payload?.toString(), `payload of ${name}`);
    else assert.is(d.payload, undefined);
  }
});

test('JSON payloads are encoded from objects and validated', () => {
  const hello = { protocol: PROTOCOL_VERSION, b: '0.1.0', role: 'client', name: 'test' };
  const d = ok(decode(encode(T.HELLO, 0, hello)));
  assert.equal(parseHello(d.payload), hello);
  assert.ok(isProtocolError(parseHello(Buffer.from('{"protocol":1}'))));
  assert.ok(isProtocolError(parseHello(Buffer.from('not json'))));
  assert.ok(isProtocolError(parseHello(Buffer.from('{"protocol":1,"b":"x","role":"god","name":"n"}'))));
  const v = parseHello(Buffer.from(JSON.stringify({ ...hello, protocol: 99 })));
  assert.ok(isProtocolError(v) && v.error === 'version' && v.peerVersion === 99);
  assert.equal(parseFailure(Buffer.from('{"code":"x","message":"m","hint":"h"}')), { code: 'x', message: 'm', hint: 'h' });
  assert.ok(isProtocolError(parseFailure(Buffer.from('{"code":1,"message":"m"}'))));
  assert.ok(isProtocolError(parseWelcome(Buffer.from('[]'))));
});

test('wrong frame count is refused with a clear error', () => {
  const e1 = err(decode([header(T.SUBMIT, 1)]));
  assert.is(e1.error, 'frames');
  assert.match(e1.message, /SUBMIT has 0 payload frames, expected 2/);
  const e2 = err(decode([header(T.PING, 1), Buffer.from('x')]));
  assert.match(e2.message, /PING has 1 payload frames, expected 0/);
  assert.is(err(decode([])).error, 'frames');
  assert.is(err(decode([Buffer.from('short')])).error, 'frames');
});

test('unknown type, bad magic and wrong version are refused', () => {
  const h = header(T.PING, 1);
  h[2] = 0x7f;
  assert.is(err(decode([h])).error, 'type');
  const m = header(T.PING, 1);
  m[0] = 0x00;
  assert.is(err(decode([m])).error, 'magic');
  const v = header(T.PING, 1);
  v[1] = PROTOCOL_VERSION + 1;
  const e = err(decode([v]));
  assert.is(e.error, 'version');
  assert.is(e.peerVersion, PROTOCOL_VERSION + 1);
  assert.match(e.message, /same B release/);
});

test('oversized messages are refused before anything else', () => {
  const big = Buffer.alloc(2048);
  const e = err(decode([header(T.SUBMIT, 1), Buffer.from('{}'), big], 1024));
  assert.is(e.error, 'size');
  assert.match(e.message, /exceeds the limit of 1024 bytes/);
  ok(decode([header(T.SUBMIT, 1), Buffer.from('{}'), big], 4096));
});

test('random garbage never throws', () => {
  let seed = 42;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < 5000; i++) {
    const frames: Buffer[] = [];
    const n = Math.floor(rnd() * 4);
    for (let j = 0; j < n; j++) {
      const len = j === 0 && rnd() < 0.7 ? HEADER_BYTES : Math.floor(rnd() * 32);
      const f = Buffer.alloc(len);
      for (let k = 0; k < len; k++) f[k] = Math.floor(rnd() * 256);
      if (j === 0 && len === HEADER_BYTES && rnd() < 0.6) {
        f[0] = 0x42;
        f[1] = PROTOCOL_VERSION;
      }
      frames.push(f);
    }
    const d = decode(frames);
    assert.ok(isProtocolError(d) || typeof d.type === 'number');
  }
});

test('control payloads are strict: unknown and duplicate fields are refused', () => {
  const b = (s: string): Buffer => Buffer.from(s);
  assert.match((parseHello(b('{"protocol":1,"b":"x","role":"client","name":"n","admin":true}')) as ProtocolError).message, /unknown field "admin"/);
  assert.match((parseHello(b('{"protocol":1,"b":"x","role":"client","role":"worker-client","name":"n"}')) as ProtocolError).message, /"role" appears twice/);
  assert.match((parseFailure(b('{"code":"x","message":"y","fields":[1]}')) as ProtocolError).message, /fields/);
  assert.not.ok(isProtocolError(parseWelcome(b('{"protocol":1,"b":"x","node":"n","workers":2,"local":2,"platform":"linux-x64"}'))));
});

test('encode refuses payload mismatches (a bug in the caller, not peer input)', () => {
  assert.throws(() => encode(T.PING, 1, Buffer.from('x')), /no payload/);
  assert.throws(() => encode(T.SUBMIT, 1), /needs a payload/);
  assert.throws(() => encode(T.SUBMIT, 1, Buffer.from('x')), /needs 2 payload frames/);
});

test.run();
