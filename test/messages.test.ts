// Unit tests of the message layer's validators (src/messages.ts): every payload that crosses a
// thread or socket is decoded once, strictly; refusals are values that say what was wrong.
import * as assert from 'uvu/assert';
import { suite } from './helpers.ts';
import { isProtocolError } from '../src/protocol.ts';
import { encodeRequest, parseReply } from '../src/spawn-perl.ts';
import { BUILD_KINDS, duplicateKey, parseMeta, parseResult, parseResultOf, parseWork } from '../src/messages.ts';
import { parseNeed } from '../src/need-messages.ts';

const test = suite('messages');
const buf = (s: string | object): Buffer => Buffer.from(typeof s === 'string' ? s : JSON.stringify(s));
const refused = (v: unknown, re: RegExp): void => {
  assert.ok(isProtocolError(v), `accepted: ${JSON.stringify(v)?.slice(0, 200)}`);
  assert.match((v as { message: string }).message, re);
};
const cmd = { k: 'cmd', cmd: 'cc -c a.c', cwd: '/p', outs: ['a.o'], depfile: '', deps: '', msvcPrefix: '', rspfile: '', rspfileContent: '', console: false };

test('every work kind decodes to its tagged value', () => {
  const items: object[] = [
    cmd,
    { k: 'rule', file: '/p/Bfile.ts', dir: '/p', rule: 'r1', key: 'out', outs: ['out'], stem: '' },
    { k: 'rule', file: '/p/Bfile.ts', dir: '/p', rule: 'r1', key: 'out', outs: ['out'], stem: '', fenced: true },
    { k: 'rexec', cmd: 'cc', cwd: '/p', roots: ['/p'], inputs: [{ path: '/p/a.c', digest: 'a'.repeat(32), size: 3, exec: false }], outputs: ['/p/a.o'], depfile: '', deps: '', msvcPrefix: '', rspfile: '', rspfileContent: '', prefixMap: true },
    { k: 'fenced', cmd: 'cc -c a.c -o a.o', cwd: '/p', outs: ['a.o'], depfile: '', deps: '', msvcPrefix: '', rspfile: '', rspfileContent: '' },
    { k: 'probe', tools: ['cc'] },
    { k: 'cas-get', digest: 'b'.repeat(32), offset: 0, length: 1024 },
    { k: 'echo', d: [1, { x: 2 }] },
    { k: 'exec', argv: ['true'] },
    { k: 'fib', n: 5 },
    { k: 'throw', message: 'x' },
    { k: 'sleep', ms: 1 },
  ];
  for (const it of items) {
    const w = parseWork(buf(it));
    assert.not.ok(isProtocolError(w), JSON.stringify(w));
    assert.equal(w, it);
  }
  // Not 'cmd': a node runs another machine's Ninja command fenced (fence.ts), never as is.
  assert.equal([...BUILD_KINDS].sort(), ['cache-lookup', 'cache-put', 'cas-get', 'cas-put', 'fenced', 'probe', 'rexec', 'rule']);
});

test('unknown and duplicate keys are refused', () => {
  refused(parseWork(buf({ ...cmd, extra: 1 })), /unknown field "extra"/);
  refused(parseWork(buf({ k: 'nope' })), /unknown kind "nope"/);
  refused(parseWork(buf('{"k":"fib","n":3,"n":4}')), /"n" twice/);
  // The same op twice: a reader of the first and a reader of the last would disagree.
  refused(parseNeed(buf('{"op":"status","op":"status"}')), /"op" twice/);
  refused(parseNeed(buf({ op: 'need', task: 1, keys: ['a'], x: { op: 'need' } })), /unknown field "x"/);
  refused(parseMeta(buf({ via: ['n1'], sneaky: true })), /unknown field "sneaky"/);
  assert.is(duplicateKey('{"a":{"b":1,"c":"\\"b\\""},"b":[{"a":1},{"a":2}]}'), undefined);
  assert.is(duplicateKey('{"a":1,"b":{"x":1,"x":2}}'), 'x');
  assert.is(duplicateKey('{"a\\u0062":1,"ab":2}'), 'ab');
});

