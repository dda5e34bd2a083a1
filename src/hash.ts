// Hashes. Two kinds, for two jobs:
// - content digests identify file contents and answers (what traces compare, what the remote
//   content store addresses): SHA-256 truncated to 128 bits, kept as 16-char latin1 strings so
//   that comparing two answers is a string comparison;
// - fingerprints of command lines and rule sources: a fast 53-bit non-cryptographic hash, the
//   same trade-off Ninja makes for its build log (accidental collisions only).

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';

export const DIGEST_BYTES = 16;

/** Digest of bytes or a string (UTF-8), as a 16-char latin1 string. */
export function digest(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest().toString('latin1', 0, DIGEST_BYTES);
}

const CHUNK = 1 << 20;
let scratch: Buffer | undefined;

/**
 * A read buffer for synchronous whole-file reads, one per thread. Allocating 1 MB per file cost
 * as much as hashing it: a build that hashes thousands of small outputs spent most of that time
 * in allocation and the garbage collector.
 */
export function readBuffer(): Buffer {
  return (scratch ??= Buffer.allocUnsafe(CHUNK));
}

/** Digest of a file's contents, read in chunks so large files never sit whole in memory. */
export function digestFile(path: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(path, 'r');
  try {
    const buf = readBuffer();
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      h.update(n === CHUNK ? buf : buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest().toString('latin1', 0, DIGEST_BYTES);
}

export function digestHex(d: string): string {
  return Buffer.from(d, 'latin1').toString('hex');
}

export function digestFromHex(hex: string): string {
  return Buffer.from(hex, 'hex').toString('latin1');
}

/** cyrb53: a fast 53-bit string hash (exact in a JS number). */
export function fingerprint(s: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32 (IEEE), used to detect torn or corrupt journal records. */
export function crc32(buf: Uint8Array, start = 0, end = buf.length): number {
  let c = -1;
  for (let i = start; i < end; i++) c = (CRC_TABLE[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
