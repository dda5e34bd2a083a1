// `.ninja_log`, written as ninja 1.13.2 writes it, for the tools that read it (ninjatracing,
// build-time dashboards, CI scripts, ninja itself after a switch back). It is never read by B
// to decide anything: B's database (.b/db) is the source of truth; this is a report.
//
// Format (build_log.cc, version 7): a first line `# ninja log v7`, then one line per output of
// each edge that ran: start ms, end ms (both since the build started), the output's mtime in
// ninja's units (ns on Linux), the output path, and the command's hash in lower-case hex, tab
// separated. The hash is rapidhash (v1, the "fast" variant ninja vendors) of the command as
// ninja evaluates it, with `;rspfile=CONTENT` appended when the edge has an rspfile content.
// Ninja appends each run and recompacts the file when it holds more than 100 lines and over
// three per output; a file of another version is deleted with a warning ("build log version is
// too old; starting over"), as ninja does.
//
// The mtime recorded is the newest output's after the command (ninja records the time of a
// lock file it writes as the command starts, unless restat/generator): an output is never
// recorded older than its inputs, so ninja, reading this file, takes the edge as built.

import * as fs from 'node:fs';
import * as path from 'node:path';

const VERSION = 7;
const SIGNATURE = `# ninja log v${VERSION}\n`;
// rapidhash on 64-bit words held as two 32-bit halves (hi, lo), in plain numbers: with BigInt
// each edge's hash allocated ~0.8 KB (V8's sampling heap profiler, 4,000 cheap edges), and a
// 2.7 KB compile line is ~170 128-bit products. Every half is kept as a signed int32 (`| 0`,
// `^`) or in an Int32Array, which V8 holds unboxed: a uint32 above 2^31 stored in a variable
// outside the function is a heap number, an allocation per store. Results go through one Int32Array, so a hash
// allocates nothing but its hex string.
const S0H = 0x2d358dcc | 0, S0L = 0xaa6c78a5 | 0;
const S1H = 0x8bb84b93 | 0, S1L = 0x962eacc9 | 0;
const S2H = 0x4b33a62e | 0, S2L = 0xd433d4a3 | 0;
const SEEDH = 0xbdd89aa9 | 0, SEEDL = 0x82704029 | 0;
const TWO32 = 4294967296;

/** Results of m32 (PH, PL), mum (LOH, LOL, HIH, HIL) and mix (XH, XL). */
const R = new Int32Array(8);
const PH = 0, PL = 1, LOH = 2, LOL = 3, HIH = 4, HIL = 5, XH = 6, XL = 7;

/** The 64-bit product of two 32-bit halves (taken as unsigned), into R[PH], R[PL]. */
function m32(a: number, b: number): void {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const mid = al * bh + ah * bl; // < 2^33: exact in a double, as every sum here
  const lo = al * bl + (mid % 65536) * 65536;
  R[PL] = lo;
  R[PH] = ah * bh + Math.floor(mid / 65536) + Math.floor(lo / TWO32);
}

/** mum: the 128-bit product's low and high 64-bit words, into R[LOH..HIL]. */
function mum(ah: number, al: number, bh: number, bl: number): void {
  m32(al, bl);
  const w0 = R[PL]!;
  let t1 = R[PH]! >>> 0;
  m32(al, bh);
  t1 += R[PL]! >>> 0;
  let t2 = R[PH]! >>> 0;
  m32(ah, bl);
  t1 += R[PL]! >>> 0;
  t2 += R[PH]! >>> 0;
  m32(ah, bh);
  t2 += (R[PL]! >>> 0) + Math.floor(t1 / TWO32);
  R[HIH] = (R[PH]! >>> 0) + Math.floor(t2 / TWO32);
  R[LOL] = w0;
  R[LOH] = t1;
  R[HIL] = t2;
}