test('wrong types, missing fields and bad formats are refused', () => {
  refused(parseWork(buf({ ...cmd, console: 'no' })), /console must be true or false/);
  refused(parseWork(buf({ k: 'fib', n: 1.5 })), /must be an integer/);
  refused(parseWork(buf({ k: 'cas-get', digest: '../../etc/passwd', offset: 0, length: 1 })), /format/);
  const { outs: _o, ...noOuts } = cmd;
  refused(parseWork(buf(noOuts)), /lacks the field "outs"/);
  refused(parseWork(buf('[1,2]')), /unknown kind/);
  refused(parseWork(buf('{"k":')), /not valid JSON/);
  refused(parseNeed(buf({ op: 'blob', task: -1, digest: 'a'.repeat(32), offset: 0, length: 1 })), /task must be from 0/);
  refused(parseNeed(buf({ op: 'build' })), /lacks the field/);
  refused(parseResult('probe', buf({ platform: 'x', tools: { cc: { path: 1, version: '', hash: '' } } })), /path must be a string/);
});

test('oversized fields and payloads are refused', () => {
  refused(parseWork(buf({ k: 'throw', message: 'x'.repeat(5000) })), /more than 4096/);
  refused(parseWork(buf({ k: 'fib', n: 3 }), 4), /larger than 4/);
  refused(parseMeta(buf({ via: Array.from({ length: 65 }, (_, i) => `n${i}`) })), /more than 64/);
  refused(parseNeed(buf({ op: 'blob', task: 1, digest: 'a'.repeat(32), offset: 0, length: (1 << 20) + 1 })), /length must be from 1 to/);
});

test('a Ninja edge\'s result names its kind: a local cmd, a self-contained rexec, a fenced attempt', () => {
  const out = { path: '/p/a.o', digest: 'c'.repeat(32), size: 4, mode: 0o644 };
  const results: [string, object][] = [
    ['cmd', { exit: 0, output: '', outputs: { 'a.o': null }, deps: [] }],
    ['rexec', { exit: 0, output: '', outputs: [out], deps: ['/p/a.h'], fetched: 0, ms: 1 }],
    ['fenced', { exit: 0, output: '', outputs: [out], deps: ['a.h'] }],
    ['fenced', { exit: -1, output: '', outputs: [], deps: [], unfenceable: 'output a.o is not a regular file' }],
  ];
  for (const [k, r] of results) {
    const p = parseResultOf(['cmd', 'rexec', 'fenced'], buf(r));
    assert.ok(!isProtocolError(p) && p.k === k, `${JSON.stringify(r)} -> ${JSON.stringify(p)}`);
  }
  refused(parseResult('fenced', buf({ exit: 0, output: '', outputs: [{ ...out, digest: '../x' }], deps: [] })), /format/);
});

test('a fenced rule\'s result carries its outputs as blobs, or says it could not be fenced; both checked', () => {
  const out = { path: '/p/out', digest: 'd'.repeat(32), size: 2, mode: 0o644 };
  for (const r of [
    { outputs: {}, output: '', commands: [], fenced: [out] },
    { outputs: {}, output: '', commands: [], fenced: [{ ...out, digest: null }] },
    { outputs: {}, output: '', commands: [], unfenceable: 'write() of /etc/x, outside the build root /p' },
  ]) {
    const p = parseResult('rule', buf(r));
    assert.not.ok(isProtocolError(p), JSON.stringify(p));
    assert.equal(p, r);
  }
  refused(parseResult('rule', buf({ outputs: {}, output: '', commands: [], fenced: [{ ...out, digest: 'zz' }] })), /format|digest/);
  refused(parseResult('rule', buf({ outputs: {}, output: '', commands: [], fenced: [{ ...out, extra: 1 }] })), /unknown|extra/);
  refused(parseWork(buf({ k: 'rule', file: '/p/B.ts', dir: '/p', rule: 'r', key: 'o', outs: [], stem: '', fenced: 'yes' })), /fenced/);
});

