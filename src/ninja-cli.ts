// B's Ninja personality: `b ninja [flags] [targets]`, or the executable run under the name
// `ninja`. Ninja's command line (getopt_long, with GNU argument permutation), its messages and
// exit codes, its status line and `FAILED:` report (ninja-status.ts), and its -t tools
// (ninja-tools*.ts). Builds go
// through buildCmd, so B's engine, workers and database do the work; this module only decides
// what the user sees. Reference: ninja 1.13.2's ninja.cc and status_printer.cc.
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
import { availableParallelism } from 'node:os';
import { NINJA_VERSION } from './ninja-parser.ts';
import type { Logger } from './logger.ts';
import type { NinjaDescription } from './ninja-build.ts';
import type { SnapshotHeader } from './fastnoop.ts';
import { NinjaGraph, collectTarget, scanTargets, spellcheck } from './ninja-tools-graph.ts';
import { RemoteFailure, UserError } from './errors.ts';
import { NinjaReporter, stderr, ninjaError, ninjaWarning, ninjaFatal } from './ninja-status.ts';
import { strerror, type NinjaOptions } from './ninja-options.ts';
import { badPlaceholder, formatStatus } from './status-format.ts';
import { holdSignals } from './signals.ts';
import { NinjaLog } from './ninja-log.ts';


export { stderr, ninjaError, ninjaWarning, ninjaFatal, strerror };
export type { NinjaOptions };

/** ninja's GuessParallelism: CPUs + 2 (3 on two CPUs, 2 on one). */
export function guessParallelism(): number {
  const n = availableParallelism();
  return n <= 1 ? 2 : n === 2 ? 3 : n + 2;
}

/** `b ninja` (rather than an executable named ninja): the usage also lists B's own options. */
let viaB = false;

function usage(log: Logger): void {
  stderr(log, `usage: ninja [options] [targets...]

if targets are unspecified, builds the 'default' target (see manual).

options:
  --version      print ninja version ("${NINJA_VERSION}")
  -v, --verbose  show all command lines while building
  --quiet        don't show progress status, just command output

  -C DIR   change to DIR before doing anything else
  -f FILE  specify input build file [default=build.ninja]

  -j N     run N jobs in parallel (0 means infinity) [default=${guessParallelism()} on this system]
  -k N     keep going until N jobs fail (0 means infinity) [default=1]
  -l N     do not start new jobs if the load average is greater than N
  -n       dry run (don't run commands but act like they succeeded)

  -d MODE  enable debugging (use '-d list' to list modes)
  -t TOOL  run a subtool (use '-t list' to list subtools)
    terminates toplevel options; further flags are passed to the tool
  -w FLAG  adjust warnings (use '-w list' to list warnings)
${viaB ? `
b's own options:
  --events FILE  write build events as NDJSON to FILE
  --explain      same as -d explain
  --cache        use the local action cache (or B_CACHE=1)
  --cache-upload also upload results run here into the nodes' caches (or B_CACHE_UPLOAD=1)
` : ''}`);
}

/** strtol(s, &end, 10) with the whole string consumed; undefined if anything is left. */
function strtol(s: string): number | undefined {
  const m = /^\s*([+-]?\d*)/.exec(s)!;
  if (m[0].length !== s.length) return undefined;
  const v = m[1] === '' || m[1] === '+' || m[1] === '-' ? 0 : Number(m[1]);
  return v;
}

interface LongOption {
  name: string;
  hasArg: boolean;
}
const LONG: LongOption[] = [
  { name: 'help', hasArg: false },
  { name: 'version', hasArg: false },
  { name: 'verbose', hasArg: false },
  { name: 'quiet', hasArg: false },
  // B's own, available where they do not clash with ninja's.
  { name: 'events', hasArg: true },
  { name: 'explain', hasArg: false },
  { name: 'cache', hasArg: false },
  { name: 'cache-upload', hasArg: false },
];
/** getopt's optstring "d:f:j:k:l:nt:vw:C:h": option letter -> takes an argument. */
const SHORT: Record<string, boolean> = { d: true, f: true, j: true, k: true, l: true, n: false, t: true, v: false, w: true, C: true, h: false };

type Parsed = { ok: true; opts: NinjaOptions } | { ok: false; code: number };

/**
 * ReadFlags: getopt_long over ninja's options, applying each as it is read (so `--version` or
 * `-d list` end the program where they stand). Parsing stops after -t: the rest is the tool's.
 */
