// B's Ninja personality: `b ninja [flags] [targets]`, or the executable run under the name
// `ninja`. Ninja's command line (read by ninja-flags.ts: getopt_long, with GNU argument
// permutation), its messages and exit codes, its status line and `FAILED:` report
// (ninja-status.ts), and its -t tools (ninja-tools*.ts). Builds go through buildCmd, so B's
// engine, workers and database do the work; this module only decides what the user sees. Reference: ninja 1.13.2's ninja.cc and status_printer.cc.
//
// Flags: -C DIR, -f FILE, -j N, -k N, -l N, -n, -v/--verbose, --quiet, -d MODE (explain, stats,
// keepdepfile, keeprsp, nostatcache, list), -w FLAG (phonycycle=err|warn, dupbuild=...,
// depfilemulti=..., list), -t TOOL, --version, -h/--help; B's own --events FILE and --explain.
// Where B differs from ninja 1.13.2:
// - `-d keepdepfile` and `-d keeprsp` apply to the commands this process runs, not to those run
//   by build nodes (B_NODES).
// - `-t` tools read B's database (.b/db in $builddir) where ninja reads .ninja_log/.ninja_deps;
//   -t graph numbers the vertices instead of printing pointers; -t browse, msvc and urtle are
//   not offered.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from './logger.ts';
import type { NinjaDescription } from './ninja-build.ts';
import type { SnapshotHeader } from './fastnoop.ts';
import { NinjaGraph, collectTarget, scanTargets } from './ninja-tools-graph.ts';
import { HIDDEN_TOOLS, guessParallelism, readFlags } from './ninja-flags.ts';
import { RemoteFailure, UserError } from './errors.ts';
import { NinjaReporter, stderr, ninjaError, ninjaWarning, ninjaFatal } from './ninja-status.ts';
import { strerror, type NinjaOptions } from './ninja-options.ts';
import { badPlaceholder, formatStatus } from './status-format.ts';
import { holdSignals } from './signals.ts';
import { NinjaLog } from './ninja-log.ts';

export { stderr, ninjaError, ninjaWarning, ninjaFatal, strerror };
export type { NinjaOptions };

/** Runs ninja's command line; resolves with the exit code. */
export async function runNinja(argv: string[], log: Logger, prog?: string): Promise<number> {
  const viaB = prog === undefined;
  prog ??= 'ninja';
  const parsed = readFlags(argv, prog, log, viaB);
  if (!parsed.ok) return parsed.code;
  const o = parsed.opts;
  if (o.dir !== undefined) {
    // Printed so that editors follow relative paths in what comes next; not for tools, whose
    // output is often piped somewhere.
    if (o.tool === undefined && !o.quiet) log.out(`ninja: Entering directory \`${o.dir}'`);
    try {
      process.chdir(o.dir);
    } catch (e) {
      return ninjaFatal(log, `chdir to '${o.dir}' - ${strerror(e)}`);
    }
  }
  if (o.tool !== undefined && HIDDEN_TOOLS.includes(o.tool)) {
    return ninjaFatal(log, o.tool === 'browse' ? 'browse tool not supported on this platform' : `unknown tool '${o.tool}'`);
  }
  try {
    if (o.tool !== undefined) {
      const { runTool } = await import('./ninja-tools.ts');
      return await runTool(o, log, loadManifest);
    }
    // A signal while the manifest loads and the node starts is kept for the build, which then
    // stops at once and says so (exit 130), as ninja interrupted while its command runs.
    const release = holdSignals();
    try {
      return await build(o, log);
    } finally {
      release();
    }
  } catch (e) {
    if (e instanceof UserError || e instanceof RemoteFailure) {
      const msg = e instanceof RemoteFailure ? e.failure.message : e.message;
      ninjaError(log, msg);
      return 1;
    }
    throw e;
  }
}


/**
 * Loads the manifest in this thread, as ninja does before anything else: for its errors in
 * ninja's words, for the targets (spelling suggestions, `foo^`), and for what the status line
 * and the failure report show (commands, all outputs of an edge, the console pool).
 */
