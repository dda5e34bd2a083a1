// The Ninja personality's terminal output: the `[%f/%t]` status line (NINJA_STATUS placeholders,
// one updating line on a TTY with the description elided in the middle, plain lines otherwise),
// `FAILED:` reports with the command's output, `-d explain` lines and `-d stats`. It renders the
// build's events (a BuildReporter); ninja-cli.ts decides what to build. Reference: ninja 1.13.2's
// status_printer.cc and line_printer.cc.

import type { Logger } from './logger.ts';
import type { BuildReply } from './build-host.ts';
import type { BuildEvent } from './engine.ts';
import type { BuildReporter } from './cmd-build.ts';
import type { NinjaGraph } from './ninja-tools-graph.ts';
import { constants as osConstants } from 'node:os';
import { RemoteFailure, UserError } from './errors.ts';

/** Writes to stderr through the logger (the one place that owns the terminal). */
export function stderr(log: Logger, text: string): void {
  log.clearStatus();
  log.stderr.write(text.endsWith('\n') ? text : text + '\n');
}
export const ninjaError = (log: Logger, msg: string): void => stderr(log, `ninja: error: ${msg}`);
export const ninjaWarning = (log: Logger, msg: string): void => stderr(log, `ninja: warning: ${msg}`);
/** Ninja's Fatal(): message and exit status 1. */
export function ninjaFatal(log: Logger, msg: string): number {
  stderr(log, `ninja: fatal: ${msg}`);
  return 1;
}

interface ReporterOptions {
  graph: NinjaGraph;
  reachable: Set<string>;
  statusFormat: string;
  verbose: boolean;
  quiet: boolean;
  explain: boolean;
  jobs: number;
  manifestKey: string | undefined;
  keepGoing: number;
  dryRun: boolean;
  stats: boolean;
  parseMs: number;
  /** Only bringing the manifest up to date (to look for targets it does not know yet). */
  manifestOnly: boolean;
  reload(): { graph: NinjaGraph; reachable: Set<string> };
}

/** Ninja's LinePrinter on B's logger: status lines, and output that starts on a fresh line. */
class LinePrinter {
  private blank = true;
  private readonly log: Logger;
  constructor(log: Logger) {
    this.log = log;
  }
  get smart(): boolean {
    return this.log.smartTerminal;
  }
  /** A status line: elided and rewritten in place on a smart terminal, else a line of its own. */
  print(line: string, full: boolean): void {
    if (this.smart && !full) {
      const cols = (this.log.stdout as { columns?: number }).columns || 80;
      this.log.status(elideMiddle(line, Math.max(1, cols - 1)));
      this.blank = false;
    } else {
      this.log.raw(`${line}\n`);
    }
  }
  printOnNewLine(text: string): void {
    if (!this.blank) {
      if (this.smart) this.log.finishStatus();
      else this.log.raw('\n');
    }
    if (text !== '') this.log.raw(text);
    this.blank = text === '' || text.endsWith('\n');
  }
}

/** ninja's ElideMiddle: "abc...xyz" in `width` columns. */
export function elideMiddle(s: string, width: number): string {
  if (s.length <= width) return s;
  const dots = '...';
  if (width <= dots.length) return dots.slice(0, width);
  const keep = width - dots.length;
  const left = Math.ceil(keep / 2);
  return s.slice(0, left) + dots + s.slice(s.length - (keep - left));
}

/** What ninja calls a command's exit status, from B's failure message. */
function failureCode(message: string | undefined): number {
  const m = /\((?:exit code (\d+)|killed by (SIG[A-Z0-9]+))\)/.exec(message ?? '');
  if (m === null) return 1;
  if (m[1] !== undefined) return Number(m[1]) || 1;
  const sig = m[2]!;
  if (sig === 'SIGINT' || sig === 'SIGTERM' || sig === 'SIGHUP') return 130;
  const n = (osConstants.signals as Record<string, number>)[sig];
  return n !== undefined ? 128 + n : 1;
}

/**
 * B's reason for running an action in the words of ninja's `-d explain`. B compares contents,
 * so a changed source is said to have changed (ninja would say the output is older than it); a
 * changed generated input is dirty, as ninja says.
 */
