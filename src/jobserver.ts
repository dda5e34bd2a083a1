// Ninja 1.13's GNU make jobserver client (jobserver.cc, jobserver-posix.cc): when ninja runs
// under `make -jN` (or another jobserver) without -j of its own, MAKEFLAGS names a fifo holding
// one byte per job slot beyond the one every client has implicitly. Before starting an edge
// ninja takes the implicit slot or reads a byte (non-blocking: none means "not now", and it looks
// again when a command ends); a finished edge gives its byte back. Only the fifo form is
// supported, as in ninja on POSIX: the anonymous-pipe form (`--jobserver-auth=R,W`) is refused
// with ninja's warning.

import * as fs from 'node:fs';
import { strerror } from './ninja-options.ts';

export type JobserverConfig =
  | { mode: 'none' }
  | { mode: 'fifo'; path: string }
  | { mode: 'pipe' }
  | { mode: 'semaphore'; name: string };

/** ninja's Jobserver::ParseMakeFlagsValue; an error string for a malformed `--jobserver-fds`. */
export function parseMakeflags(value: string | undefined): JobserverConfig | { error: string } {
  let config: JobserverConfig = { mode: 'none' };
  if (value === undefined || value === '') return config;
  const args = value.split(/[ \t]/).filter((a) => a !== '');
  // `make -n` puts `n` in the first word of flag letters (which does not start with '-').
  const first = args[0];
  if (first !== undefined && !first.startsWith('-') && first.includes('n')) return config;
  // "R,W" as sscanf("%d,%d") reads it: a negative descriptor disables the jobserver.
  const fdPair = (v: string): JobserverConfig | undefined => {
    const m = /^\s*([+-]?\d+),\s*([+-]?\d+)/.exec(v);
    if (m === null) return undefined;
    return Number(m[1]) < 0 || Number(m[2]) < 0 ? { mode: 'none' } : { mode: 'pipe' };
  };
  // The last one wins.
  for (const arg of args) {
    if (arg.startsWith('--jobserver-auth=')) {
      const v = arg.slice('--jobserver-auth='.length);
      config = fdPair(v) ?? (v.startsWith('fifo:') ? { mode: 'fifo', path: v.slice(5) } : { mode: 'semaphore', name: v });
    } else if (arg.startsWith('--jobserver-fds=')) {
      const v = arg.slice('--jobserver-fds='.length);
      if (fdPair(v) === undefined) return { error: `Invalid file descriptor pair [${v}]` };
      config = { mode: 'pipe' };
    }
  }
  return config;
}

/** ninja's ParseNativeMakeFlagsValue on POSIX: only the fifo form is usable. */
export function nativeConfig(value: string | undefined): JobserverConfig | { error: string } {
  const c = parseMakeflags(value);
  if ('error' in c) return c;
  if (c.mode === 'pipe') return { error: 'Pipe-based protocol is not supported!' };
  if (c.mode === 'semaphore') return { error: 'Semaphore mode is not supported on Posix!' };
  return c;
}

/** A job slot: the implicit one, or a byte read from the fifo (given back as read). */
export type Slot = { implicit: true } | { implicit: false; byte: number };

/** The client side of a fifo jobserver (ninja's PosixJobserverClient). */
export class JobserverClient {
  private implicitFree = true;
  private readonly readFd: number;
  private readonly writeFd: number;
  private closed = false;

  private constructor(readFd: number, writeFd: number) {
    this.readFd = readFd;
    this.writeFd = writeFd;
  }

  /** Opens the fifo both ways, non-blocking; an error in ninja's words if it cannot. */
  static open(fifo: string): JobserverClient | { error: string } {
    if (fifo === '') return { error: 'Empty fifo path' };
    let r: number;
    try {
      r = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      return { error: `Error opening fifo for reading: ${strerror(e)}` };
    }
    if (!fs.fstatSync(r).isFIFO()) {
      fs.closeSync(r);
      return { error: `Not a fifo path: ${fifo}` };
    }
    try {
      return new JobserverClient(r, fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
    } catch (e) {
      fs.closeSync(r);
      return { error: `Error opening fifo for writing: ${strerror(e)}` };
    }
  }

  /** A slot now, or undefined when the fifo is empty (look again when a job ends). */
  tryAcquire(): Slot | undefined {
    if (this.closed) return undefined;
    if (this.implicitFree) {
      this.implicitFree = false;
      return { implicit: true };
    }
    const b = Buffer.alloc(1);
    try {
      return fs.readSync(this.readFd, b, 0, 1, null) === 1 ? { implicit: false, byte: b[0]! } : undefined;
    } catch {
      return undefined; // EAGAIN: no token free
    }
  }

  release(slot: Slot): void {
    if (slot.implicit) {
      this.implicitFree = true;
      return;
    }
    if (this.closed) return;
    try {
      fs.writeSync(this.writeFd, Buffer.from([slot.byte]));
    } catch {
      // As ninja: nothing can be done about a failed write back.
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.readFd);
    fs.closeSync(this.writeFd);
  }
}

/** The jobserver of this process's Ninja build (process-wide, as ninja has one per run). */
let current: JobserverClient | undefined;
export function useJobserver(c: JobserverClient | undefined): void {
  current = c;
}
export function jobserver(): JobserverClient | undefined {
  return current;
}
