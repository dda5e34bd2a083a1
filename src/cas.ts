// A node's content-addressed store: files named by their content digest (SHA-256 truncated to
// 128 bits, the digest B's database records for every file, in hex), shared by the
// node's worker threads. Blobs are written to a unique temp file, verified against their digest,
// then renamed into place, so a node killed mid-write leaves at most a temp file (removed at the
// next start) and never a wrong blob. Size-bounded: least recently used blobs are evicted
// (a blob's mtime is its last use).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { cacheDir, ensurePrivateDir } from './cachedir.ts';
import { DIGEST_BYTES, readBuffer } from './hash.ts';

export const CHUNK = 1 << 20;

export class Cas {
  readonly dir: string;
  readonly maxBytes: number;

  constructor(dir = path.join(cacheDir(), 'cas'), maxBytes = Number(process.env.B_CAS_MAX_BYTES ?? 10 * 1024 ** 3)) {
    this.dir = dir;
    this.maxBytes = maxBytes;
    ensurePrivateDir(dir);
  }

  /** Path of a blob, given its hex digest (32 hex characters). */
  pathOf(hex: string): string {
    if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`not a content digest: ${hex}`);
    return path.join(this.dir, hex.slice(0, 2), hex);
  }

  /**
   * Whether the store holds a blob. Existence is enough because a blob only ever appears by the
   * rename of a temp file whose content was hashed to its name (writer, putFile), and commands
   * run where the store is read-only (sandbox.ts); what is used from it is hashed again anyway
   * (`materialize`), for nodes without that isolation.
   */
  has(hex: string): boolean {
    const p = this.pathOf(hex);
    try {
      const st = fs.lstatSync(p);
      if (!st.isFile()) return false;
      const now = new Date();
      fs.utimesSync(p, now, now); // a use: keeps it off the eviction list
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Copies a blob to `dst` (a new file), hashing it on the way; false, with `dst` and the blob
   * removed, if the bytes are not the digest's: a blob changed in the store since it was
   * verified is never handed to a command.
   */
  materialize(hex: string, dst: string, mode = 0o644): boolean {
    const src = fs.openSync(this.pathOf(hex), fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
    let ok = false;
    try {
      const out = fs.openSync(dst, 'wx', mode);
      try {
        const got = copyHashing(src, out);
        ok = got.hex === hex;
      } finally {
        fs.closeSync(out);
      }
    } finally {
      fs.closeSync(src);
      if (!ok) {
        fs.rmSync(dst, { force: true });
        fs.rmSync(this.pathOf(hex), { force: true });
      }
    }
    return ok;
  }

  /**
   * A cache hit's restore: blob `hex` copied to `dst` (a new file, its directory created if
   * missing) with exactly `mode`, hashed on the way, the blob's use recorded (its mtime). False,
   * with `dst` removed, if the blob is missing; false with the blob removed too if its bytes are
   * not the digest's. What `has` then `materialize` do in 9 system calls instead of 12 (one
   * open for the check, the touch and the copy; the size from fstat, so no read to find the end;
   * the mode set on the open file; the directory made only when the open says it is missing).
   */
  copyOut(hex: string, dst: string, mode: number): boolean {
    let src: number;
    try {
      src = fs.openSync(this.pathOf(hex), fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
    } catch {
      return false;
    }
    let ok = false;
    let created = false;
    try {
      const st = fs.fstatSync(src);
      if (!st.isFile()) return false;
      const now = new Date();
      fs.futimesSync(src, now, now); // a use: keeps it off the eviction list
      let out: number;
      try {
        out = fs.openSync(dst, 'wx', mode & 0o777);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        fs.mkdirSync(path.dirname(dst), { recursive: true });
        out = fs.openSync(dst, 'wx', mode & 0o777);
      }
      created = true;
      try {
        fs.fchmodSync(out, mode & 0o7777); // the umask may have cleared bits; setuid and sticky bits need it anyway
        ok = copyHashing(src, out, st.size).hex === hex;
      } finally {
        fs.closeSync(out);
      }
      if (!ok) fs.rmSync(this.pathOf(hex), { force: true });
      return ok;
    } finally {
      fs.closeSync(src);
      if (!ok && created) fs.rmSync(dst, { force: true });
    }
  }

  /** A writer that receives a blob's chunks in order and commits it only if the digest matches. */
  writer(hex: string): BlobWriter {
    const final = this.pathOf(hex);
    fs.mkdirSync(path.dirname(final), { recursive: true });
    return new BlobWriter(final, hex);
  }

  /**
   * Stores a file that exists on disk (an output), returning its hex digest and size. One read:
   * the bytes are hashed as they are copied into a temp file in the store, and that copy (not
   * the file, which its command could still change) is renamed to the digest it hashed to.
   */
  putFile(file: string): { hex: string; size: number } {
    fs.mkdirSync(path.join(this.dir, 'in'), { recursive: true });
    const tmp = path.join(this.dir, 'in', `put.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
    const src = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
    let got: { hex: string; size: number };
    try {
      const out = fs.openSync(tmp, 'wx', 0o600);
      try {
        got = copyHashing(src, out);
      } finally {
        fs.closeSync(out);
      }
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    } finally {
      fs.closeSync(src);
    }
    const final = this.pathOf(got.hex);
    try {
      fs.mkdirSync(path.dirname(final), { recursive: true });
      fs.renameSync(tmp, final);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    return got;
  }

  /** Reads part of a blob. */
  read(hex: string, offset: number, length: number): Buffer {
    const fd = fs.openSync(this.pathOf(hex), 'r');
    try {
      const buf = Buffer.allocUnsafe(length);
      const n = fs.readSync(fd, buf, 0, length, offset);
      return buf.subarray(0, n);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Removes temp files of writers that died, then evicts least recently used blobs over the limit. */
  maintain(): { bytes: number; evicted: number } {
    const blobs: { p: string; size: number; t: number }[] = [];
    let bytes = 0;
    for (const sub of fs.readdirSync(this.dir)) {
      const d = path.join(this.dir, sub);
      let names: string[];
      try {
        names = fs.readdirSync(d);
      } catch {
        continue;
      }
      for (const n of names) {
        const p = path.join(d, n);
        let st: fs.Stats;
        try {
          st = fs.statSync(p);
        } catch {
          continue;
        }
        if (n.endsWith('.tmp')) {
          // Temp files of writers that are gone: their process died (SIGKILL mid-write), or they
          // have not written for 10 minutes. Other threads of live processes are writing theirs.
          const pid = Number(n.split('.')[1]);
          if (Date.now() - st.mtimeMs > 600_000 || !alive(pid)) fs.rmSync(p, { force: true });
          continue;
        }
        blobs.push({ p, size: st.size, t: st.mtimeMs });
        bytes += st.size;
      }
    }
    let evicted = 0;
    if (bytes > this.maxBytes) {
      blobs.sort((a, b) => a.t - b.t);
      for (const b of blobs) {
        if (bytes <= this.maxBytes * 0.9) break;
        fs.rmSync(b.p, { force: true });
        bytes -= b.size;
        evicted++;
      }
    }
    return { bytes, evicted };
  }
}

/**
 * Copies fd `src` to fd `out` from the start, returning the digest (hex) and size it copied:
 * up to its end, or `expect` bytes when given (the size fstat said: no read is spent finding
 * the end; bytes appended since are not copied, and the digest still decides).
 */
function copyHashing(src: number, out: number, expect = Infinity): { hex: string; size: number } {
  const h = createHash('sha256');
  const buf = readBuffer(); // synchronous below: nothing else uses it meanwhile
  let size = 0;
  while (size < expect) {
    const n = fs.readSync(src, buf, 0, Math.min(CHUNK, expect - size), size);
    if (n === 0) break;
    const chunk = n === CHUNK ? buf : buf.subarray(0, n);
    h.update(chunk);
    let w = 0;
    while (w < n) w += fs.writeSync(out, chunk, w, n - w, size + w);
    size += n;
  }
  return { hex: h.digest('hex').slice(0, 2 * DIGEST_BYTES), size };
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class BlobWriter {
  private readonly final: string;
  private readonly tmp: string;
  private readonly fd: number;
  private readonly hash = createHash('sha256');
  private readonly hex: string;
  size = 0;

  constructor(final: string, hex: string) {
    this.final = final;
    this.hex = hex;
    this.tmp = `${final}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    this.fd = fs.openSync(this.tmp, 'wx', 0o600);
  }

  write(chunk: Buffer): void {
    this.hash.update(chunk);
    let off = 0;
    while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off, chunk.length - off);
    this.size += chunk.length;
  }

  /** Commits the blob; throws (and removes the temp file) if the content does not match. */
  commit(): void {
    fs.closeSync(this.fd);
    const got = this.hash.digest('hex').slice(0, 2 * DIGEST_BYTES);
    if (got !== this.hex) {
      fs.rmSync(this.tmp, { force: true });
      throw new Error(`blob ${this.hex.slice(0, 12)} arrived corrupted (got ${got.slice(0, 12)})`);
    }
    fs.renameSync(this.tmp, this.final);
  }

  abort(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
    fs.rmSync(this.tmp, { force: true });
  }
}
