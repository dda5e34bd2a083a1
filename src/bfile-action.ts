// A Bfile rule's `run(cmd, opts)` as an action (the same action type as a Ninja edge's command,
// action-key.ts): what it runs, where it may run, what it reads and writes. Pure: no file system
// beyond `exists` and `digestOf` handed in, no process; bfile-farm.ts places and caches it.
//
// - Inputs are the files the rule needed before it called run() (the engine's record, never a
//   list the rule's worker sends), plus the files its command line names that exist in the
//   build root (a file an earlier command of the same rule wrote, say). Those are the key's.
// - What a node gets is a superset: also every file the rule's last trace named (the headers its
//   last depfile listed, as for Ninja edges), and, on a first build (no trace yet), the
//   source-like files of a compile's include directories and source directory (rexec-client.ts).
//   Shipping more than needed is harmless: blobs are content-addressed, sent once.
// - Outputs are `opts.outputs`, else the rule's `out`/`outs`, plus the depfile it writes
//   (`opts.depfile`, else the file after `-MF`): the depfile comes back so that `needDepfile`
//   reads it here. With the rule's outputs as the default, a command may leave the machine or be
//   cached only if its command line names every one of them: `mkdir -p obj` in a rule for
//   `obj/a.o` writes no `obj/a.o`, and must not be taken for what makes it.
// - Never cached: commands of phony rules (they run in every build) and oracles (they ask about
//   this machine), commands with no inputs or no outputs, with `cache: false`, or a working
//   directory outside the build root. Commands of phony rules and oracles never leave this
//   machine either, nor do commands with `remote: false`.

import * as path from 'node:path';
import { compileInfo, isSystem, shellWords, sourceFilesUnder } from './rexec-client.ts';
import { commandPrograms } from './ninja-cache.ts';
import { pathKey, type ActionSpec } from './action-key.ts';
import type { RunRequest } from './need-messages.ts';

/** A `run()` as the build host sees it: the NEED's fields (need-messages.ts), its cwd absolute. */
export type RunCall = Omit<RunRequest, 'op' | 'task'>;

export interface RuleFacts {
  /** The build root (the Bfile's directory), absolute. */
  root: string;
  kind: 'file' | 'oracle' | 'phony';
  /** The rule's outputs (keys relative to the root). */
  outs: string[];
  /** Files the rule needed so far, with their content digests (hex). */
  needed: { key: string; digest: string }[];
  /** File keys the rule's last trace named (undefined: never built here). */
  lastDeps: string[] | undefined;
}

export interface PlannedRun {
  /** The command as recorded and shown: the shell line, or the argv as JSON. */
  text: string;
  /** The command for a shell (an argv quoted word by word). */
  shell: string;
  /** Programs the command starts (fingerprinted for the key; the first compiler is the node's tool). */
  programs: string[];
  outputs: string[];
  /** The depfile's key, or ''. */
  depfile: string;
  /** The key's inputs: needed files, then files the command names (sorted, no duplicates). */
  inputs: string[];
  /** Files a node gets (keys or absolute paths; superset of `inputs`). */
  transfer: string[];
  /** Why it is never cached, or undefined. */
  uncacheable: string | undefined;
  /** Why it runs only here, or undefined. */
  local: string | undefined;
}

const COMPILER = /^(?:.*\/)?(?:[\w.+-]+-)?(?:cc|gcc|g\+\+|c\+\+|clang|clang\+\+)(?:-\d+(?:\.\d+)*)?$/;

/** Quotes an argv for /bin/sh, word by word. */
export function shellQuote(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** The parts of a shell line between `&&`, `||`, `;` and newlines (quotes kept whole). */
export function commandParts(cmd: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let q: string | undefined;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (q !== undefined) {
      if (c === q) q = undefined;
      cur += c;
    } else if (c === "'" || c === '"') {
      q = c;
      cur += c;
    } else if (c === ';' || c === '\n' || ((c === '&' || c === '|') && cmd[i + 1] === c)) {
      if (c !== ';' && c !== '\n') i++;
      parts.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  parts.push(cur.trim());
  return parts.filter((p) => p !== '');
}

/** The depfile a command names: the word after `-MF` (or glued to it). */
export function depfileOf(words: string[]): string | undefined {
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === '-MF' && words[i + 1] !== undefined) return words[i + 1];
    if (w.startsWith('-MF') && w.length > 3) return w.slice(3);
  }
  return undefined;
}

