// B's build database: what each rule last depended on (its *trace*), and what each file looked
// like when B last read it. Kept in memory while a build runs, persisted in a journal
// (journal.ts) as records that are appended as rules finish.
//
// A trace is trusted only as a whole: it is written after the rule's outputs are complete on
// disk and hashed, in one checksummed record. If B dies before that, the rule simply has no
// (new) trace and runs again next time. Outputs on disk are never trusted on their own: every
// build re-checks them against the trace (stat, and digest when the stat changed).
//
// Record bodies (little endian; strings are u32 length + UTF-8):
//   'K' u32:id str:key                        interns a key (file path or other key)
//   'F' u32:key f64:size f64:mtime f64:ctime f64:ino u8:racy 16B:digest
//   'f' u32:key                               forget a file state
//   'T' str:action f64:fingerprint f64:ms u32:groups {u32:n {u32:key 16B:hash}*}* u32:nouts u32:out*
//       u8:hasValue [str:value] str:extra
//   't' str:action                            forget a trace

import { openJournal, type Journal } from './journal.ts';
import { DIGEST_BYTES } from './hash.ts';

export const DB_FORMAT = 1;

export interface FileState {
  size: number;
  mtime: number;
  ctime: number;
  ino: number;
  digest: string;
  /** Modified within the timestamp resolution of the moment it was read: never trust the stat alone. */
  racy: boolean;
}

export interface Trace {
  /** Identity of the action: first output of a Ninja edge, or "rule key" of a Bfile rule. */
  action: string;
  /** Fingerprint of what the action does (command line, rule source). */
  fingerprint: number;
  /** Answers it depended on, in the order they were needed, as groups needed together. */
  deps: { key: string; hash: string }[][];
  /** Files it wrote. */
  outputs: string[];
  /** Its answer when it answers a non-file key (JSON text). */
  value: string | undefined;
  ms: number;
  /** Front-end data (JSON text): commands run, for --explain and replay. */
  extra: string;
}

export interface OpenedDb {
  db: Database;
  reset: string | undefined;
  dropped: number;
}

class Writer {
  // Records are small: start in Node's buffer pool (a 4 KB start was an unpooled allocation per
  // record, thousands per build) and grow by doubling.
  private buf = Buffer.allocUnsafe(256);
  private off = 0;

  private room(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.off++] = v;
  }
  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.off);
    this.off += 4;
  }
  f64(v: number): void {
    this.room(8);
    this.buf.writeDoubleLE(v, this.off);
    this.off += 8;
  }
  str(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.u32(n);
    this.room(n);
    this.buf.write(s, this.off, 'utf8');
    this.off += n;
  }
  hash(h: string): void {
    this.room(DIGEST_BYTES);
    this.buf.fill(0, this.off, this.off + DIGEST_BYTES);
    this.buf.write(h, this.off, 'latin1');
    this.off += DIGEST_BYTES;
  }
  done(): Buffer {
    return this.buf.subarray(0, this.off);
  }
}

/**
 * Buffer's own slicers. `toString(encoding, start, end)` reaches them through three JS frames
 * (encoding lookup, bounds, dispatch), and a build opens its database once, in code that has
 * not warmed up: per digest, that detour was 4-5x the slice itself (8,000 digests, a fresh
 * process: 8.2 ms through toString, 1.5 ms direct), and the zstd edit rebuild decodes ~8,000
 * before its first command starts.
 */
type Slicing = Buffer & { latin1Slice(start: number, end: number): string; utf8Slice(start: number, end: number): string };

const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

class Reader {
  off = 1;
  readonly b: Slicing;
  constructor(b: Buffer) {
    this.b = b as Slicing;
  }
  u8(): number {
    return this.b[this.off++] as number;
  }
  u32(): number {
    // Inline rather than readUInt32LE (its bounds checks are JS frames too): the record passed
    // its checksum, and a short one reads undefined, which a bounds check below turns into an error.
    const b = this.b;
    const o = this.off;
    if (o + 4 > b.length) throw new RangeError(`record ends at ${b.length}, u32 at ${o}`);
    this.off = o + 4;
    return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
  }
  f64(): number {
    // Through a scratch array, not readDoubleLE (JS frames of its own): a file state has four.
    const b = this.b;
    const o = this.off;
    if (o + 8 > b.length) throw new RangeError(`record ends at ${b.length}, f64 at ${o}`);
    this.off = o + 8;
    if (!LITTLE_ENDIAN) return b.readDoubleLE(o);
    F64_BYTES[0] = b[o]!;
    F64_BYTES[1] = b[o + 1]!;
    F64_BYTES[2] = b[o + 2]!;
    F64_BYTES[3] = b[o + 3]!;
    F64_BYTES[4] = b[o + 4]!;
    F64_BYTES[5] = b[o + 5]!;
    F64_BYTES[6] = b[o + 6]!;
    F64_BYTES[7] = b[o + 7]!;
    return F64[0]!;
  }
  str(): string {
    const n = this.u32();
    const end = this.off + n;
    if (end > this.b.length) throw new RangeError(`record ends at ${this.b.length}, string to ${end}`);
    const s = this.b.utf8Slice(this.off, end);
    this.off = end;
    return s;
  }
  hash(): string {
    const end = this.off + DIGEST_BYTES;
    if (end > this.b.length) throw new RangeError(`record ends at ${this.b.length}, digest to ${end}`);
    const s = this.b.latin1Slice(this.off, end);
    this.off = end;
    return s;
  }
}

