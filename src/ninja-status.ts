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
import * as path from 'node:path';
import { constants as osConstants } from 'node:os';
import type { DirtyReason, Termination } from './engine-types.ts';
import { RemoteFailure, UserError } from './errors.ts';
import { badPlaceholder, formatStatus, SlidingRate } from './status-format.ts';
import { commandHash, mtimeNs, type NinjaLog } from './ninja-log.ts';
import { parseDyndep } from './dyndep.ts';
import * as fs from 'node:fs';
import { CacheTally, cachedSuffix, uploadLine } from './cache-tally.ts';

/** Writes to stderr through the logger (the one place that owns the terminal). */
export function stderr(log: Logger, text: string): void {
  log.clearStatus();
  log.stderr.write(text.endsWith('\n') ? text : text + '\n');
}
/** ninja's Error() always ends the message with a newline: one that ends in one leaves a blank line. */
export const ninjaError = (log: Logger, msg: string): void => stderr(log, `ninja: error: ${msg}\n`);
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
  /** Where edges that ran are recorded for ninja's tools (none in a dry run). */
  ninjaLog: NinjaLog | undefined;
}

/** Ninja's LinePrinter (line_printer.cc), writing through B's logger. */
export class LinePrinter {
  /** Status lines are rewritten in place (a TTY, TERM set and not "dumb", normal verbosity). */
  readonly smart: boolean;
  /** Colours are kept in commands' output and FAILED: is red (a smart TTY, or CLICOLOR_FORCE). */
  readonly color: boolean;
  private blank = true;
  private locked = false;
  private lineBuffer = '';
  private lineFull = false;
  private outputBuffer = '';
  private readonly log: Logger;

  constructor(log: Logger, normalVerbosity: boolean, env: NodeJS.ProcessEnv = process.env) {
    this.log = log;
    const term = env.TERM;
    const smart = log.stdout.isTTY === true && term !== undefined && term !== 'dumb';
    const force = env.CLICOLOR_FORCE;
    this.color = smart || (force !== undefined && force !== '0');
    // "Don't do anything fancy in verbose mode" (nor with --quiet): plain lines, colours kept.
    this.smart = smart && normalVerbosity;
  }

  /** A status line: elided and rewritten in place on a smart terminal, else a line of its own. */
  print(line: string, full: boolean): void {
    if (this.locked) {
      this.lineBuffer = line;
      this.lineFull = full;
      return;
    }
    if (this.smart && !full) {
      const cols = (this.log.stdout as { columns?: number }).columns;
      const text = cols ? elideMiddle(line, cols) : line;
      this.log.raw(`\r${text}\x1b[K`);
      this.blank = false;
    } else {
      this.log.raw(`${this.smart ? '\r' : ''}${line}\n`);
    }
  }

  private printOrBuffer(text: string): void {
    if (this.locked) this.outputBuffer += text;
    else this.log.raw(text);
  }

  printOnNewLine(text: string): void {
    if (this.locked && this.lineBuffer !== '') {
      this.outputBuffer += `${this.lineBuffer}\n`;
      this.lineBuffer = '';
    }
    if (!this.blank) this.printOrBuffer('\n');
    if (text !== '') this.printOrBuffer(text);
    this.blank = text === '' || text.endsWith('\n');
  }

  /** While a console-pool edge runs, it owns the terminal: everything else is held back. */
  setConsoleLocked(locked: boolean): void {
    if (locked === this.locked) return;
    if (locked) this.printOnNewLine('');
    this.locked = locked;
    if (!locked) {
      this.printOnNewLine(this.outputBuffer);
      if (this.lineBuffer !== '') this.print(this.lineBuffer, this.lineFull);
      this.outputBuffer = '';
      this.lineBuffer = '';
    }
  }
}

/**
 * ninja's ElideMiddleInPlace: at most `width` visible columns, "..." in the middle, counted in
 * bytes as ninja does; colour sequences (ESC [ ... m) take no column and are kept.
 */
