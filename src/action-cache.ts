// The local action cache: results of actions (action-key.ts) kept across builds and
// directories, under B's private cache directory (cachedir.ts, `$B_CACHE_DIR`).
//
// On disk, in `<cache>/actions/`:
//   entries/<2 hex>/<key>.json   one ActionEntry (action-key.ts) per key, JSON, mode 0600
//   cas/<2 hex>/<digest>         output contents, by digest (cas.ts)
// Crash safety: a blob appears only by renaming a temp file whose bytes hashed to its name, and
// an entry is written (temp file, rename) only after all its blobs are in place, so a writer
// killed at any point leaves temp files (removed by `maintain`) and no entry, never an entry
// that names bytes it does not have. A hit copies each blob out through its digest
// (Cas.copyOut), so a blob damaged later is a miss, never a wrong output. Neither is fsynced:
// after an OS crash an entry or a blob may hold less than was written, and the reader refuses
// both (decodeEntry, the digest), a miss; an fsync per recorded action cost 0.4-0.5 ms of the
// recording thread's wall time here, on every node, for every compile it ran.
// Bounded: entries and blobs are evicted least recently used first (mtime is the last use)
// when their total passes B_CACHE_MAX_BYTES (default 5 GiB).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheDir, ensurePrivateDir, writeFileAtomic } from './cachedir.ts';
import { Cas } from './cas.ts';
import { decodeEntry, type ActionEntry } from './action-key.ts';

const DEFAULT_MAX = 5 * 1024 ** 3;

export interface CacheStats {
  dir: string;
  entries: number;
  blobs: number;
  bytes: number;
  maxBytes: number;
}

export class ActionCache {
  readonly dir: string;
  readonly maxBytes: number;
  private readonly cas: Cas;
  /** Bytes stored by this process since it last enforced the bound. */
  private added = 0;

  constructor(dir = path.join(cacheDir(), 'actions'), maxBytes = maxFromEnv()) {
    this.dir = dir;
    this.maxBytes = maxBytes;
    ensurePrivateDir(dir);
    // The blob store's own bound is never reached: this cache evicts entries and blobs together.
    this.cas = new Cas(path.join(dir, 'cas'), Number.MAX_SAFE_INTEGER);
  }

  private entryPath(key: string): string {
    if (!/^[0-9a-f]{32}$/.test(key)) throw new Error(`not an action key: ${key}`);
    return path.join(this.dir, 'entries', key.slice(0, 2), `${key}.json`);
  }