function explainLine(key: string, reason: string, generated: (p: string) => boolean): string {
  if (reason === 'never built') return `command line not found in log for ${key}`;
  if (reason === 'command changed') return `command line changed for ${key}`;
  let m = /^output (.*) is (missing|new)$/.exec(reason);
  if (m) return `output ${m[1]} doesn't exist`;
  m = /^output (.*) was modified$/.exec(reason);
  if (m) return `output ${m[1]} was modified since it was built`;
  if (reason === 'inputs changed') return `inputs of ${key} changed`;
  m = /^(?:input )?(.*) changed$/.exec(reason);
  if (m) return generated(m[1]!) ? `${m[1]} is dirty` : `${m[1]} changed since ${key} was built`;
  return `${key}: ${reason}`;
}

/**
 * The status printer of the Ninja personality (ninja's StatusPrinter): `[%f/%t] description`
 * when an edge finishes (and when it starts, on a smart terminal or for the console pool), the
 * command instead with -v, `FAILED: [code=N] outputs` with the command and its output, and the
 * closing "ninja: ..." line. `%t` is the number of edges the targets reach less those found up
 * to date so far: B decides what is dirty while it builds, so the total shrinks to the exact
 * count as the build goes (ninja knows it up front).
 */
export class NinjaReporter implements BuildReporter {
  readonly detailed = true;
  private readonly log: Logger;
  private readonly o: ReporterOptions;
  private readonly lp: LinePrinter;
  private graph: NinjaGraph;
  private reachable: Set<string>;
  private started = 0;
  private finished = 0;
  private running = 0;
  private upToDate = 0;
  private cpuMs = 0;
  private t0 = Date.now();
  private readonly descriptions = new Map<string, string>();
  private readonly rate: number[] = [];
  private lastRateUpdate = -1;
  private inManifest = false;
  /** Edges that ran, not counting the manifest's regeneration. */
  private ran = 0;
  private failures = 0;
  private exitCode = 0;
  private wasInterrupted = false;
  /** The manifest was regenerated during this build. */
  manifestRan = false;
  /** A failure that is fatal in ninja, already reported. */
  private fatal: string | undefined;
  /** Failures already reported with FAILED:. */
  private readonly shown = new Set<string>();

  constructor(log: Logger, o: ReporterOptions) {
    this.log = log;
    this.o = o;
    this.lp = new LinePrinter(log);
    this.graph = o.graph;
    this.reachable = o.reachable;
  }

  batch(buf: Buffer): void {
    for (const line of buf.toString('utf8').split('\n')) {
      if (line !== '') this.event(JSON.parse(line) as BuildEvent);
    }
  }

  interrupted(): void {
    this.wasInterrupted = true;
  }

  private total(): number {
    if (this.inManifest) return 1;
    return Math.max(this.started, this.reachable.size - this.upToDate);
  }

  private edgeOf(key: string): ReturnType<NinjaGraph['producer']> {
    return this.graph.producer(key);
  }