export function readFlags(argv: string[], prog: string, log: Logger): Parsed {
  const o: NinjaOptions = {
    prog, file: 'build.ninja', dir: undefined, tool: undefined, jobs: undefined, keepGoing: 1, loadAverage: undefined,
    dryRun: false, verbose: false, quiet: false, explain: false, stats: false, keepDepfile: false, keepRsp: false,
    phonyCycleErr: false, eventsFile: undefined, args: [],
  };
  const positional: string[] = [];
  const bad = (msg: string): Parsed => {
    stderr(log, `${prog}: ${msg}`);
    usage(log);
    return { ok: false, code: 1 };
  };
  let i = 0;
  // Applies one option; a number is the exit code when the program ends here.
  const apply = (opt: string, arg: string): number | undefined => {
    switch (opt) {
      case 'd':
        return debugEnable(arg, o, log);
      case 'f':
        o.file = arg;
        return undefined;
      case 'j': {
        const v = strtol(arg);
        if (v === undefined || v < 0) return ninjaFatal(log, 'invalid -j parameter');
        o.jobs = v > 0 && v < 2 ** 31 - 1 ? v : 0;
        return undefined;
      }
      case 'k': {
        const v = strtol(arg);
        if (v === undefined) return ninjaFatal(log, '-k parameter not numeric; did you mean -k 0?');
        o.keepGoing = v > 0 && v < 2 ** 31 - 1 ? v : 0;
        return undefined;
      }
      case 'l': {
        const m = /^\s*[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|inf(inity)?|nan)/i.exec(arg);
        if (m === null) return ninjaFatal(log, '-l parameter not numeric: did you mean -l 0.0?');
        o.loadAverage = Number.parseFloat(m[0]);
        return undefined;
      }
      case 'n':
        o.dryRun = true;
        return undefined;
      case 't':
        if (arg === 'list') {
          listTools(log);
          return 0;
        }
        if (!TOOLS.some((t) => t.name === arg) && !HIDDEN_TOOLS.includes(arg)) {
          const s = spellcheck(arg, TOOLS.map((t) => t.name));
          return ninjaFatal(log, `unknown tool '${arg}'${s !== undefined ? `, did you mean '${s}'?` : ''}`);
        }
        o.tool = arg;
        return undefined;
      case 'v':
      case 'verbose':
        o.verbose = true;
        return undefined;
      case 'quiet':
        o.quiet = true;
        return undefined;
      case 'w':
        return warningEnable(arg, o, log);
      case 'C':
        o.dir = arg;
        return undefined;
      case 'version':
        log.out(NINJA_VERSION);
        return 0;
      case 'events':
        o.eventsFile = arg;
        return undefined;
      case 'explain':
        o.explain = true;
        return undefined;
      case 'cache':
        process.env.B_CACHE = '1'; // for the whole process, as B_CACHE=1 in the environment
        return undefined;
      case 'cache-upload':
        process.env.B_CACHE = '1';
        process.env.B_CACHE_UPLOAD = '1'; // as B_CACHE_UPLOAD=1 (cache-upload.ts)
        return undefined;
      default: // 'h', 'help'
        usage(log);
        return 1;
    }
  };
  while (i < argv.length && o.tool === undefined) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      i = argv.length;
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const exact = LONG.find((l) => l.name === name);
      const matches = exact ? [exact] : LONG.filter((l) => l.name.startsWith(name));
      if (matches.length === 0) return bad(`unrecognized option '--${name}'`);
      if (matches.length > 1) return bad(`option '--${name}' is ambiguous; possibilities:${matches.map((m) => ` '--${m.name}'`).join('')}`);
      const lo = matches[0]!;
      let arg = '';
      if (lo.hasArg) {
        if (eq >= 0) arg = a.slice(eq + 1);
        else if (i + 1 < argv.length) arg = argv[++i]!;
        else return bad(`option '--${lo.name}' requires an argument`);
      } else if (eq >= 0) {
        return bad(`option '--${lo.name}' doesn't allow an argument`);
      }
      i++;
      const code = apply(lo.name, arg);
      if (code !== undefined) return { ok: false, code };
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // A cluster of short options: -nv, -j8, -Cdir.
      for (let k = 1; k < a.length; k++) {
        const c = a[k]!;
        const takes = SHORT[c];
        if (takes === undefined) return bad(`invalid option -- '${c}'`);
        let arg = '';
        if (takes) {
          if (k + 1 < a.length) arg = a.slice(k + 1);
          else if (i + 1 < argv.length) arg = argv[++i]!;
          else return bad(`option requires an argument -- '${c}'`);
          k = a.length;
        }
        const code = apply(c, arg);
        if (code !== undefined) return { ok: false, code };
        if (o.tool !== undefined) break;
      }
      i++;
      continue;
    }
    positional.push(a);
    i++;
  }
  // Like ninja with GNU getopt: after -t, the targets seen before it are dropped (getopt had not
  // permuted them yet) and everything after it goes to the tool.
  o.args = o.tool !== undefined ? argv.slice(i) : positional;
  return { ok: true, opts: o };
}