export async function loadManifest(o: NinjaOptions, log: Logger): Promise<NinjaDescription | number> {
  if (!fs.existsSync(o.file)) {
    ninjaError(log, `loading '${o.file}': No such file or directory`);
    return 1;
  }
  const { loadNinja } = await import('./ninja-build.ts');
  const { cachedParse } = await import('./ninja-manifest-cache.ts');
  try {
    return loadNinja(o.file, process.cwd(), { phonyCycleErr: o.phonyCycleErr, parse: cachedParse(process.cwd()) });
  } catch (e) {
    if (e instanceof UserError) {
      // A too old ninja is fatal in ninja (version.cc), not a syntax error at a line.
      const v = /^[^\n]*?:\d+: (ninja version \(.*?\) incompatible with build file ninja_required_version version \(.*?\)\.)/.exec(e.message);
      if (v !== null) return ninjaFatal(log, v[1]!);
      ninjaError(log, e.message);
      return 1;
    }
    throw e;
  }
}

async function build(o: NinjaOptions, log: Logger): Promise<number> {
  const t0 = performance.now();
  // `ninja` with nothing to do: the last build's snapshot answers without loading the manifest
  // (fastnoop.ts). Only for the default targets: named ones need the manifest to canonicalize.
  if (o.args.length === 0 && !o.dryRun && !o.explain && !o.stats && o.eventsFile === undefined && validStatus(process.env.NINJA_STATUS ?? '[%f/%t] ')) {
    // From fastnoop.ts, not cmd-build.ts: a no-op loads no more than it runs.
    const { snapshotHit } = await import('./fastnoop.ts');
    const hit = snapshotHit(process.cwd(), o.file, []);
    if (typeof hit !== 'string') {
      const js = await openJobserver(o, log);
      let r: number | undefined;
      try {
        r = await snapshotCommands(o, log, hit);
      } finally {
        await closeJobserver(js);
      }
      if (r !== undefined) return r;
    }
  }
  // A build on this machine alone starts its commands through the spawn helper (build-local.ts);
  // started now, it boots while the manifest parses, and the fork copies a smaller process
  // (serd edit-rebuild: the first command started ~45 ms sooner than when the helper started
  // after loading).
  if (!o.dryRun && (process.env.B_NODES ?? '').trim() === '') (await import('./spawner.ts')).startSpawner();
  if (o.keepDepfile || o.keepRsp) Object.assign((await import('./ninja-run.ts')).keep, { depfile: o.keepDepfile, rsp: o.keepRsp });
  let loaded = await loadManifest(o, log);
  if (typeof loaded === 'number') return loaded;
  const parseMs = performance.now() - t0;
  for (const w of loaded.manifest.warnings) ninjaWarning(log, w);
  const fmt = process.env.NINJA_STATUS ?? '[%f/%t] ';

  const jobs = o.jobs ?? guessParallelism();
  // .ninja_log for the tools that read it (ninja-log.ts); not in a dry run, as ninja.
  let ninjaLog: NinjaLog | undefined;
  if (!o.dryRun) {
    const opened = NinjaLog.open(path.resolve(loaded.manifest.builddir ?? ''));
    if (opened.warning !== undefined) ninjaWarning(log, opened.warning);
    ninjaLog = opened.log;
  }
  try {
    return await buildLoop(o, log, loaded, jobs, fmt, parseMs, ninjaLog);
  } finally {
    ninjaLog?.close();
  }
}