/** mix: lo ^ hi of the product, into R[XH], R[XL]. */
function mix(ah: number, al: number, bh: number, bl: number): void {
  mum(ah, al, bh, bl);
  R[XH] = R[LOH]! ^ R[HIH]!;
  R[XL] = R[LOL]! ^ R[HIL]!;
}

/** A little-endian 32-bit word of the key, as a signed int32. */
function w32(k: Uint8Array, p: number): number {
  return k[p]! | (k[p + 1]! << 8) | (k[p + 2]! << 16) | (k[p + 3]! << 24);
}

/** mix(r64(q) ^ s, r64(q + 8) ^ v): a round over 16 bytes of the key (the low word first in memory). */
function mixAt(k: Uint8Array, q: number, sh: number, sl: number, vh: number, vl: number): void {
  mix(w32(k, q + 4) ^ sh, w32(k, q) ^ sl, w32(k, q + 12) ^ vh, w32(k, q + 8) ^ vl);
}

/** rapidhash(key, len) as ninja 1.13.2 vendors it (third_party/rapidhash, RAPIDHASH_FAST, unrolled), in lower-case hex. */
export function rapidhashHex(key: Uint8Array): string {
  const len = key.length;
  mix(SEEDH ^ S0H, SEEDL ^ S0L, S1H, S1L);
  let seedH = SEEDH ^ R[XH]!;
  let seedL = SEEDL ^ R[XL]! ^ len;
  let aH: number, aL: number, bH: number, bL: number;
  if (len <= 16) {
    if (len >= 4) {
      const plast = len - 4;
      aH = w32(key, 0);
      aL = w32(key, plast);
      const delta = (len & 24) >> (len >> 3);
      bH = w32(key, delta);
      bL = w32(key, plast - delta);
    } else if (len > 0) {
      aH = (key[0]! << 24) | key[len >> 1]!;
      aL = key[len - 1]!;
      bH = bL = 0;
    } else {
      aH = aL = bH = bL = 0;
    }
  } else {
    let i = len;
    let p = 0;
    if (i > 48) {
      let see1H = seedH, see1L = seedL, see2H = seedH, see2L = seedL;
      // ninja's loop takes 96 bytes while it can, then 48: the same rounds as 48 at a time.
      while (i >= 48) {
        mixAt(key, p, S0H, S0L, seedH, seedL);
        seedH = R[XH]!;
        seedL = R[XL]!;
        mixAt(key, p + 16, S1H, S1L, see1H, see1L);
        see1H = R[XH]!;
        see1L = R[XL]!;
        mixAt(key, p + 32, S2H, S2L, see2H, see2L);
        see2H = R[XH]!;
        see2L = R[XL]!;
        p += 48;
        i -= 48;
      }
      seedH = seedH ^ see1H ^ see2H;
      seedL = seedL ^ see1L ^ see2L;
    }
    if (i > 16) {
      mixAt(key, p, S2H, S2L, seedH ^ S1H, seedL ^ S1L);
      seedH = R[XH]!;
      seedL = R[XL]!;
      if (i > 32) {
        mixAt(key, p + 16, S2H, S2L, seedH, seedL);
        seedH = R[XH]!;
        seedL = R[XL]!;
      }
    }
    aL = w32(key, p + i - 16);
    aH = w32(key, p + i - 12);
    bL = w32(key, p + i - 8);
    bH = w32(key, p + i - 4);
  }
  mum(aH ^ S1H, aL ^ S1L, bH ^ seedH, bL ^ seedL);
  const mh = R[LOH]!, ml = R[LOL]!, nh = R[HIH]!, nl = R[HIL]!;
  mix(mh ^ S0H, ml ^ S0L ^ len, nh ^ S1H, nl ^ S1L);
  const h = R[XH]! >>> 0;
  const l = R[XL]! >>> 0;
  return h === 0 ? l.toString(16) : h.toString(16) + l.toString(16).padStart(8, '0');
}

/** The command hash ninja stores: of the command, plus `;rspfile=CONTENT` if there is one. */
export function commandHash(command: string, rspfileContent: string): string {
  const text = rspfileContent !== '' ? `${command};rspfile=${rspfileContent}` : command;
  return rapidhashHex(Buffer.from(text, 'utf8'));
}