  private event(e: BuildEvent): void {
    if (e.event === 'run') {
      if (e.key === this.o.manifestKey) this.inManifest = true;
      this.started++;
      this.running++;
      this.descriptions.set(e.key, e.description ?? e.key);
      if (this.o.explain && e.reason !== undefined) {
        this.lp.printOnNewLine('');
        stderr(this.log, `ninja explain: ${explainLine(e.key, e.reason, (p) => this.graph.producer(p) !== undefined)}`);
      }
      const console = this.edgeOf(e.key)?.pool === 'console';
      if (console || this.lp.smart) this.printStatus(e.key);
      return;
    }
    if (e.event !== 'finish') return;
    if (e.ran !== true) {
      if (this.reachable.has(e.key)) this.upToDate++;
      return;
    }
    this.finished++;
    this.cpuMs += e.ms ?? 0;
    const edge = this.edgeOf(e.key);
    const fatal = e.status === 'failed' && /^unknown deps type '/.test(e.error?.message ?? '');
    if (fatal && this.fatal === undefined) {
      // Fatal in ninja once the edge has run: no status line, no FAILED report.
      this.fatal = e.error!.message;
      this.finished--;
      stderr(this.log, `ninja: fatal: ${this.fatal}`);
      return;
    }
    if (edge?.pool !== 'console') this.printStatus(e.key);
    this.running = Math.max(0, this.running - 1);
    if (e.status === 'failed' && !this.wasInterrupted) {
      this.failures++;
      const code = failureCode(e.error?.message);
      this.exitCode = code;
      const outs = edge !== undefined ? this.graph.outputsOf(edge) : [e.key];
      const failed = `FAILED: [code=${code}] `;
      this.lp.printOnNewLine(this.lp.smart ? `\x1b[31m${failed}\x1b[0m${outs.join(' ')} \n` : `${failed}${outs.join(' ')} \n`);
      const cmd = (e.error?.fields?.command as string | undefined) ?? edge?.command ?? '';
      this.lp.printOnNewLine(`${cmd}\n`);
      if (e.error?.message !== undefined) this.shown.add(e.error.message);
      // A command that succeeded but whose depfile could not be read fails with that error
      // after its output, as in ninja.
      if (e.error?.code !== 'command-failed' && e.error?.message !== undefined) {
        const out = e.output ?? '';
        e.output = `${out}${out !== '' ? '\n' : ''}${e.error.message}\n`;
      }
    }
    if (e.output) this.lp.printOnNewLine(this.lp.smart ? e.output : stripAnsi(e.output));
    this.descriptions.delete(e.key);
    if (e.key === this.o.manifestKey && this.inManifest) {
      // The manifest was regenerated: ninja reloads it and starts a new build (fresh counts).
      this.inManifest = false;
      if (e.status === 'ok' && !this.o.dryRun) {
        this.manifestRan = true;
        this.lp.printOnNewLine('');
        if (this.o.manifestOnly) return;
        try {
          const r = this.o.reload();
          this.graph = r.graph;
          this.reachable = r.reachable;
        } catch {
          // The broker reports a broken manifest itself.
        }
        this.started = this.finished = this.running = this.upToDate = this.cpuMs = 0;
        this.t0 = Date.now();
      }
      return;
    }
    this.ran++;
  }

  private printStatus(key: string): void {
    if (this.o.quiet) return;
    const edge = this.edgeOf(key);
    const text = this.o.verbose ? (edge?.command ?? this.descriptions.get(key) ?? key) : (this.descriptions.get(key) ?? key);
    this.lp.print(this.format() + text, this.o.verbose);
  }

  /** FormatProgressStatus for NINJA_STATUS. */
  private format(): string {
    const ms = Date.now() - this.t0;
    const total = this.total();
    const fmt = this.o.statusFormat;
    let out = '';
    for (let i = 0; i < fmt.length; i++) {
      const ch = fmt[i]!;
      if (ch !== '%') {
        out += ch;
        continue;
      }
      const c = fmt[++i];
      switch (c) {
        case '%': out += '%'; break;
        case 's': out += String(this.started); break;
        case 't': out += String(total); break;
        case 'r': out += String(this.running); break;
        case 'u': out += String(Math.max(0, total - this.started)); break;
        case 'f': out += String(this.finished); break;
        case 'o': out += rate(this.finished / (ms / 1000)); break;
        case 'c': out += rate(this.currentRate(ms)); break;
        case 'p': out += `${String(this.finished !== 0 && total !== 0 ? Math.floor((100 * this.finished) / total) : 0).padStart(3)}%`; break;
        case 'P': out += `${String(Math.floor(100 * this.predicted(total))).padStart(3)}%`; break;
        case 'e': out += (ms / 1000).toFixed(3); break;
        case 'w': out += clock(ms / 1000, ms / 1000 >= 3600); break;
        case 'E':
        case 'W': {
          const p = this.predicted(total);
          const eta = p !== 0 ? (ms / p - ms) / 1000 : -1;
          if (eta < 0) out += '?';
          else out += c === 'E' ? eta.toFixed(3) : clock(eta, eta >= 3600 || ms / 1000 >= 3600);
          break;
        }
        default: out += `%${c ?? ''}`;
      }
    }
    return out;
  }

