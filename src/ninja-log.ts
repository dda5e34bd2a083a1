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
export function rapidhash(key: Uint8Array): bigint {
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

/** The command hash ninja stores: of the command, plus `;rspfile=CONTENT` if there is one. */
export function commandHash(command: string, rspfileContent: string): string {
  const text = rspfileContent !== '' ? `${command};rspfile=${rspfileContent}` : command;
  return rapidhash(Buffer.from(text, 'utf8')).toString(16);
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