export function elideMiddle(s: string, width: number): string {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length <= width) return s;
  const str = bytes.toString('latin1');
  let out: string;
  if (!str.includes('\x1b')) {
    if (width <= 3) out = '...'.slice(0, width);
    else {
      const left = Math.trunc((width - 3) / 2);
      const right = width - 3 - left;
      out = str.slice(0, left) + '...' + str.slice(str.length - right);
    }
  } else {
    // Which bytes belong to colour sequences.
    const hidden = new Uint8Array(str.length);
    for (const m of str.matchAll(/\x1b\[[0-9;]*m/g)) hidden.fill(1, m.index, m.index + m[0].length);
    const visible = str.length - hidden.reduce((a, b) => a + b, 0);
    if (visible <= width) return s;
    const dots = Math.min(width, 3);
    const gapStart = Math.trunc((width - dots) / 2);
    const gapEnd = visible - (width - dots - gapStart);
    let i = 0;
    let pos = 0;
    for (; i < str.length && pos !== gapStart; i++) pos += hidden[i] ? 0 : 1;
    out = str.slice(0, i) + '...'.slice(0, dots);
    for (; i < str.length && pos !== gapEnd; i++) {
      if (hidden[i]) out += str[i];
      else pos++;
    }
    out += str.slice(i);
  }
  return Buffer.from(out, 'latin1').toString('utf8');
}

/** ninja's ExitStatus of a finished command: its exit code, 130 for an interrupt, else 128+signal. */
export function ninjaExitStatus(t: Termination | undefined): number {
  if (t === undefined || t.kind === 'spawn-error') return 1;
  if (t.kind === 'exit') return t.code;
  if (t.signal === 'SIGINT' || t.signal === 'SIGTERM' || t.signal === 'SIGHUP') return 130;
  const n = (osConstants.signals as Record<string, number>)[t.signal];
  return n !== undefined ? 128 + n : 1;
}

/** The mtime ninja compares, in its units (ns on Linux), or 0 for a missing file. */
const mtimeOf = (root: string, p: string): string => String(mtimeNs(path.resolve(root, p)));

/**
 * A reason for running an edge in the words of ninja 1.13.2's `-d explain` (graph.cc). B
 * compares contents: a changed source is reported as ninja reports a newer one (with the
 * files' mtimes now); a changed generated input "is dirty", as in ninja.
 */
export function explainLine(r: DirtyReason, root: string): string {
  switch (r.kind) {
    case 'never-built':
    case 'output-new':
      return r.exists ? `command line not found in log for ${r.output}` : `output ${r.output} doesn't exist`;
    case 'command-changed':
      return `command line changed for ${r.output}`;
    case 'output-missing':
      return `output ${r.output} doesn't exist`;
    case 'output-modified':
      return `output ${r.output} was modified since it was built`;
    case 'inputs-changed':
      return `inputs of ${r.output} changed`;
    case 'input-changed':
      return r.generated ? `${r.input} is dirty` : `output ${r.output} older than most recent input ${r.input} (${mtimeOf(root, r.output)} vs ${mtimeOf(root, r.input)})`;
    case 'dependency-failed':
      return `${r.input} is dirty`;
    case 'always':
      return 'always runs';
    case 'rule-changed':
      return `rule changed${r.detail !== '' ? ` (${r.detail})` : ''}`;
  }
}

