import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite, tmp } from './helpers.ts';
import { z85Encode, z85Decode, isKey, readAllowList, parseNodeAddress, writeKeyPair, readKeyPair } from '../src/keys.ts';

const test = suite('keys');

test('z85 round trip, including the RFC 32 example', () => {
  const hello = Buffer.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
  assert.is(z85Encode(hello), 'HelloWorld');
  assert.equal(z85Decode('HelloWorld'), hello);
  for (let i = 0; i < 200; i++) {
    const b = Buffer.from(Array.from({ length: 32 }, (_, k) => (i * 31 + k * 17) & 255));
    assert.equal(z85Decode(z85Encode(b)), b);
    assert.ok(isKey(z85Encode(b)));
  }
  assert.is(z85Decode('abc'), undefined);
  assert.is(z85Decode('~~~~~'), undefined);
});

test('keys containing # survive allow lists and node addresses', () => {
  const key = z85Encode(Buffer.from(Array.from({ length: 32 }, (_, k) => (k * 37 + 3) & 255)));
  let withHash = '';
  for (let i = 0; !withHash.includes('#'); i++) withHash = z85Encode(Buffer.from(Array.from({ length: 32 }, (_, k) => (k * 13 + i * 7) & 255)));
  assert.ok(isKey(withHash));
  const dir = tmp();
  const allow = path.join(dir, 'allow.pub');
  fs.writeFileSync(allow, `# a comment\n\n  ${withHash}  \n${key}\n`);
  assert.equal([...readAllowList([allow])], [withHash, key]);
  assert.equal(parseNodeAddress(`tcp://h:1#${withHash}`), { address: 'tcp://h:1', serverKey: withHash });
  assert.throws(() => parseNodeAddress('http://x'), /not a node address/);
  assert.throws(() => readAllowList([path.join(dir, 'missing')]), /cannot read allow list/);
  fs.writeFileSync(allow, 'not-a-key\n');
  assert.throws(() => readAllowList([allow]), /allow\.pub:1: not a Z85 public key/);
});

test('key files: written private, read back, refused when readable by others', () => {
  const dir = tmp();
  const kp = { publicKey: z85Encode(Buffer.alloc(32, 1)), secretKey: z85Encode(Buffer.alloc(32, 2)) };
  const { keyFile, pubFile } = writeKeyPair(path.join(dir, 'n'), kp);
  assert.equal(readKeyPair(keyFile), kp);
  assert.is(fs.readFileSync(pubFile, 'utf8').trim(), kp.publicKey);
  assert.throws(() => writeKeyPair(path.join(dir, 'n'), kp), /already exists/);
  fs.chmodSync(keyFile, 0o644);
  assert.throws(() => readKeyPair(keyFile), /readable by other users/);
});

test.run();
