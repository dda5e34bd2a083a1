// `b build`: the client side of a build. Starts the in-process node (broker + lazily started
// workers), asks its build engine to build, renders the events it streams back, and turns the
// outcome into an exit code: 0 built, 1 build failed, 2 usage or build-file error, 130 interrupted.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { availableParallelism } from 'node:os';
import { defaultJobs } from './parallelism.ts';
import { onInterrupt } from './signals.ts';
import { RemoteFailure, UserError } from './errors.ts';
import { Progress } from './progress.ts';
import type { Logger } from './logger.ts';
import type { BuildRequest, Loaded } from './build-host.ts';
import { parseBuildReply, parseEventBatch, type BuildReply } from './need-messages.ts';
import { isProtocolError } from './protocol.ts';
import type { BuildEvent } from './engine-types.ts';
import { findBuildFile } from './buildfile.ts';
import { runSnapshotCommands, snapshotHit, type SnapshotHeader } from './fastnoop.ts';
import { uploadLine } from './cache-tally.ts';

export interface BuildOptions {
  /** Instead of building: remove every recorded output ('clean') or the dead ones ('clean-dead'). */
  clean?: 'clean' | 'clean-dead';
  dir?: string;
  file?: string;
  /** Commands at once (-j); 0: unlimited; undefined: Ninja's default (CPUs + 2). */
  jobs?: number;
  /** Threads that run JavaScript (default: number of CPUs); never follows -j. */
  workers?: number;
  keepGoing?: number;
  /** Ninja's -l: no new rule while the load average is above this (one always runs). */
  loadAverage?: number;
  dryRun?: boolean;
  explain?: boolean;
  eventsFile?: string;
  ioThreads?: number;
  status?: string;
  verbose?: boolean;
  /** Message printed when nothing ran (Ninja prints "ninja: no work to do."). */
  noWork?: string;
  /** Other build nodes (tcp://host:port[#key]); B_NODES adds more. */
  nodes?: string[];
  /** Command slots on this machine when nodes are used (default: CPUs + 2; 0: none). */
  local?: number;
  keyFile?: string;
  heartbeatMs?: number;
  /** Use nodes without pinned keys, in plaintext (--insecure). */
  insecure?: boolean;
  /** Targets are build keys already (the Ninja personality canonicalized them): no path.normalize. */
  exactTargets?: boolean;
  /** Renders progress and the outcome instead of B's own output (the Ninja personality). */
  reporter?: BuildReporter;
  /** The build file as the caller loaded it (the Ninja personality): not read again when the build runs here. */
  preloaded?: Loaded;
}

/** Another face for a build: gets the event stream and decides the messages and exit code. */
export interface BuildReporter {
  /** Ask the engine for every action it considers (start events, up-to-date finishes). */
  readonly detailed: boolean;
  /** One event (from a build in this thread, or decoded from the node's batches). */
  one(e: BuildEvent): void;
  /** Ctrl-C or SIGTERM arrived; the node is being stopped. */
  interrupted(sig: string): void;
  /** Receives a way to stop the build (no new command; running ones stopped), for a fatal error. */
  bindStop?(stop: () => void): void;
  /** The build is over: print the summary, return the exit code. `failure` is what was thrown. */
  finish(outcome: { reply: BuildReply | undefined; failure: unknown; interrupted: boolean }): number;
}