/**
 * The status printer of the Ninja personality (ninja's StatusPrinter): `[%f/%t] description`
 * when an edge finishes (and when it starts, on a smart terminal or for the console pool), the
 * command instead with -v, `FAILED: [code=N] outputs` with the command and its output, `ninja
 * explain:` lines with the edge's status line, and the closing "ninja: ..." line. `%t` is the
 * number of edges the targets reach less those found up to date so far: B decides what is dirty
 * while it builds, so the total shrinks to the exact count as the build goes (ninja knows it up
 * front). Like ninja's, it grows by the edges a dyndep file brings in as the file is loaded, and
 * keeps the manifest's regeneration after the reload.
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
  /** ninja's clock starts with the program; the status shows the time of the event shown. */
  private readonly t0 = performance.timeOrigin;
  private timeMs = 0;
  private readonly rate: SlidingRate;
  private readonly descriptions = new Map<string, string>();
  /** `-d explain` lines of edges that run, shown with their status line (as ninja 1.13 does). */
  private readonly explanations = new Map<string, string[]>();
  private inManifest = false;
  /**
   * Edges of the builds before this one in the same run (the manifest's regeneration): ninja's
   * status printer adds each build's edges to its total and never takes them off, so after a
   * regeneration `%t` counts the generator edge too (1.13.2 ends such a build at [4/5]).
   */
  private totalBase = 0;
  /** Edges that ran, not counting the manifest's regeneration. */
  private ran = 0;
  private failures = 0;
  private exitCode = 0;
  private wasInterrupted = false;
  /** The manifest was regenerated during this build. */
  manifestRan = false;
  /** A failure that is fatal in ninja, already reported. */
  private fatal: string | undefined;
  /** Outputs of the edges that ran successfully in this build. */
  private readonly built = new Set<string>();
  /** Failures already reported with FAILED:. */
  private readonly shown = new Set<string>();
  /** Action cache hits and misses (`--cache`): one line of B's own after the build. */
  private readonly cache = new CacheTally();

  constructor(log: Logger, o: ReporterOptions) {
    this.log = log;
    this.o = o;
    this.lp = new LinePrinter(log, !o.verbose && !o.quiet);
    this.rate = new SlidingRate(o.jobs);
    this.graph = o.graph;
    this.reachable = o.reachable;
    this.addExistingDyndeps();
  }

  /** One event (from a build in this thread, or decoded from the node's batches by cmd-build.ts). */
  one(e: BuildEvent): void {
    this.event(e);
  }

  interrupted(): void {
    this.wasInterrupted = true;
  }

  private stopBuild: (() => void) | undefined;
  bindStop(stop: () => void): void {
    this.stopBuild = stop;
  }

  private total(): number {
    if (this.inManifest) return 1;
    return this.totalBase + Math.max(this.started, this.reachable.size - this.upToDate);
  }

  /** The reachable edges whose `dyndep` binding names each file. */
  private dyndepUsers: Map<string, NonNullable<ReturnType<NinjaGraph['producer']>>[]> | undefined;

  /** ninja loads the dyndep files that are ready as it plans: their new inputs count up front. */
  private addExistingDyndeps(): void {
    for (const file of this.users().keys()) this.addDyndep(file, false);
  }

  private users(): Map<string, NonNullable<ReturnType<NinjaGraph['producer']>>[]> {
    if (this.dyndepUsers === undefined) {
      this.dyndepUsers = new Map();
      for (const key of this.reachable) {
        const e = this.edgeOf(key);
        if (e === undefined || e.dyndep === '') continue;
        const l = this.dyndepUsers.get(e.dyndep);
        if (l === undefined) this.dyndepUsers.set(e.dyndep, [e]);
        else l.push(e);
      }
    }
    return this.dyndepUsers;
  }

  /**
   * A dyndep file was loaded: the edges its new implicit inputs reach join the plan, and `%t`
   * with them, at once (ninja's EdgeAddedToPlan), not as each starts. `fresh`: read it again
   * (it was just built; the graph caches what it read before the build).
   */
  private addDyndep(file: string, fresh: boolean): void {
    const users = this.users().get(file);
    if (users === undefined) return;
    let infos: Map<string, { implicitIns: string[] }> | undefined;
    if (fresh) {
      try {
        infos = parseDyndep(fs.readFileSync(path.resolve(this.graph.root, file), 'utf8'), file);
      } catch {
        return; // the build reports a broken dyndep file itself
      }
    }
    const stack: string[] = [];
    for (const u of users) {
      const info = infos !== undefined ? infos.get(u.outs[0] ?? '') : this.graph.dyndep(u);
      if (info != null) stack.push(...info.implicitIns);
    }
    const seen = new Set<string>();
    while (stack.length > 0) {
      const e = this.edgeOf(stack.pop()!);
      if (e === undefined || seen.has(e.outs[0] ?? '')) continue;
      seen.add(e.outs[0] ?? '');
      if (!e.isPhony) {
        if (this.reachable.has(e.outs[0] ?? '')) continue;
        this.reachable.add(e.outs[0] ?? '');
      }
      stack.push(...e.ins);
    }
  }

  private edgeOf(key: string): ReturnType<NinjaGraph['producer']> {
    return this.graph.producer(key);
  }

  private event(e: BuildEvent): void {
    if (this.fatal !== undefined) return; // ninja has exited
    if (e.event === 'run') {
      if (e.key === this.o.manifestKey) this.inManifest = true;
      this.started++;
      this.running++;
      this.timeMs = (e.t ?? Date.now()) - this.t0;
      this.descriptions.set(e.key, e.description ?? e.key);
      if (this.o.explain && e.reason !== undefined) this.explanations.set(e.key, this.explain(e.key, e.reason));
      const console = this.edgeOf(e.key)?.pool === 'console';
      if (console || this.lp.smart) this.printStatus(e.key);
      if (console) this.lp.setConsoleLocked(true);
      return;
    }
    if (e.event !== 'finish') return;
    if (e.ran !== true) {
      if (this.reachable.has(e.key)) this.upToDate++;
      return;
    }
    const edge = this.edgeOf(e.key);
    const console = edge?.pool === 'console';
    if (this.wasInterrupted || (e.status === 'failed' && e.termination !== undefined && ninjaExitStatus(e.termination) === 130)) {
      // ninja stops at once and reports no status line or FAILED: for the interrupted edge,
      // nor anything of the commands it stops or waits for then (Builder::Cleanup).
      this.wasInterrupted = true;
      if (console) this.lp.setConsoleLocked(false);
      return;
    }
    this.finished++;
    this.cache.event(e);
    if (e.cache !== undefined && e.cache !== 'miss') this.descriptions.set(e.key, `${this.descriptions.get(e.key) ?? e.key}${cachedSuffix(e.cache)}`);
    this.timeMs = (e.t ?? Date.now()) - this.t0;
    this.cpuMs += e.ms ?? 0;
    const fatal = e.status === 'failed' && /^unknown deps type '/.test(e.error?.message ?? '');
    if (fatal && this.fatal === undefined) {
      // Fatal in ninja once the edge has run: no status line, no FAILED report.
      this.fatal = e.error!.message;
      this.finished--;
      stderr(this.log, `ninja: fatal: ${this.fatal}`);
      return;
    }
    if (console) this.lp.setConsoleLocked(false);
    if (!console) this.printStatus(e.key);
    if (this.fatal !== undefined) return;
    this.running = Math.max(0, this.running - 1);
    let output = e.output ?? '';
    if (e.status === 'failed' && !this.wasInterrupted) {
      this.failures++;
      const code = ninjaExitStatus(e.termination);
      this.exitCode = code;
      const outs = edge !== undefined ? this.graph.outputsOf(edge) : [e.key];
      const failed = `FAILED: [code=${code}] `;
      this.lp.printOnNewLine(this.lp.color ? `\x1b[31m${failed}\x1b[0m${outs.join(' ')} \n` : `${failed}${outs.join(' ')} \n`);
      const cmd = (e.error?.fields?.command as string | undefined) ?? edge?.command ?? '';
      this.lp.printOnNewLine(`${cmd}\n`);
      if (e.error?.message !== undefined) this.shown.add(e.error.message);
      // A command that succeeded but whose dependencies could not be read fails with that
      // error after its output, as in ninja (FinishCommand: "\n" only between the two).
      if (e.termination === undefined && e.error?.message !== undefined) output = `${output}${output !== '' ? '\n' : ''}${e.error.message}`;
    }
    if (output !== '') this.lp.printOnNewLine(this.lp.color || !output.includes('\x1b') ? output : stripAnsi(output));
    this.descriptions.delete(e.key);
    this.explanations.delete(e.key);
    if (e.status === 'ok' && edge !== undefined) {
      const outs = this.graph.outputsOf(edge);
      for (const out of outs) this.built.add(out);
      for (const out of outs) this.addDyndep(out, true);
      this.record(e, edge, outs);
    }
    if (e.key === this.o.manifestKey && this.inManifest) {
      // The manifest was regenerated: ninja reloads it and starts a new build (fresh counts).
      this.inManifest = false;
      if (e.status === 'ok') this.manifestRan = true;
      if (e.status === 'ok' && !this.o.dryRun) {
        this.lp.printOnNewLine('');
        if (this.o.manifestOnly) return;
        try {
          const r = this.o.reload();
          this.graph = r.graph;
          this.reachable = r.reachable;
          this.dyndepUsers = undefined;
          this.addExistingDyndeps();
        } catch {
          // The broker reports a broken manifest itself.
        }
        this.totalBase += Math.max(1, this.started);
        this.started = this.finished = this.running = this.upToDate = this.cpuMs = 0;
      }
      return;
    }
    this.ran++;
  }

  /**
   * ninja's explanation of an edge: each input rebuilt in this build "is dirty" (ninja looks at
   * the inputs before the outputs, and stops there), else B's reason in ninja's words.
   */
  private explain(key: string, reason: DirtyReason): string[] {
    const edge = this.edgeOf(key);
    if (edge !== undefined) {
      const dirty = edge.ins.slice(0, edge.ins.length - edge.orderOnlyIns).filter((i) => this.built.has(i));
      if (dirty.length > 0) return dirty.map((i) => `${i} is dirty`);
    }
    return [explainLine(reason, this.graph.root)];
  }

  /** The edge's lines of .ninja_log: times since ninja's start, the newest output's mtime. */
  private record(e: BuildEvent, edge: NonNullable<ReturnType<NinjaGraph['producer']>>, outs: string[]): void {
    const log = this.o.ninjaLog;
    if (log === undefined || this.o.dryRun || edge.isPhony) return;
    const end = (e.t ?? Date.now()) - this.t0;
    let mtime = 0n;
    for (const out of outs) {
      const m = mtimeNs(path.resolve(this.graph.root, out));
      if (m > mtime) mtime = m;
    }
    const hash = commandHash(edge.command, edge.rspfileContent);
    log.record(outs.map((output) => ({ startMs: end - (e.ms ?? 0), endMs: end, mtime, output, hash })));
  }

  private printStatus(key: string): void {
    const why = this.explanations.get(key);
    if (why !== undefined) {
      // A new line first, so that the explanation does not land on the status line.
      this.lp.printOnNewLine('');
      for (const w of why) stderr(this.log, `ninja explain: ${w}`);
    }
    if (this.o.quiet) return;
    const bad = badPlaceholder(this.o.statusFormat);
    if (bad !== undefined) {
      // ninja's FormatProgressStatus is Fatal at the first status line it formats (as an edge
      // starts on a terminal, as the first one finishes through a pipe), and never before.
      // (A '%' at the end: ninja's %c of the string's NUL.)
      this.fatal = `unknown placeholder '%${bad === '' ? '\u0000' : bad}' in $NINJA_STATUS`;
      stderr(this.log, `ninja: fatal: ${this.fatal}`);
      this.stopBuild?.();
      return;
    }
    const edge = this.edgeOf(key);
    const text = this.o.verbose ? (edge?.command ?? this.descriptions.get(key) ?? key) : (this.descriptions.get(key) ?? key);
    this.lp.print(this.format() + text, this.o.verbose);
  }

  /** FormatProgressStatus for NINJA_STATUS. */
  private format(): string {
    const total = this.total();
    return formatStatus(this.o.statusFormat, {
      started: this.started, finished: this.finished, total, running: this.running, elapsedMs: this.timeMs,
      currentRate: this.o.statusFormat.includes('%c') ? this.rate.update(this.finished, this.timeMs) : -1,
      predicted: this.predicted(total),
    });
  }

  /** Share of the work done, in time: the edges' own durations, the rest at their average. */
  private predicted(total: number): number {
    if (this.finished === 0) return 0;
    const avg = this.cpuMs / this.finished;
    const all = this.cpuMs + avg * Math.max(0, total - this.finished);
    return all === 0 ? 0 : this.cpuMs / all;
  }

  finish(r: { reply: BuildReply | undefined; failure: unknown; interrupted: boolean }): number {
    this.lp.setConsoleLocked(false);
    this.lp.printOnNewLine('');
    if (this.fatal !== undefined) return 1;
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
    const reply = r.reply!;
    const cached = this.cache.summary();
    if (cached !== undefined && !this.o.quiet) this.log.out(`b: ${cached}`);
    if (reply.uploaded !== undefined && !this.o.quiet) this.log.out(`b: ${uploadLine(reply.uploaded)}`);
    for (const n of reply.notices) if (!this.graph.m.warnings.includes(n)) ninjaWarning(this.log, n);
    if (this.o.stats) this.printStats(reply);
    if (!reply.ok) {
      for (const e of reply.errors) {
        if (e.code === 'command-failed' || this.shown.has(e.message)) continue;
        if (e.code === 'ninja.dyndep' && e.where !== undefined && this.built.has(e.where)) {
          // A dyndep file made during the build fails the build as it is loaded (ninja's
          // Builder::LoadDyndeps); one that was already there fails the scan before it.
          this.log.out(`ninja: build stopped: ${e.message}.`);
          return 1;
        }
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

/** ninja's StripAnsiEscapeCodes: drops CSI sequences (ESC [ ... letter) and lone ESCs. */
function stripAnsi(s: string): string {
  // As ninja's StripAnsiEscapeCodes, a run of plain text at a time (a compiler's colored
  // output is kilobytes: one character at a time cost ~10 ms of an edit rebuild of serd).
  let esc = s.indexOf('\x1b');
  if (esc < 0) return s;
  let out = '';
  let from = 0;
  while (esc >= 0) {
    out += s.slice(from, esc);
    let i = esc + 1;
    if (i >= s.length) return out;
    if (s[i] === '[') {
      i++;
      while (i < s.length && !isAsciiLetter(s.charCodeAt(i))) i++;
      i++; // the final letter
    }
    from = Math.min(i, s.length);
    esc = s.indexOf('\x1b', from);
  }
  return out + s.slice(from);
}

function isAsciiLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