export interface LogRecord {
  startMs: number;
  endMs: number;
  /** ns since the epoch, as ninja's TimeStamp on Linux. */
  mtime: bigint;
  output: string;
  hash: string;
}

const line = (r: LogRecord): string => `${Math.trunc(r.startMs)}\t${Math.trunc(r.endMs)}\t${r.mtime}\t${r.output}\t${r.hash}\n`;

/** The appending writer of one build. */
export class NinjaLog {
  readonly file: string;
  private fd: number | undefined;
  private queued = '';
  private flushQueued = false;

  private constructor(file: string) {
    this.file = file;
  }

  /**
   * Opens `$builddir/.ninja_log` for appending, as ninja's OpenBuildLog: a file of another
   * version is removed (the returned warning says so, in ninja's words); a file with many stale
   * lines is recompacted first.
   */
  static open(dir: string): { log: NinjaLog; warning?: string } {
    const file = path.join(dir, '.ninja_log');
    const log = new NinjaLog(file);
    let text: string | undefined;
    try {
      text = fs.readFileSync(file, 'latin1');
    } catch {
      return { log };
    }
    if (text === '') return { log };
    const m = /^# ninja log v(\d+)/.exec(text);
    const version = m !== null ? Number(m[1]) : 0;
    if (version !== VERSION) {
      fs.rmSync(file, { force: true });
      return { log, warning: `build log version is too ${version < VERSION ? 'old' : 'new'}; starting over` };
    }
    log.recompactIfNeeded(text);
    return { log };
  }

  /** ninja's rule: more than 100 lines and more than three per output. */
  private recompactIfNeeded(text: string): void {
    const latest = new Map<string, string>();
    let total = 0;
    for (const l of text.split('\n').slice(1)) {
      const f = l.split('\t');
      if (f.length < 5) continue;
      total++;
      latest.delete(f[3]!);
      latest.set(f[3]!, `${l}\n`);
    }
    if (!(total > 100 && total > latest.size * 3)) return;
    const tmp = `${this.file}.recompact`;
    fs.writeFileSync(tmp, SIGNATURE + [...latest.values()].join(''), { encoding: 'latin1' });
    fs.renameSync(tmp, this.file);
  }

  /**
   * Queues the edge's lines for this turn's single append. ninja fflush()es after every edge; B
   * appends once per event-loop turn (an immediate, which runs before the loop waits again), so
   * a build killed at any point loses only lines of edges whose end it saw in that very turn,
   * the same window ninja has between waitpid() and its fprintf(). Measured at -j2 on 4,000
   * cheap edges: an append per edge was ~10 µs of B's main thread each.
   */
  record(records: LogRecord[]): void {
    if (records.length === 0) return;
    for (const r of records) this.queued += line(r);
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => this.flush());
  }

  /** Appends what record() queued (at the end of the turn, and on close). */
  flush(): void {
    this.flushQueued = false;
    if (this.queued === '') return;
    const text = this.queued;
    this.queued = '';
    this.ensureOpen();
    fs.writeSync(this.fd!, text);
  }

  private ensureOpen(): void {
    if (this.fd !== undefined) return;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    this.fd = fs.openSync(this.file, 'a');
    if (fs.fstatSync(this.fd).size === 0) fs.writeSync(this.fd, SIGNATURE);
  }

  /** As ninja: the file exists after a build even if nothing ran. */
  close(): void {
    this.flush();
    this.ensureOpen();
    fs.closeSync(this.fd!);
    this.fd = undefined;
  }
}

/** An output's mtime in ninja's units, 0n if it is missing. */
export function mtimeNs(abs: string): bigint {
  try {
    return fs.statSync(abs, { bigint: true, throwIfNoEntry: false })?.mtimeNs ?? 0n;
  } catch {
    return 0n;
  }
}