function keyRecord(id: number, key: string): Buffer {
  const w = new Writer();
  w.u8(0x4b);
  w.u32(id);
  w.str(key);
  return w.done();
}

export class Database {
  private readonly journal: Journal;
  private readonly files = new Map<string, FileState>();
  /**
   * Traces by action. A trace read from the journal stays its record's bytes until asked for:
   * most trace records in a journal are stale (each rebuild appends a new one), and decoding a
   * trace (a key lookup and a digest string per dependency) was most of opening one (serd after
   * an edit loop: 1,332 records, 30 live traces).
   */
  private readonly traces = new Map<string, Trace | Buffer>();
  private readonly ids = new Map<string, number>();
  private keys: string[] = [];
  private records = 0;

  private constructor(journal: Journal) {
    this.journal = journal;
  }

  static open(file: string, producer: string): OpenedDb {
    const platform = `${process.platform}-${process.arch}`;
    const o = openJournal(file, { format: DB_FORMAT, platform, producer });
    const db = new Database(o.journal);
    let reset = o.reset;
    try {
      for (const r of o.records) db.load(r);
    } catch (e) {
      // A record that passed its checksum but does not parse was written by a buggy B: start over.
      reset = `it could not be read (${(e as Error).message})`;
      db.files.clear();
      db.traces.clear();
      db.ids.clear();
      db.keys = [];
      db.journal.rewrite([]);
    }
    db.records = o.records.length;
    return { db, reset, dropped: o.dropped };
  }

  private load(body: Buffer): void {
    const r = new Reader(body);
    switch (body[0]) {
      case 0x4b: { // K
        const id = r.u32();
        const key = r.str();
        this.keys[id] = key;
        this.ids.set(key, id);
        return;
      }
      case 0x46: { // F
        const key = this.keyAt(r.u32());
        const st: FileState = { size: r.f64(), mtime: r.f64(), ctime: r.f64(), ino: r.f64(), racy: r.u8() === 1, digest: '' };
        st.digest = r.hash();
        this.files.set(key, st);
        return;
      }
      case 0x66: // f
        this.files.delete(this.keyAt(r.u32()));
        return;
      case 0x54: { // T
        this.traces.set(r.str(), body);
        return;
      }
      case 0x74: // t
        this.traces.delete(r.str());
        return;
      default:
        throw new Error(`unknown record type 0x${(body[0] ?? 0).toString(16)}`);
    }
  }