async function buildLoop(o: NinjaOptions, log: Logger, loaded: NinjaDescription, jobs: number, fmt: string, parseMs: number, ninjaLog: NinjaLog | undefined): Promise<number> {
  let regenerated = false;
  // Only a dry run needs it here: each call stats every input of the generator (zstd: 133).
  const manifest = o.dryRun ? loaded.manifestKey() : undefined;
  if (manifest !== undefined) {
    // ninja dry-runs the manifest's regeneration first and stops there if it would run: a dry
    // run never changes the manifest, so the rest would be planned from a stale one.
    const graph = new NinjaGraph(loaded.manifest, process.cwd());
    const r = await runBuild(o, log, loaded, graph, [manifest], new Set([manifest]), jobs, fmt, parseMs, { manifestOnly: true }, ninjaLog);
    if (r.code !== 0 || r.manifestRan) return r.code;
  }
  for (;;) {
    const graph = new NinjaGraph(loaded.manifest, process.cwd());
    const plan = planBuild(graph, o.args);
    if (plan.error !== undefined) {
      // The manifest may know the target once it is regenerated (ninja regenerates first).
      const key = loaded.manifestKey();
      if (!regenerated && key !== undefined && !o.dryRun) {
        regenerated = true;
        const r = await runBuild(o, log, loaded, graph, [key], new Set([key]), jobs, fmt, parseMs, { manifestOnly: true }, ninjaLog);
        if (r.code !== 0) return r.code;
        if (!r.manifestRan) {
          ninjaError(log, plan.error);
          return 1;
        }
        const again = await loadManifest(o, log);
        if (typeof again === 'number') return again;
        loaded = again;
        continue;
      }
      ninjaError(log, plan.error);
      return 1;
    }
    const js = await openJobserver(o, log);
    try {
      // With a jobserver, its slots bound the jobs (ninja's CanRunMore: no -j bound then).
      return (await runBuild(o, log, loaded, graph, plan.targets, plan.reachable, js ? 0 : jobs, fmt, parseMs, { useDefaults: o.args.length === 0 }, ninjaLog)).code;
    } finally {
      await closeJobserver(js);
    }
  }
}

/**
 * ninja 1.13's SetupJobserverClient: a GNU make jobserver named by MAKEFLAGS, used only without
 * -j and -n, and only for a build on this machine alone (build nodes keep their own slots);
 * whether one is in use. Its messages are ninja's, where ninja prints them.
 */
async function openJobserver(o: NinjaOptions, log: Logger): Promise<boolean> {
  const makeflags = process.env.MAKEFLAGS;
  if (makeflags === undefined || o.jobs !== undefined || o.dryRun || (process.env.B_NODES ?? '').trim() !== '') return false;
  const { JobserverClient, nativeConfig, useJobserver } = await import('./jobserver.ts');
  const c = nativeConfig(makeflags);
  if ('error' in c) {
    ninjaWarning(log, `Ignoring jobserver: ${c.error} [${makeflags}]`);
    return false;
  }
  if (c.mode !== 'fifo') return false;
  if (!o.quiet) log.out(`ninja: Jobserver mode detected: ${makeflags}`);
  const client = JobserverClient.open(c.path);
  if (!(client instanceof JobserverClient)) {
    ninjaError(log, `Could not initialize jobserver: ${client.error}`);
    return false;
  }
  useJobserver(client);
  return true;
}

async function closeJobserver(open: boolean): Promise<void> {
  if (!open) return;
  const { jobserver, useJobserver } = await import('./jobserver.ts');
  jobserver()?.close();
  useJobserver(undefined);
}

/**
 * A no-op by the last build's snapshot: runs the edges that run in every build (CMake's custom
 * commands whose outputs never appear) as ninja prints them; undefined when one of them wrote
 * its output after all, and the normal path must decide.
 */