function debugEnable(name: string, o: NinjaOptions, log: Logger): number | undefined {
  switch (name) {
    case 'list':
      log.out(`debugging modes:
  stats        print operation counts/timing info
  explain      explain what caused a command to execute
  keepdepfile  don't delete depfiles after they're read by ninja
  keeprsp      don't delete @response files on success
multiple modes can be enabled via -d FOO -d BAR`);
      return 1;
    case 'stats':
      o.stats = true;
      return undefined;
    case 'explain':
      o.explain = true;
      return undefined;
    case 'keepdepfile':
      o.keepDepfile = true;
      return undefined;
    case 'keeprsp':
      o.keepRsp = true;
      return undefined;
    case 'nostatcache':
      return undefined;
    default: {
      const s = spellcheck(name, ['stats', 'explain', 'keepdepfile', 'keeprsp', 'nostatcache']);
      ninjaError(log, `unknown debug setting '${name}'${s !== undefined ? `, did you mean '${s}'?` : ''}`);
      return 1;
    }
  }
}

function warningEnable(name: string, o: NinjaOptions, log: Logger): number | undefined {
  switch (name) {
    case 'list':
      log.out('warning flags:\n  phonycycle={err,warn}  phony build statement references itself');
      return 1;
    case 'phonycycle=err':
      o.phonyCycleErr = true;
      return undefined;
    case 'phonycycle=warn':
      o.phonyCycleErr = false;
      return undefined;
    case 'dupbuild=err':
    case 'dupbuild=warn':
      ninjaWarning(log, "deprecated warning 'dupbuild'");
      return undefined;
    case 'depfilemulti=err':
    case 'depfilemulti=warn':
      ninjaWarning(log, "deprecated warning 'depfilemulti'");
      return undefined;
    default: {
      const s = spellcheck(name, ['phonycycle=err', 'phonycycle=warn']);
      ninjaError(log, `unknown warning flag '${name}'${s !== undefined ? `, did you mean '${s}'?` : ''}`);
      return 1;
    }
  }
}

/** The tools of `-t list`, in ninja's order. */
export const TOOLS: { name: string; desc: string }[] = [
  { name: 'clean', desc: 'clean built files' },
  { name: 'commands', desc: 'list all commands required to rebuild given targets' },
  { name: 'inputs', desc: 'list all inputs required to rebuild given targets' },
  { name: 'multi-inputs', desc: 'print one or more sets of inputs required to build targets' },
  { name: 'deps', desc: 'show dependencies stored in the deps log' },
  { name: 'missingdeps', desc: 'check deps log dependencies on generated files' },
  { name: 'graph', desc: 'output graphviz dot file for targets' },
  { name: 'query', desc: 'show inputs/outputs for a path' },
  { name: 'targets', desc: 'list targets by their rule or depth in the DAG' },
  { name: 'compdb', desc: 'dump JSON compilation database to stdout' },
  { name: 'compdb-targets', desc: 'dump JSON compilation database for a given list of targets to stdout' },
  { name: 'recompact', desc: 'recompacts ninja-internal data structures' },
  { name: 'restat', desc: 'restats all outputs in the build log' },
  { name: 'rules', desc: 'list all rules' },
  { name: 'cleandead', desc: 'clean built files that are no longer produced by the manifest' },
  ...(process.platform === 'win32' ? [{ name: 'wincodepage', desc: 'print the Windows code page used by ninja' }] : []),
];
/** Known to ninja but not offered by B (reported as such, not as unknown tools). */
const HIDDEN_TOOLS = ['browse', 'msvc', 'urtle'];

function listTools(log: Logger): void {
  log.out(['ninja subtools:', ...TOOLS.map((t) => `${t.name.padStart(11)}  ${t.desc}`)].join('\n'));
}

/** Runs ninja's command line; resolves with the exit code. */
export async function runNinja(argv: string[], log: Logger, prog?: string): Promise<number> {
  viaB = prog === undefined;
  prog ??= 'ninja';
  const parsed = readFlags(argv, prog, log);
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
  try {
    return loadNinja(o.file, process.cwd(), { phonyCycleErr: o.phonyCycleErr });
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
    const { fastNoop } = await import('./cmd-build.ts');
    const hit = fastNoop(process.cwd(), o.file, []);
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
  const manifest = loaded.manifestKey();
  if (o.dryRun && manifest !== undefined) {
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
