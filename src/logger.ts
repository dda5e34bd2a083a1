// The only place B writes to the terminal. Everything else produces messages or events and hands
// them here, so output format (plain lines, an updating status line on a TTY, JSON) is decided
// in one place and tests can capture it.

import { RemoteFailure, UserError, errorMessage } from './errors.ts';

export type Level = 'error' | 'warn' | 'info' | 'debug';

export interface LoggerOptions {
  verbose?: boolean;
  quiet?: boolean;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
}

const RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** A reader that went away (`b status | head`) must not crash B: its output is simply dropped. */
const guarded = new WeakSet<object>();
function ignoreEpipe(s: NodeJS.WritableStream): void {
  if (guarded.has(s)) return;
  guarded.add(s);
  s.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
}

export class Logger {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly max: number;
  private statusShown = false;
  readonly smartTerminal: boolean;

  constructor(opts: LoggerOptions = {}) {
    this.stdout = opts.stdout ?? process.stdout;
    this.stderr = opts.stderr ?? process.stderr;
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