  /** A trace record's bytes, decoded (keys are only ever added, so its ids still mean the same). */
  private decodeTrace(body: Buffer): Trace {
    const r = new Reader(body);
    const action = r.str();
    const fingerprint = r.f64();
    const ms = r.f64();
    const ng = r.u32();
    const deps: { key: string; hash: string }[][] = [];
    const b = r.b;
    const keys = this.keys;
    let o = r.off;
    for (let g = 0; g < ng; g++) {
      r.off = o;
      const n = r.u32();
      o = r.off;
      // The dependencies' loop without a call per field (a zstd edit rebuild decodes ~8,000 of
      // them in code that has not warmed up): one bounds check for the group, the key id read
      // in place, the digest sliced directly.
      const end = o + n * (4 + DIGEST_BYTES);
      if (end > b.length) throw new RangeError(`record ends at ${b.length}, group to ${end}`);
      const group: { key: string; hash: string }[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const id = (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
        const key = keys[id];
        if (key === undefined) throw new Error(`reference to undefined key #${id}`);
        group[i] = { key, hash: b.latin1Slice(o + 4, o + 4 + DIGEST_BYTES) };
        o += 4 + DIGEST_BYTES;
      }
      deps.push(group);
    }
    r.off = o;
    const no = r.u32();
    const outputs: string[] = new Array(no);
    for (let i = 0; i < no; i++) outputs[i] = this.keyAt(r.u32());
    const value = r.u8() === 1 ? r.str() : undefined;
    const extra = r.str();
    return { action, fingerprint, ms, deps, outputs, value, extra };
  }

  private traceAt(action: string): Trace | undefined {
    const v = this.traces.get(action);
    if (v === undefined || !Buffer.isBuffer(v)) return v;
    let t: Trace | undefined;
    try {
      t = this.decodeTrace(v);
    } catch {
      // Passed its checksum but does not parse (a buggy writer): no trace, so the action runs.
      t = undefined;
    }
    if (t === undefined) this.traces.delete(action);
    else this.traces.set(action, t);
    return t;
  }

  /** Every trace decoded (compaction and listings need them all). */
  private decodedTraces(): Trace[] {
    const out: Trace[] = [];
    for (const k of [...this.traces.keys()]) {
      const t = this.traceAt(k);
      if (t !== undefined) out.push(t);
    }
    return out;
  }

  private keyAt(id: number): string {
    const k = this.keys[id];
    if (k === undefined) throw new Error(`reference to undefined key #${id}`);
    return k;
  }

  /** The id of a key, interning it (and journaling the definition) on first use. */
  private idOf(key: string): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.keys.length;
      this.keys.push(key);
      this.ids.set(key, id);
      this.append(keyRecord(id, key));
    }
    return id;
  }

  private append(b: Buffer): void {
    this.journal.append(b);
    this.records++;
  }

  getFile(key: string): FileState | undefined {
    return this.files.get(key);
  }

  putFile(key: string, st: FileState): void {
    const old = this.files.get(key);
    if (old && old.digest === st.digest && old.size === st.size && old.mtime === st.mtime && old.ctime === st.ctime && old.ino === st.ino && old.racy === st.racy) return;
    this.files.set(key, st);
    this.append(this.encodeFile(key, st));
  }

  private encodeFile(key: string, st: FileState): Buffer {
    const id = this.idOf(key);
    const w = new Writer();
    w.u8(0x46);
    w.u32(id);
    w.f64(st.size);
    w.f64(st.mtime);
    w.f64(st.ctime);
    w.f64(st.ino);
    w.u8(st.racy ? 1 : 0);
    w.hash(st.digest);
    return w.done();
  }

  deleteFile(key: string): void {
    if (!this.files.delete(key)) return;
    const w = new Writer();
    w.u8(0x66);
    w.u32(this.idOf(key));
    this.append(w.done());
  }

  getTrace(action: string): Trace | undefined {
    return this.traceAt(action);
  }

  putTrace(t: Trace): void {
    this.traces.set(t.action, t);
    this.append(this.encodeTrace(t));
  }

  private encodeTrace(t: Trace): Buffer {
    // Intern first: each new key is its own record, which must precede the trace.
    const depIds = t.deps.map((g) => g.map((d) => this.idOf(d.key)));
    const outIds = t.outputs.map((o) => this.idOf(o));
    const w = new Writer();
    w.u8(0x54);
    w.str(t.action);
    w.f64(t.fingerprint);
    w.f64(t.ms);
    w.u32(t.deps.length);
    t.deps.forEach((g, gi) => {
      w.u32(g.length);
      g.forEach((d, i) => {
        w.u32(depIds[gi]![i]!);
        w.hash(d.hash);
      });
    });
    w.u32(outIds.length);
    for (const id of outIds) w.u32(id);
    if (t.value !== undefined) {
      w.u8(1);
      w.str(t.value);
    } else w.u8(0);
    w.str(t.extra);
    return w.done();
  }

  deleteTrace(action: string): void {
    if (!this.traces.delete(action)) return;
    const w = new Writer();
    w.u8(0x74);
    w.str(action);
    this.append(w.done());
  }

  traceCount(): number {
    return this.traces.size;
  }

  allTraces(): IterableIterator<Trace> {
    return this.decodedTraces().values();
  }

  allFiles(): IterableIterator<[string, FileState]> {
    return this.files.entries();
  }

  flush(): void {
    this.journal.flush();
  }

  /** Rewrites the journal with only live records when most of it is garbage (Ninja's recompact). */
  compact(force = false): boolean {
    // Live records: traces, file states, and the key definitions they use.
    const live = this.traces.size + this.files.size + this.keys.length;
    // Each trace rewritten since the last compaction leaves one stale record: rewrite the
    // journal once stale records pass half the live ones (a no-op build then reads no garbage).
    if (!force && !(this.records > 1.5 * live + 200)) return false;
    const traces = this.decodedTraces();
    this.ids.clear();
    this.keys = [];
    const bodies: Buffer[] = [];
    const keyRecords: Buffer[] = [];
    // idOf() appends key records to the journal; collect them instead while rewriting.
    const intern = (key: string): void => {
      if (this.ids.has(key)) return;
      const id = this.keys.length;
      this.keys.push(key);
      this.ids.set(key, id);
      keyRecords.push(keyRecord(id, key));
    };
    for (const t of traces) {
      for (const g of t.deps) for (const d of g) intern(d.key);
      for (const o of t.outputs) intern(o);
    }
    for (const k of this.files.keys()) intern(k);
    for (const [k, st] of this.files) bodies.push(this.encodeFile(k, st));
    for (const t of traces) bodies.push(this.encodeTrace(t));
    this.journal.rewrite([...keyRecords, ...bodies]);
    this.records = keyRecords.length + bodies.length;
    return true;
  }

  close(): void {
    this.compact();
    this.journal.close();
  }
}
