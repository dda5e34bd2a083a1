// The only place B writes to the terminal. Everything else produces messages or events and hands
// them here, so output format (plain lines, an updating status line on a TTY, JSON) is decided
// in one place and tests can capture it.

import * as fs from 'node:fs';
import { RemoteFailure, UserError, errorMessage } from './errors.ts';

export type Level = 'error' | 'warn' | 'info' | 'debug';

/** Where the logger writes: a stream, or fd 1 / 2 written directly (FdOut). */
export interface Out {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface LoggerOptions {
  verbose?: boolean;
  quiet?: boolean;
  stdout?: Out;
  stderr?: Out;
}

const RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** A reader that went away (`b status | head`) must not crash B: its output is simply dropped. */
const guarded = new WeakSet<object>();
function ignoreEpipe(s: Out): void {
  const on = (s as { on?: NodeJS.WritableStream['on'] }).on;
  if (on === undefined || guarded.has(s)) return;
  guarded.add(s);
  on.call(s, 'error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
}

/**
 * fd 1 or 2 when it is a pipe or a file, written with write(2) here. Node's process.stdout for a
 * pipe loads its stream and net modules first (about 7 ms of CPU in every run, measured with
 * the embedded Node; CMake, Meson and IDEs all run ninja with pipes) only to end in the same
 * synchronous write on Linux. A descriptor someone made non-blocking (EAGAIN) goes to Node's
 * stream from then on; a reader that went away drops the rest, as ignoreEpipe does.
 */
class FdOut implements Out {
  readonly isTTY = false;
  private readonly fd: 1 | 2;
  private stream: Out | undefined;
  private gone = false;

  constructor(fd: 1 | 2) {
    this.fd = fd;
  }

  write(text: string): boolean {
    if (this.stream !== undefined) return this.stream.write(text) !== false;
    if (this.gone) return true;
    const b = Buffer.from(text, 'utf8');
    for (let off = 0; off < b.length;) {
      try {
        off += fs.writeSync(this.fd, b, off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') {
          this.gone = true;
          return true;
        }
        if (code !== 'EAGAIN') throw e;
        this.stream = this.fd === 1 ? process.stdout : process.stderr;
        ignoreEpipe(this.stream);
        return this.stream.write(b.subarray(off).toString('utf8')) !== false;
      }
    }
    return true;
  }
}

/** fd 1 or 2: written directly when a pipe or file (FdOut), else Node's stream (a terminal). */
function stdio(fd: 1 | 2): Out {
  const std = (): Out => (fd === 1 ? process.stdout : process.stderr);
  if (process.platform === 'win32' || (globalThis as { Deno?: unknown }).Deno !== undefined) return std();
  try {
    const st = fs.fstatSync(fd);
    if (st.isFIFO() || st.isFile()) return new FdOut(fd);
  } catch {
    // closed or unusable: Node's stream decides what that means
  }
  return std();
}

export class Logger {
  readonly stdout: Out;
  readonly stderr: Out;
  private readonly max: number;
  private statusShown = false;
  readonly smartTerminal: boolean;

  constructor(opts: LoggerOptions = {}) {
    this.stdout = opts.stdout ?? stdio(1);
    this.stderr = opts.stderr ?? stdio(2);
    this.max = opts.quiet ? RANK.warn : opts.verbose ? RANK.debug : RANK.info;
    this.smartTerminal = this.stdout.isTTY === true && process.env.TERM !== 'dumb';
    ignoreEpipe(this.stdout);
    ignoreEpipe(this.stderr);
  }

  get verbose(): boolean {
    return this.max >= RANK.debug;
  }

  private emit(level: Level, text: string): void {
    if (RANK[level] > this.max) return;
    this.clearStatus();
    const prefix = level === 'error' ? 'b: error: ' : level === 'warn' ? 'b: warning: ' : level === 'debug' ? 'b: debug: ' : 'b: ';
    this.stderr.write(prefix + text + '\n');
  }

  error(text: string): void {
    this.emit('error', text);
  }
  warn(text: string): void {
    this.emit('warn', text);
  }
  info(text: string): void {
    this.emit('info', text);
  }
  debug(text: string): void {
    this.emit('debug', text);
  }

  /** A log record posted by the broker or a worker thread. */
  fromThread(level: string, text: string): void {
    const l: Level = level === 'error' || level === 'warn' || level === 'debug' ? level : 'info';
    this.emit(l, text);
  }

  /** Program output (results a user or script asked for): stdout, unprefixed. */
  out(text: string): void {
    this.clearStatus();
    this.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }

  /** Raw bytes to stdout, e.g. a command's captured output. */
  raw(text: string): void {
    this.clearStatus();
    this.stdout.write(text);
  }

  /** An updating one-line status on a smart terminal; plain lines otherwise. */
  status(line: string): void {
    if (this.smartTerminal) {
      const cols = this.stdout.columns || 80; // 0 on some terminals (serial consoles, emacs shells)
      const fit = line.length > cols - 1 ? line.slice(0, Math.max(0, cols - 4)) + '...' : line;
      this.stdout.write('\r' + fit + '\x1b[K');
      this.statusShown = true;
    } else {
      this.stdout.write(line + '\n');
    }
  }

  clearStatus(): void {
    if (this.statusShown) {
      this.stdout.write('\r\x1b[K');
      this.statusShown = false;
    }
  }

  /** Ends an updating status line so that following output starts on a fresh line. */
  finishStatus(): void {
    if (this.statusShown) {
      this.stdout.write('\n');
      this.statusShown = false;
    }
  }

  /** Renders an error that ends the program and returns the exit code. */
  fatal(e: unknown): number {
    if (e instanceof UserError) {
      let text = e.where ? `${e.where}: ${e.message}` : e.message;
      if (e.hint) text += `\n  hint: ${e.hint}`;
      this.emit('error', text);
      return e.exitCode;
    }
    if (e instanceof RemoteFailure) {
      const f = e.failure;
      let text = f.where ? `${f.where}: ${f.message}` : f.message;
      if (f.hint) text += `\n  hint: ${f.hint}`;
      this.emit('error', text);
      return 1;
    }
    const err = e instanceof Error ? e : new Error(errorMessage(e));
    this.emit('error', `internal error (a bug in B, please report it): ${err.stack ?? err.message}`);
    return 70;
  }
}
