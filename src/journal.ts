// An append-only journal of checksummed records: the storage under B's build database, in the
// style of Shake's and Ninja's logs. Chosen over an embedded database because B's access pattern
// is "read everything at start, append as rules finish", and because a journal makes crash safety
// simple to argue: a record is either whole and checksummed, or it is ignored.
//
//   file   = header record*
//   header = "BJNL" u32:len JSON{format, platform, producer} u32:crc
//   record = u32:len u32:crc32(body) body
//
// A killed process can leave a torn last record; on open it is detected (short read or bad CRC)
// and the file is truncated back to the last good record. A header from another format version or
// platform is not misread: the journal is discarded and the caller is told why.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { crc32 as crc32js } from './hash.ts';

export interface JournalMeta {
  format: number;
  platform: string;
  producer: string;
}

export interface Opened {
  journal: Journal;
  records: Buffer[];
  /** Why an existing journal was discarded (other version/platform, unreadable header). */
  reset: string | undefined;
  /** Bytes dropped from a torn or corrupt tail. */
  dropped: number;
}

const MAGIC = Buffer.from('BJNL');
const MAX_RECORD = 256 * 1024 * 1024;
const FLUSH_BYTES = 1 << 20;

const nativeCrc = (zlib as unknown as { crc32?: (b: Uint8Array) => number }).crc32;
function crc(b: Uint8Array): number {
  return nativeCrc ? nativeCrc(b) >>> 0 : crc32js(b);
}

/**
 * A u32 read in place (the offset is in bounds): readUInt32LE's checks are JS frames of their own,
 * two per record of a journal read once per build, in code that has not warmed up.
 */
function u32le(b: Buffer, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
}

function headerBytes(meta: JournalMeta): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const h = Buffer.alloc(8 + json.length + 4);
  MAGIC.copy(h, 0);
  h.writeUInt32LE(json.length, 4);
  json.copy(h, 8);
  h.writeUInt32LE(crc(json), 8 + json.length);
  return h;
}

function frame(body: Uint8Array): Buffer {
  const f = Buffer.allocUnsafe(8 + body.length);
  f.writeUInt32LE(body.length, 0);
  f.writeUInt32LE(crc(body), 4);
  f.set(body, 8);
  return f;
}

function readHeader(buf: Buffer): { meta: JournalMeta; end: number } | string {
  if (buf.length < 12 || !buf.subarray(0, 4).equals(MAGIC)) return 'not a B journal';
  const len = buf.readUInt32LE(4);
  if (8 + len + 4 > buf.length) return 'truncated header';
  const json = buf.subarray(8, 8 + len);
  if (crc(json) !== buf.readUInt32LE(8 + len)) return 'corrupt header';
  try {
    return { meta: JSON.parse(json.toString('utf8')) as JournalMeta, end: 8 + len + 4 };
  } catch {
    return 'unreadable header';
  }
}

export class Journal {
  readonly file: string;
  private fd: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private bytes: number;
  private readonly meta: JournalMeta;

  constructor(file: string, fd: number, bytes: number, meta: JournalMeta) {
    this.file = file;
    this.fd = fd;
    this.bytes = bytes;
    this.meta = meta;
  }

  /** Size of the journal on disk plus what is buffered. */
  get size(): number {
    return this.bytes + this.pendingBytes;
  }

  append(body: Uint8Array): void {
    const f = frame(body);
    this.pending.push(f);
    this.pendingBytes += f.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
  }

  /** Writes buffered records. Called as rules finish (batched) and before exit. */
  flush(): void {
    if (this.pending.length === 0 || this.fd < 0) return;
    const data = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    let off = 0;
    while (off < data.length) off += fs.writeSync(this.fd, data, off, data.length - off);
    this.bytes += data.length;
  }

  /**
   * Replaces the whole journal with `bodies` (compaction): written to a temp file, synced, then
   * renamed over the old one, so a crash leaves either the old or the new journal, never a mix.
   */
  rewrite(bodies: Iterable<Uint8Array>): void {
    this.pending = [];
    this.pendingBytes = 0;
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o644);
    let total = 0;
    try {
      const parts: Buffer[] = [headerBytes(this.meta)];
      let size = parts[0]!.length;
      const out = (): void => {
        const data = Buffer.concat(parts, size);
        let off = 0;
        while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
        total += data.length;
        parts.length = 0;
        size = 0;
      };
      for (const b of bodies) {
        const f = frame(b);
        parts.push(f);
        size += f.length;
        if (size >= FLUSH_BYTES) out();
      }
      out();
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    fs.closeSync(this.fd);
    this.fd = fs.openSync(this.file, 'a');
    this.bytes = total;
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** Opens (or creates) a journal and returns every intact record in it. */
export function openJournal(file: string, meta: JournalMeta): Opened {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let buf: Buffer | undefined;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  let reset: string | undefined;
  const records: Buffer[] = [];
  let dropped = 0;
  if (buf !== undefined && buf.length > 0) {
    const h = readHeader(buf);
    if (typeof h === 'string') reset = h;
    else if (h.meta.format !== meta.format) reset = `it was written by database format ${h.meta.format} (${h.meta.producer}), this B uses format ${meta.format}`;
    else if (h.meta.platform !== meta.platform) reset = `it was written on ${h.meta.platform}, this is ${meta.platform}`;
    if (reset === undefined && typeof h !== 'string') {
      let off = h.end;
      while (off + 8 <= buf.length) {
        const len = u32le(buf, off);
        if (len > MAX_RECORD || off + 8 + len > buf.length) break;
        const body = buf.subarray(off + 8, off + 8 + len);
        if ((nativeCrc !== undefined ? nativeCrc(body) >>> 0 : crc32js(body)) !== u32le(buf, off + 4)) break;
        records.push(body);
        off += 8 + len;
      }
      if (off < buf.length) {
        dropped = buf.length - off;
        fs.truncateSync(file, off);
      }
      const fd = fs.openSync(file, 'a');
      return { journal: new Journal(file, fd, off, meta), records, reset, dropped };
    }
  }
  const fd = fs.openSync(file, 'w');
  const h = headerBytes(meta);
  fs.writeSync(fd, h);
  fs.closeSync(fd);
  const afd = fs.openSync(file, 'a');
  return { journal: new Journal(file, afd, h.length, meta), records, reset, dropped };
}