  /** The entry for a key, or undefined (absent, or not a well-formed entry: then removed). */
  read(key: string): ActionEntry | undefined {
    const p = this.entryPath(key);
    let text: string;
    try {
      text = fs.readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
    const e = decodeEntry(text, key);
    if (e === undefined) {
      fs.rmSync(p, { force: true });
      return undefined;
    }
    touch(p);
    return e;
  }

  /** Writes an entry atomically (its blobs must be stored first). */
  write(e: ActionEntry): void {
    const p = this.entryPath(e.key);
    fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o700 });
    const text = JSON.stringify(e);
    if (process.env.B_CACHE_TEST_KILL === 'entry') killMidWrite(p, text);
    writeFileAtomic(p, text, 0o600, false);
    this.added += text.length;
  }

  /** Removes an entry (its result could not be restored). */
  drop(key: string): void {
    fs.rmSync(this.entryPath(key), { force: true });
  }

  /** Stores an output's bytes; its digest (hex) and size as copied. */
  store(abs: string): { hex: string; size: number } {
    const r = this.cas.putFile(abs);
    this.added += r.size;
    return r;
  }

  /** The file holding blob `hex`, or undefined if the cache has none (read by cache-upload.ts). */
  blobPath(hex: string): string | undefined {
    return this.cas.has(hex) ? this.cas.pathOf(hex) : undefined;
  }

  /**
   * Writes blob `hex` at `dest` (replacing what is there) with `mode`, through a temp file next
   * to it and a rename: readers never see half an output. False if the blob is gone or damaged.
   */
  restore(hex: string, dest: string, mode: number): boolean {
    const tmp = `${dest}.b-cache-${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
    let renamed = false;
    try {
      if (!this.cas.copyOut(hex, tmp, mode)) return false;
      fs.renameSync(tmp, dest);
      renamed = true;
      return true;
    } catch {
      return false;
    } finally {
      // Only a failed restore leaves a temp file: rmSync of a missing path costs an lstat and a
      // thrown error (~3% of the client's CPU per hit when it ran after every restore).
      if (!renamed) fs.rmSync(tmp, { force: true });
    }
  }

  /** Enforces the bound if this process stored more than a tenth of it since the last time. */
  maybeMaintain(): void {
    if (this.added > this.maxBytes / 10) this.maintain();
  }

  /**
   * Removes temp files of dead writers (the blob store's), then evicts least recently used
   * entries and blobs until the total is under 90% of the bound.
   */
  maintain(): { bytes: number; evicted: number } {
    this.added = 0;
    this.cas.maintain();
    const files = [...walk(path.join(this.dir, 'entries')), ...walk(path.join(this.dir, 'cas'))];
    let bytes = files.reduce((n, f) => n + f.size, 0);
    let evicted = 0;
    if (bytes > this.maxBytes) {
      files.sort((a, b) => a.t - b.t);
      for (const f of files) {
        if (bytes <= this.maxBytes * 0.9) break;
        fs.rmSync(f.p, { force: true });
        bytes -= f.size;
        evicted++;
      }
    }
    return { bytes, evicted };
  }

  stats(): CacheStats {
    const entries = walk(path.join(this.dir, 'entries'));
    const blobs = walk(path.join(this.dir, 'cas'));
    const bytes = [...entries, ...blobs].reduce((n, f) => n + f.size, 0);
    return { dir: this.dir, entries: entries.length, blobs: blobs.length, bytes, maxBytes: this.maxBytes };
  }

  /** Removes every entry and blob. */
  clear(): void {
    fs.rmSync(path.join(this.dir, 'entries'), { recursive: true, force: true });
    fs.rmSync(path.join(this.dir, 'cas'), { recursive: true, force: true });
    ensurePrivateDir(path.join(this.dir, 'cas'));
  }
}

function maxFromEnv(): number {
  const v = process.env.B_CACHE_MAX_BYTES;
  if (v === undefined || v === '') return DEFAULT_MAX;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_MAX;
}

function touch(p: string): void {
  try {
    const now = new Date();
    fs.utimesSync(p, now, now);
  } catch {
    // evicted meanwhile: the read already has its content
  }
}

/** Files two levels down (`<2 hex>/<name>`), temp files excluded, with size and last use. */
function walk(dir: string): { p: string; size: number; t: number }[] {
  const out: { p: string; size: number; t: number }[] = [];
  let subs: string[];
  try {
    subs = fs.readdirSync(dir);
  } catch {
    return out;
  }
  for (const s of subs) {
    if (s === 'in') continue; // the blob store's temp files
    let names: string[];
    try {
      names = fs.readdirSync(path.join(dir, s));
    } catch {
      continue;
    }
    for (const n of names) {
      const p = path.join(dir, s, n);
      if (n.endsWith('.tmp')) {
        removeIfStale(p);
        continue;
      }
      try {
        const st = fs.statSync(p);
        if (st.isFile()) out.push({ p, size: st.size, t: st.mtimeMs });
      } catch {
        // removed meanwhile
      }
    }
  }
  return out;
}

/** An entry's temp file whose writer is gone (killed mid-write) or silent for 10 minutes. */
function removeIfStale(p: string): void {
  // `<key>.json.<pid>.<random>.tmp` (writeFileAtomic's name)
  const pid = Number(path.basename(p).split('.')[2]);
  let alive = false;
  try {
    process.kill(pid, 0);
    alive = Number.isInteger(pid) && pid > 0;
  } catch (e) {
    alive = (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    if (!alive || Date.now() - fs.statSync(p).mtimeMs > 600_000) fs.rmSync(p, { force: true });
  } catch {
    // gone already
  }
}

/** Fault injection for the crash test: half an entry's temp file, then SIGKILL (no rename). */
function killMidWrite(p: string, text: string): never {
  const tmp = `${p}.${process.pid}.killed.tmp`;
  fs.writeFileSync(tmp, text.slice(0, Math.floor(text.length / 2)));
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}
