// .ninja_log's command hash (ninja-log.ts): rapidhash on uint32 halves, against the straight
// BigInt transcription of ninja 1.13.2's vendored rapidhash it replaced (kept here as the
// reference), over every length class of its code paths (0, 1-3, 4-16, 17-48, the 48- and
// 96-byte loops and their tails). test/ninja-fidelity.test.ts checks the hashes against real
// ninja's .ninja_log.
import * as assert from 'uvu/assert';
import { suite } from './helpers.ts';
import { commandHash, rapidhashHex } from '../src/ninja-log.ts';

const test = suite('ninja-log');

const M64 = (1n << 64n) - 1n;
const SECRET = [0x2d358dccaa6c78a5n, 0x8bb84b93962eacc9n, 0x4b33a62ed433d4a3n] as const;
const SEED = 0xbdd89aa982704029n;

function mum(a: bigint, b: bigint): [bigint, bigint] {
  const r = a * b;
  return [r & M64, r >> 64n];
}
function mix(a: bigint, b: bigint): bigint {
  const [lo, hi] = mum(a, b);
  return lo ^ hi;
}

/** rapidhash(key, len) as ninja 1.13.2 vendors it (third_party/rapidhash, RAPIDHASH_FAST, unrolled). */
function reference(key: Uint8Array): bigint {
  const len = key.length;
  const dv = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const r64 = (p: number): bigint => dv.getBigUint64(p, true);
  const r32 = (p: number): bigint => BigInt(dv.getUint32(p, true));
  const [s0, s1, s2] = SECRET;
  let seed = SEED ^ mix(SEED ^ s0, s1) ^ BigInt(len);
  let a: bigint;
  let b: bigint;
  if (len <= 16) {
    if (len >= 4) {
      const plast = len - 4;
      a = ((r32(0) << 32n) | r32(plast)) & M64;
      const delta = (len & 24) >> (len >> 3);
      b = ((r32(delta) << 32n) | r32(plast - delta)) & M64;
    } else if (len > 0) {
      a = (BigInt(key[0]!) << 56n) | (BigInt(key[len >> 1]!) << 32n) | BigInt(key[len - 1]!);
      b = 0n;
    } else {
      a = b = 0n;
    }
  } else {
    let i = len;
    let p = 0;
    if (i > 48) {
      let see1 = seed;
      let see2 = seed;
      while (i >= 96) {
        seed = mix(r64(p) ^ s0, r64(p + 8) ^ seed);
        see1 = mix(r64(p + 16) ^ s1, r64(p + 24) ^ see1);
        see2 = mix(r64(p + 32) ^ s2, r64(p + 40) ^ see2);
        seed = mix(r64(p + 48) ^ s0, r64(p + 56) ^ seed);
        see1 = mix(r64(p + 64) ^ s1, r64(p + 72) ^ see1);
        see2 = mix(r64(p + 80) ^ s2, r64(p + 88) ^ see2);
        p += 96;
        i -= 96;
      }
      if (i >= 48) {
        seed = mix(r64(p) ^ s0, r64(p + 8) ^ seed);
        see1 = mix(r64(p + 16) ^ s1, r64(p + 24) ^ see1);
        see2 = mix(r64(p + 32) ^ s2, r64(p + 40) ^ see2);
        p += 48;
        i -= 48;
      }
      seed ^= see1 ^ see2;
    }
    if (i > 16) {
      seed = mix(r64(p) ^ s2, r64(p + 8) ^ seed ^ s1);
      if (i > 32) seed = mix(r64(p + 16) ^ s2, r64(p + 24) ^ seed);
    }
    a = r64(p + i - 16);
    b = r64(p + i - 8);
  }
  a ^= s1;
  b ^= seed;
  [a, b] = mum(a, b);
  return mix(a ^ s0 ^ BigInt(len), b ^ s1);
}


/** Bytes of a deterministic pseudo-random stream (a 32-bit LCG): high bits set too. */
function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

test('rapidhash: the same 64-bit hash as the BigInt reference for every length 0..400 and long keys', () => {
  for (let n = 0; n <= 400; n++) {
    for (const seed of [1, 0xdeadbeef]) {
      const k = bytes(n, seed + n);
      assert.is(rapidhashHex(k), reference(k).toString(16), `length ${n}, seed ${seed}`);
    }
  }
  for (const n of [1000, 2731, 4096, 10_007]) {
    const k = bytes(n, n);
    assert.is(rapidhashHex(k), reference(k).toString(16), `length ${n}`);
  }
  const ff = new Uint8Array(200).fill(0xff);
  for (let n = 0; n <= 200; n++) assert.is(rapidhashHex(ff.subarray(0, n)), reference(ff.subarray(0, n)).toString(16), `0xff x ${n}`);
});

test('commandHash: a command, and one with rspfile content appended as ninja does', () => {
  const cmd = 'cc -c foo.c -o foo.o';
  assert.is(commandHash(cmd, ''), reference(Buffer.from(cmd)).toString(16));
  assert.is(commandHash(cmd, 'a b c'), reference(Buffer.from(`${cmd};rspfile=a b c`)).toString(16));
  assert.is(commandHash('é', ''), reference(Buffer.from('é', 'utf8')).toString(16));
});

test.run();