test('status is its own op: a rule needing the key "status" is a need', () => {
  const n = parseNeed(buf({ op: 'need', task: 3, keys: ['status'] }));
  assert.ok(!isProtocolError(n) && n.op === 'need');
  const s = parseNeed(buf({ op: 'status' }));
  assert.ok(!isProtocolError(s) && s.op === 'status');
});

test('random bytes never throw', () => {
  let seed = 11;
  const rnd = (m: number): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % m;
  const alphabet = '{}[]":,0123456789.-eEtrufalsn kopd\\';
  for (let i = 0; i < 3000; i++) {
    const s = Array.from({ length: rnd(60) }, () => alphabet[rnd(alphabet.length)]).join('');
    for (const f of [parseWork, parseNeed, parseMeta]) f(buf(s));
    parseResult('rexec', buf(s));
  }
});

test('spawn helper frames with stdout apart (Python): the request says so, the reply adds the stdout file\'s offset and length, nothing else passes', () => {
  assert.equal(parseReply('D 7 x 0 10 5 200 3'), { kind: 'done', id: 7, exit: 0, signal: 0, offset: 10, bytes: 5, stdout: { offset: 200, bytes: 3 } });
  for (const bad of ['D 7 x 0 10 5 200', 'D 7 x 0 10 5 200 3 1', 'D 7 x 0 10 5 -1 3', 'D 7 x 0 10 5 200 x']) assert.is(parseReply(bad), undefined, bad);
  const s = encodeRequest(1, 0, { shell: 'echo a', splitStdout: true })!;
  assert.equal(s.subarray(s.indexOf(10) + 1).toString().split('\0'), ['S', '', '0', 'echo a']);
  const a = encodeRequest(2, 0, { argv: ['pkg-config', '--cflags', 'x'], splitStdout: true })!;
  assert.equal(a.subarray(a.indexOf(10) + 1).toString().split('\0'), ['A', '', '0', 'pkg-config', '--cflags', 'x']);
});

test('spawn helper (perl) frames: replies are checked field by field, requests refuse what cannot be framed', () => {
  assert.equal(parseReply('ready'), { kind: 'ready' });
  assert.equal(parseReply('D 7 x 3 0 12'), { kind: 'done', id: 7, exit: 3, signal: 0, offset: 0, bytes: 12 });
  assert.equal(parseReply('D 7 s 9 4096 0'), { kind: 'done', id: 7, exit: -1, signal: 9, offset: 4096, bytes: 0 });
  assert.equal(parseReply('E 8 cannot change to directory /x: No such file'), { kind: 'error', id: 8, message: 'cannot change to directory /x: No such file' });
  for (const bad of ['', 'D', 'D 7 x 3', 'D 7 x 3 12', 'D 7 y 3 0 1', 'D -1 x 0 0 0', 'D 7 x 3 0 1 extra', 'D 7 x 3 0 extra', 'D 1e3 x 0 0 0', 'D 7 x 0 0 99999999999999999', 'D 7 x 0 -1 0', 'E x oops', 'E 3', 'ready ', 'R 1 1 1']) {
    assert.is(parseReply(bad), undefined, bad);
  }
  const f = encodeRequest(5, 2, { shell: 'echo a\nb', cwd: '/p', env: { A: '1' } })!;
  const head = f.subarray(0, f.indexOf(10)).toString();
  const body = f.subarray(f.indexOf(10) + 1);
  assert.is(head, `R 5 2 ${body.length}`);
  assert.equal(body.toString().split('\0'), ['s', '/p', '1', 'A', '1', 'echo a\nb'], 'newlines in commands travel as they are');
  const g = encodeRequest(1, 0, { argv: ['cc', '-c', 'a.c'] })!;
  assert.equal(g.subarray(g.indexOf(10) + 1).toString().split('\0'), ['a', '', '0', 'cc', '-c', 'a.c']);
  assert.is(encodeRequest(1, 0, { argv: [] }), undefined);
  assert.is(encodeRequest(1, 0, {}), undefined);
  assert.is(encodeRequest(1, 0, { shell: 'a\0b' }), undefined, 'a NUL cannot be in an exec argument');
  assert.is(encodeRequest(1, 0, { shell: 'x', env: { 'A\0': 'b' } }), undefined);
});

test.run();