function inside(root: string, key: string): boolean {
  const rel = path.relative(root, path.resolve(root, key));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * How a run() call becomes an action. `isFile(abs)` says whether a regular file is there now
 * (for the files a command line names); `scan` lists the source-like files under directories
 * (rexec-client.ts's, bounded; undefined when over the bounds).
 */
export function planRun(
  call: RunCall,
  rule: RuleFacts,
  isFile: (abs: string) => boolean,
  scan: (dirs: string[], skip: (abs: string) => boolean) => string[] | undefined = sourceFilesUnder,
): PlannedRun {
  const root = rule.root;
  const shell = call.argv !== undefined ? shellQuote(call.argv) : call.shell ?? '';
  const text = call.argv !== undefined ? JSON.stringify(call.argv) : shell;
  const words = call.argv ?? shellWords(shell);
  const programs = call.argv !== undefined ? (call.argv[0] !== undefined ? [call.argv[0]] : []) : commandPrograms(shell);
  const given = call.outputs !== undefined;
  const outputs = (call.outputs ?? rule.outs).map((o) => pathKey(root, o, root));
  const named = call.depfile ?? depfileOf(words);
  const depfile = named !== undefined ? pathKey(root, named, call.cwd) : '';
  const written = new Set([...outputs, ...(depfile !== '' ? [depfile] : [])]);

  // Files the command line names that are here now (not what it writes): inputs too.
  const mentioned: string[] = [];
  for (const w of words) {
    if (w === '' || w.startsWith('-') || /[*?$`;&|<>]/.test(w)) continue;
    const k = pathKey(root, w, call.cwd);
    if (written.has(k) || !inside(root, k) || !isFile(path.resolve(root, k))) continue;
    mentioned.push(k);
  }
  const neededKeys = rule.needed.map((n) => n.key);
  const inputs = [...new Set([...neededKeys, ...mentioned])].sort();

  const transfer = new Set(inputs);
  if (rule.lastDeps !== undefined) for (const d of rule.lastDeps) transfer.add(d);
  else {
    // First build here: no depfile has named the headers yet (what planRexec does for Ninja).
    const dirs: string[] = [];
    for (const part of commandParts(shell)) {
      const info = compileInfo(part, call.cwd);
      if (info === undefined) continue;
      dirs.push(...info.includeDirs, ...(info.source ? [path.dirname(info.source)] : []));
    }
    if (dirs.length > 0) {
      const extra = scan(dirs.filter((d) => !isSystem(d + '/')), (abs) => transfer.has(pathKey(root, abs, root)));
      for (const f of extra ?? []) transfer.add(pathKey(root, f, root));
    }
  }

  const cwdInRoot = call.cwd === root || inside(root, path.relative(root, call.cwd));
  const unnamed = !given && outputs.some((o) => !mentions(text, o, root));
  const outside = [...written].find((o) => !inside(root, o));
  // Where it may not run elsewhere nor be cached, whatever the options say.
  const structural = !cwdInRoot ? 'its working directory is outside the build root'
    : outputs.length === 0 ? 'it declares no outputs'
      : outside !== undefined ? `it writes ${outside}, outside the build root`
        : unnamed ? "its command line does not name the rule's outputs (give run() { outputs })" : undefined;
  const byKind = rule.kind === 'oracle' ? 'an oracle asks about this machine' : rule.kind === 'phony' ? 'a phony rule runs it in every build' : undefined;
  const local = byKind ?? (call.remote === false ? 'run() was given remote: false' : structural);
  const uncacheable = call.cache === false ? 'run() was given cache: false'
    : byKind ?? structural ?? (inputs.length === 0 ? 'it has no inputs' : programs.length === 0 ? 'no program of it can be named' : undefined);
  return { text, shell, programs, outputs, depfile, inputs, transfer: [...transfer], uncacheable, local };
}

/** Whether a command line names an output (as written, or as an absolute path). */
function mentions(text: string, out: string, root: string): boolean {
  const re = (s: string): RegExp => new RegExp(`(^|[\\s'"=,:(])(?:\\./)?${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=$|[\\s'";,)])`);
  return re(out).test(text) || re(path.resolve(root, out)).test(text);
}

/** The program a node must have as this machine has it (compared by fingerprint): the first compiler, else the first program. */
export function placementTool(programs: string[]): string | undefined {
  return programs.find((p) => COMPILER.test(p)) ?? programs[0];
}

/** Whether the command's last part is a gcc/clang run (then the node adds -ffile-prefix-map). */
export function endsInCompiler(shell: string): boolean {
  const last = commandParts(shell).at(-1);
  const w = last === undefined ? undefined : shellWords(last)[0];
  return w !== undefined && COMPILER.test(w);
}

/**
 * The action's key material (action-key.ts). `deps` marks it a Bfile action (with a depfile or
 * not), so a Ninja edge with the same command line never shares its entry: the two record
 * different outputs (a Bfile action brings its depfile back).
 */
export function runSpec(plan: PlannedRun, call: RunCall, rule: RuleFacts, extra: { platform: string; tool: string; env: Record<string, string>; base: string; digests: Map<string, string> }): ActionSpec {
  return {
    platform: extra.platform,
    tool: extra.tool,
    cmd: plan.text,
    rspfileContent: '',
    env: { ...extra.env, ...(call.env ?? {}) },
    cwd: call.cwd,
    base: extra.base,
    inputs: plan.inputs.map((p) => ({ path: p, digest: extra.digests.get(p) ?? 'missing' })),
    outputs: [...plan.outputs, ...(plan.depfile !== '' ? [plan.depfile] : [])],
    depfile: plan.depfile,
    deps: plan.depfile !== '' ? 'bfile:gcc' : 'bfile',
    msvcPrefix: '',
    rspfile: '',
  };
}