  /** Share of the work done, in time: the edges' own durations, the rest at their average. */
  private predicted(total: number): number {
    if (this.finished === 0) return 0;
    const avg = this.cpuMs / this.finished;
    const all = this.cpuMs + avg * Math.max(0, total - this.finished);
    return all === 0 ? 0 : this.cpuMs / all;
  }

  /** Finished edges per second over the last -j edges (ninja's SlidingRateInfo). */
  private currentRate(ms: number): number {
    if (this.finished !== this.lastRateUpdate) {
      this.lastRateUpdate = this.finished;
      if (this.rate.length === this.o.jobs) this.rate.shift();
      this.rate.push(ms);
    }
    if (this.rate.length < 2 || this.rate[this.rate.length - 1] === this.rate[0]) return -1;
    return this.rate.length / ((this.rate[this.rate.length - 1]! - this.rate[0]!) / 1000);
  }

  finish(r: { reply: BuildReply | undefined; failure: unknown; interrupted: boolean }): number {
    this.lp.printOnNewLine('');
    if (r.interrupted || this.wasInterrupted) {
      this.log.out('ninja: build stopped: interrupted by user.');
      return 130;
    }
    if (r.failure !== undefined) {
      if (r.failure instanceof RemoteFailure || r.failure instanceof UserError) {
        const msg = r.failure instanceof RemoteFailure ? r.failure.failure.message : r.failure.message;
        ninjaError(this.log, msg);
        return 1;
      }
      throw r.failure;
    }
    if (this.fatal !== undefined) return 1;
    const reply = r.reply!;
    for (const n of reply.notices) if (!this.graph.m.warnings.includes(n)) ninjaWarning(this.log, n);
    if (this.o.stats) this.printStats(reply);
    if (!reply.ok) {
      for (const e of reply.errors) {
        if (e.code === 'command-failed' || this.shown.has(e.message)) continue;
        // Ninja finds these before it builds: missing inputs (of a manifest B regenerated during
        // the build), dependency cycles, dyndep and depfile errors.
        ninjaError(this.log, e.message);
      }
      if (this.failures > 0) {
        const k = this.o.keepGoing;
        const why = k === 0 || this.failures < k ? 'cannot make progress due to previous errors' : k > 1 ? 'subcommands failed' : 'subcommand failed';
        this.log.out(`ninja: build stopped: ${why}.`);
        return this.exitCode || 1;
      }
      return 1;
    }
    if (this.ran === 0 && !this.o.quiet && !this.o.manifestOnly) this.log.out('ninja: no work to do.');
    return 0;
  }

  private printStats(reply: BuildReply): void {
    const rows: [string, number, number][] = [
      ['.ninja parse (main thread)', 1, this.o.parseMs],
      ['build (node)', 1, reply.ms],
      ['files hashed', reply.hashed, 0],
      ["files stat'ed", reply.stats, 0],
      ['edges run', this.finished, this.cpuMs],
    ];
    const w = Math.max(...rows.map((x) => x[0].length));
    const lines = [`${'metric'.padEnd(w)}\t${'count'.padEnd(6)}\t${'avg (us)'.padEnd(9)}\ttotal (ms)`];
    for (const [name, count, total] of rows) {
      const avg = count > 0 ? (total * 1000) / count : 0;
      lines.push(`${name.padEnd(w)}\t${String(count).padEnd(6)}\t${avg.toFixed(1).padEnd(8)}\t${total.toFixed(1)}`);
    }
    this.log.out(lines.join('\n'));
  }
}

function rate(r: number): string {
  if (r === -1) return '?';
  if (!Number.isFinite(r)) return 'inf';
  return r.toFixed(1);
}

function clock(sec: number, hours: boolean): string {
  const t = Math.floor(sec);
  const mm = String(Math.floor((t % 3600) / 60)).padStart(2, '0');
  const ss = String(t % 60).padStart(2, '0');
  return hours ? `${Math.floor(t / 3600)}:${mm}:${ss}` : `${String(Math.floor(t / 60)).padStart(2, '0')}:${ss}`;
}

function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.includes('\x1b') ? s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '') : s;
}