async function snapshotCommands(o: NinjaOptions, log: Logger, hit: SnapshotHeader): Promise<number | undefined> {
  const cmds = hit.commands ?? [];
  if (cmds.length === 0) {
    if (!o.quiet) log.out('ninja: no work to do.');
    return 0;
  }
  const { runSnapshotCommands } = await import('./fastnoop.ts');
  const fmt = process.env.NINJA_STATUS ?? '[%f/%t] ';
  const smart = log.smartTerminal;
  const t0 = Date.now();
  const line = (i: number, done: number): string => {
    const c = cmds[i]!;
    const text = formatStatus(fmt, { started: done, finished: done, total: cmds.length, running: 0, elapsedMs: Date.now() - t0, currentRate: -1, predicted: done / cmds.length });
    return text + (o.verbose ? c.cmd : c.description);
  };
  const r = await runSnapshotCommands(process.cwd(), hit, o.jobs === 0 ? 512 : (o.jobs ?? guessParallelism()), {
    started: () => {},
    finished: (c, done) => {
      if (!o.quiet) {
        if (smart && !o.verbose) log.status(line(c.index, done));
        else log.raw(`${line(c.index, done)}\n`);
      }
      if (c.exit !== 0 || c.spawnError !== undefined) {
        if (smart) log.finishStatus();
        log.raw(`FAILED: [code=${c.exit < 0 ? 1 : c.exit}] ${(cmds[c.index]?.outs ?? []).map((p) => path.relative(process.cwd(), p)).join(' ')} \n${cmds[c.index]?.cmd ?? ''}\n`);
      }
      if (c.output !== '') {
        if (smart) log.finishStatus();
        log.raw(c.output);
      }
    },
  });
  if (smart) log.finishStatus();
  if (r === 'ok') return 0;
  if (r === 'changed') return undefined;
  if (r.index < 0) {
    log.out('ninja: build stopped: interrupted by user.');
    return 130;
  }
  log.out('ninja: build stopped: subcommand failed.');
  return 1;
}

function validStatus(fmt: string): boolean {
  return badPlaceholder(fmt) === undefined;
}

interface BuildPlan {
  targets: string[];
  reachable: Set<string>;
  error?: string;
}

/** The targets as nodes (ninja's CollectTargetsFromArgs), then ninja's pre-build checks. */
function planBuild(g: NinjaGraph, args: string[]): BuildPlan {
  let targets: string[];
  if (args.length === 0) {
    const d = g.defaultNodes();
    if (d.error !== undefined) return { targets: [], reachable: new Set(), error: d.error };
    targets = d.nodes;
  } else {
    targets = [];
    for (const a of args) {
      const t = collectTarget(g, a);
      if (t.error !== undefined) return { targets: [], reachable: new Set(), error: t.error };
      targets.push(t.node!);
    }
  }
  const scan = scanTargets(g, targets, (p) => fs.existsSync(path.resolve(g.root, p)));
  return { targets, reachable: scan.reachable, ...(scan.error !== undefined ? { error: scan.error } : {}) };
}

async function runBuild(
  o: NinjaOptions, log: Logger, desc: NinjaDescription, graph: NinjaGraph, targets: string[], reachable: Set<string>,
  jobs: number, fmt: string, parseMs: number, how: { useDefaults?: boolean; manifestOnly?: boolean }, ninjaLog: NinjaLog | undefined,
): Promise<{ code: number; manifestRan: boolean }> {
  const { buildCmd } = await import('./cmd-build.ts');
  const { loadNinja } = await import('./ninja-build.ts');
  const reporter = new NinjaReporter(log, {
    graph, reachable, statusFormat: fmt, verbose: o.verbose, quiet: o.quiet, explain: o.explain, jobs: jobs === 0 ? 512 : jobs,
    manifestKey: desc.manifestKey(), keepGoing: o.keepGoing, dryRun: o.dryRun, stats: o.stats, parseMs,
    manifestOnly: how.manifestOnly === true,
    ninjaLog,
    reload: () => {
      const d = loadNinja(o.file, process.cwd(), { phonyCycleErr: o.phonyCycleErr });
      const g = new NinjaGraph(d.manifest, process.cwd());
      const p = planBuild(g, o.args);
      return { graph: g, reachable: p.reachable };
    },
  });
  const code = await buildCmd(how.useDefaults === true ? [] : targets, {
    dir: process.cwd(),
    file: o.file,
    jobs,
    keepGoing: o.keepGoing,
    ...(o.loadAverage !== undefined && o.loadAverage > 0 ? { loadAverage: o.loadAverage } : {}),
    dryRun: o.dryRun,
    explain: o.explain,
    exactTargets: true,
    ...(o.eventsFile !== undefined ? { eventsFile: o.eventsFile } : {}),
    reporter,
    preloaded: desc,
  }, log);
  return { code, manifestRan: reporter.manifestRan };
}