function fmtBytes(n: number): string {
  return n < 10_000 ? `${n} bytes` : n < 10_000_000 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`;
}

/** B_WORKERS: the thread count where no flag can say it (B run as `ninja` by CMake). */
function workersFromEnv(): number | undefined {
  const v = process.env.B_WORKERS;
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 4096) throw new UserError({ code: 'usage', message: `B_WORKERS must be an integer from 1 to 4096, got ${JSON.stringify(v)}` });
  return n;
}

/** Nodes from --node and the B_NODES environment variable (comma or space separated). */
export function nodesFrom(flags: string[] | undefined): string[] {
  const env = (process.env.B_NODES ?? '').split(/[\s,]+/).filter(Boolean);
  return [...new Set([...(flags ?? []), ...env])];
}

export async function buildCmd(targets: string[], o: BuildOptions, log: Logger): Promise<number> {
  const dir = path.resolve(o.dir ?? '.');
  const requested = o.exactTargets === true ? targets : targets.map((t) => path.normalize(t));
  // A build that the last one's snapshot shows has nothing to do needs no node, no build file
  // and no database: only a stat of every file it touched (fastnoop.ts).
  if (o.clean === undefined && !o.dryRun && !o.explain && o.eventsFile === undefined && o.reporter === undefined) {
    const t0 = performance.now();
    const hit = fastNoop(dir, o.file, requested);
    if (typeof hit === 'string') log.debug(`no-op snapshot not used: ${hit}`);
    else {
      log.debug(`no-op snapshot: ${hit.count ?? 0} files unchanged (${(performance.now() - t0).toFixed(1)} ms)`);
      const cmds = hit.commands ?? [];
      const r = await runSnapshotCommands(dir, hit, o.jobs === undefined ? availableParallelism() : o.jobs === 0 ? 512 : o.jobs, {
        started: () => {},
        finished: (c, done) => {
          log.out(`[${done}/${cmds.length}] ${cmds[c.index]?.description ?? ''}`);
          if (c.output !== '') log.raw(c.output);
        },
      });
      if (typeof r !== 'string') {
        if (r.index < 0) {
          log.error('build stopped: interrupted');
          return 130;
        }
        const why = r.spawnError ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.exit}`);
        log.error(`command failed (${why}): ${cmds[r.index]?.cmd ?? ''}`);
        log.error(`build failed: 1 rule failed, ${cmds.length} ran`);
        return 1;
      }
      if (r === 'ok') {
        if (cmds.length === 0) log.info(o.noWork ?? `no work to do (${hit.upToDate} up to date)`);
        else log.info(`ran ${cmds.length} rule${cmds.length === 1 ? '' : 's'} that run in every build, ${hit.upToDate} up to date, ${((performance.now() - t0) / 1000).toFixed(2)} s`);
        if (hit.dead.length > 0) reportDead(log, hit.dead);
        return 0;
      }
      log.debug('no-op snapshot not used: a command of it wrote its output');
    }
  }
  const nodes = nodesFrom(o.nodes);
  // -j bounds the commands running at once (everywhere, with nodes), as Ninja's does; threads
  // only run JavaScript, so there are as many as CPUs whatever -j says (each thread is a V8
  // isolate: one per job made -j200 take 2.8 GiB). With nodes, --local is this machine's share.
  // With nodes and no -j, the nodes' advertised slots (their credits) are the bound, as before:
  // CPUs + 2 of this machine would starve a farm.
  const jobs = o.jobs === undefined ? (nodes.length > 0 ? undefined : defaultJobs()) : o.jobs === 0 ? undefined : o.jobs;
  const local = nodes.length === 0 ? jobs : (o.local ?? defaultJobs());
  const workers = local === 0 ? 0 : (o.workers ?? workersFromEnv() ?? availableParallelism());
  // Commands can tell which b runs them (threads copy the environment when they start): a
  // `ninja -t restat` run by CMake's regeneration step inside this build must not wait for
  // this build's lock (ninja-tools-db.ts).
  process.env.B_BUILD_PID = String(process.pid);
  // A Ninja manifest built on this machine alone needs no node: the engine runs here and starts
  // the commands itself (build-local.ts). Bfiles and builds with other nodes use the node.
  const here = nodes.length === 0 && isNinjaFile(dir, o.file);
  const node = here ? undefined : await (await import('./runtime.ts')).LocalNode.start({
    workers,
    ...(local !== undefined && local > 0 ? { jobs: local } : {}),
    ioThreads: o.ioThreads ?? 1,
    lazyWorkers: true,
    peers: nodes,
    ...(o.keyFile !== undefined ? { clientKeyFile: o.keyFile } : {}),
    ...(o.heartbeatMs !== undefined ? { heartbeatMs: o.heartbeatMs } : {}),
    ...(o.insecure === true ? { insecureNodes: true } : {}),
  }, log);
  const client = node === undefined ? undefined : new (await import('./client.ts')).Client(node.frontend);
  const reporter = o.reporter;
  const progress = reporter !== undefined ? undefined : new Progress(log, {
    explain: o.explain === true,
    ...(o.eventsFile !== undefined ? { eventsFile: path.resolve(o.eventsFile) } : {}),
    ...(o.status !== undefined ? { status: o.status } : {}),
    verbose: o.verbose === true,
  });
  // With a reporter, --events still gets every event (Progress writes the file otherwise).
  const eventsFd = reporter !== undefined && o.eventsFile !== undefined ? fs.openSync(path.resolve(o.eventsFile), 'w') : undefined;
  // A build in this thread hands over each event as it is (build-local.ts); the node's thread
  // sends batches, decoded here once (need-messages.ts).
  const onEvent = (e: BuildEvent): void => {
    if (progress !== undefined) return progress.one(e);
    if (eventsFd !== undefined) fs.writeSync(eventsFd, JSON.stringify(e) + '\n');
    reporter!.one(e);
  };
  let malformed: Error | undefined;
  const onEvents = (b: Buffer): void => {
    const events = parseEventBatch(b);
    if (isProtocolError(events)) {
      malformed ??= nodeBug('event', events.message);
      return;
    }
    for (const e of events) onEvent(e);
  };
  let interrupted = false;
  const stopHere = new AbortController();
  reporter?.bindStop?.(() => {
    if (node !== undefined) void node.stop('stopped by a fatal error');
    else stopHere.abort('SIGTERM');
  });
  const off = onInterrupt((sig) => {
    interrupted = true;
    if (reporter !== undefined) reporter.interrupted(sig);
    else {
      log.clearStatus();
      log.info(`${sig}: stopping the build`);
    }
    if (node !== undefined) void node.stop(`interrupted by ${sig}`);
    else stopHere.abort(sig); // the commands get the same signal (exec.ts), as ninja forwards it
  });
  // However the node ends, nothing may keep waiting on it.
  if (node !== undefined) void node.done.then(() => client?.failAll({ code: 'node.stopped', message: interrupted ? 'interrupted' : 'the build node stopped unexpectedly' }));
  let reply: BuildReply | undefined;
  let failure: unknown;
  try {
    await client?.hello('b build');
    const req: BuildRequest = {
      op: o.clean ?? 'build',
      dir,
      targets: requested,
      keepGoing: o.keepGoing ?? 1,
      dryRun: o.dryRun === true,
      explain: o.explain === true,
      events: o.eventsFile !== undefined || reporter?.detailed === true,
      env: Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined)),
      ...(jobs !== undefined ? { jobs } : {}),
      ...(o.loadAverage !== undefined ? { loadAverage: o.loadAverage } : {}),
      ...(o.file !== undefined ? { file: o.file } : {}),
    };
    if (client === undefined) reply = await (await import('./build-local.ts')).buildHere(req, onEvent, stopHere.signal, o.preloaded);
    else {
      const r = parseBuildReply(await client.need(req, onEvents).done);
      if (isProtocolError(r)) throw nodeBug('reply', r.message);
      reply = r;
    }
    if (malformed !== undefined) throw malformed;
  } catch (e) {
    failure = e;
  } finally {
    off();
    progress?.close();
    if (eventsFd !== undefined) fs.closeSync(eventsFd);
    await node?.stop('build finished');
    client?.close();
  }
  if (reporter !== undefined) return reporter.finish({ reply, failure, interrupted });
  if (interrupted) {
    log.error('build stopped: interrupted');
    return 130;
  }
  if (failure !== undefined) {
    if (failure instanceof RemoteFailure) {
      const f = failure.failure;
      const code = typeof f.fields?.exitCode === 'number' ? f.fields.exitCode : 1;
      throw new UserError({ code: f.code, message: f.message, exitCode: code, ...(f.hint ? { hint: f.hint } : {}), ...(f.where ? { where: f.where } : {}) });
    }
    throw failure;
  }
  const r = reply!;
  if (o.clean !== undefined) {
    for (const f of r.dead) log.out(`removed ${f}`);
    log.info(`${o.clean === 'clean' ? 'cleaned' : 'removed dead files:'} ${r.dead.length} file${r.dead.length === 1 ? '' : 's'}`);
    return r.ok ? 0 : 1;
  }
  for (const n of r.notices) log.warn(n);
  log.debug(`hashed ${r.hashed} files, stat'ed ${r.stats}${r.messages ? `, ${r.messages.sent} messages sent and ${r.messages.received} received` : ''}`);
  if (r.noSnapshot !== undefined) log.debug(`no no-op snapshot written: ${r.noSnapshot}`);
  log.debug(node === undefined ? 'built in this thread: no build node, no worker thread' : `build node: ${r.workersStarted ?? 0} worker thread${r.workersStarted === 1 ? '' : 's'} started`);
  if (r.phases) log.debug(`load ${r.phases.load} ms, database ${r.phases.db} ms, build ${r.phases.build} ms, total in the node ${r.ms} ms`);
  if (!r.ok) {
    for (const e of r.errors) {
      const where = e.where ? `${e.where}: ` : '';
      log.error(`${where}${e.message}${e.hint ? `\n  hint: ${e.hint}` : ''}`);
    }
    log.error(`build failed: ${r.failed} rule${r.failed === 1 ? '' : 's'} failed, ${r.ran} ran, ${r.upToDate} up to date (${(r.ms / 1000).toFixed(2)} s)`);
    return 1;
  }
  if (r.ran === 0) log.info(o.noWork ?? `no work to do (${r.upToDate} up to date)`);
  else {
    const remote = [...(progress?.commandNodes.entries() ?? [])].map(([n, c]) => `${c} on ${n}`).join(', ');
    const where = [...progress!.nodes.entries()].map(([n, c]) => `${c} on ${n}`).join(', ') + (remote !== '' ? `; their commands: ${remote}` : '');
    log.info(`${o.dryRun ? 'would run' : 'ran'} ${r.ran} rule${r.ran === 1 ? '' : 's'}${where && !o.dryRun ? ` (${where})` : ''}, ${r.upToDate} up to date, ${(r.ms / 1000).toFixed(2)} s`);
  }
  const cached = progress?.cache.summary();
  if (cached !== undefined) log.info(cached);
  if (r.uploaded !== undefined) log.info(uploadLine(r.uploaded));
  if (r.dead.length > 0) reportDead(log, r.dead);
  if (r.bytes && (r.bytes.sent > 0 || r.bytes.received > 0)) {
    log.info(`files moved: ${fmtBytes(r.bytes.sent)} sent to nodes, ${fmtBytes(r.bytes.received)} received from them`);
  }
  return 0;
}

function reportDead(log: Logger, dead: string[]): void {
  log.warn(`${dead.length} file${dead.length === 1 ? '' : 's'} from earlier builds that the build no longer produces: ${dead.slice(0, 10).join(' ')}${dead.length > 10 ? ' ...' : ''}\n  hint: \`b clean --dead\` removes them`);
}

/** Whether the build file of `dir` is a Ninja manifest (not a Bfile); false if there is none. */
function isNinjaFile(dir: string, file: string | undefined): boolean {
  try {
    return findBuildFile(dir, file).endsWith('.ninja');
  } catch {
    return false; // the node path reports it, as before
  }
}

/** The last build's snapshot when building `targets` now would do nothing (fastnoop.ts). */
export function fastNoop(dir: string, file: string | undefined, targets: string[]): SnapshotHeader | string {
  return snapshotHit(dir, file, targets);
}

/** What the user sees when the node's answer fails its declared shape (need-messages.ts). */
function nodeBug(what: 'event' | 'reply', why: string): Error {
  return new Error(`the build node sent a malformed ${what} (${why}): this is a bug in B; please report it with the output of --verbose`);
}
