// Ninja's command line as ninja 1.13.2 reads it (ninja.cc's ReadFlags): getopt_long over its
// options with GNU argument permutation, -d and -w modes, the usage text and the tools' list.
// Split out of ninja-cli.ts, which runs what these flags ask for.

import { availableParallelism } from 'node:os';
import { NINJA_VERSION } from './ninja-parser.ts';
import type { Logger } from './logger.ts';
import { spellcheck } from './ninja-tools-graph.ts';
import { stderr, ninjaError, ninjaWarning, ninjaFatal } from './ninja-status.ts';
import type { NinjaOptions } from './ninja-options.ts';

/** ninja's GuessParallelism: CPUs + 2 (3 on two CPUs, 2 on one). */
export function guessParallelism(): number {
  const n = availableParallelism();
  return n <= 1 ? 2 : n === 2 ? 3 : n + 2;
}

/** `viaB`: run as `b ninja` (rather than an executable named ninja), so B's own options are listed too. */
function usage(log: Logger, viaB: boolean): void {
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
export function readFlags(argv: string[], prog: string, log: Logger, viaB = false): Parsed {
  const o: NinjaOptions = {
    prog, file: 'build.ninja', dir: undefined, tool: undefined, jobs: undefined, keepGoing: 1, loadAverage: undefined,
    dryRun: false, verbose: false, quiet: false, explain: false, stats: false, keepDepfile: false, keepRsp: false,
    phonyCycleErr: false, eventsFile: undefined, args: [],
  };
  const positional: string[] = [];
  const bad = (msg: string): Parsed => {
    stderr(log, `${prog}: ${msg}`);
    usage(log, viaB);
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
        usage(log, viaB);
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
export const HIDDEN_TOOLS = ['browse', 'msvc', 'urtle'];

function listTools(log: Logger): void {
  log.out(['ninja subtools:', ...TOOLS.map((t) => `${t.name.padStart(11)}  ${t.desc}`)].join('\n'));
}
