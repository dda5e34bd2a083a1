// The -t tools of the Ninja personality: the dispatcher, the tools' getopt, and the tools that
// read the manifest to act on files or list inputs: clean, commands, inputs, multi-inputs (and
// wincodepage). Listing tools (graph, query, targets, rules, compdb, compdb-targets) are in
// ninja-tools-list.ts; tools on B's build database (deps, missingdeps, cleandead, recompact,
// restat) in ninja-tools-db.ts. Output formats follow ninja 1.13.2's ninja.cc and clean.cc.
// Tools run in the main thread, without starting the build node.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from './logger.ts';
import type { NinjaEdge } from './ninja-parser.ts';
import { shellEscape, canonicalizePath } from './ninja-path.ts';
import { NinjaGraph, collectTarget } from './ninja-tools-graph.ts';
import { ninjaError, ninjaWarning, stderr } from './ninja-status.ts';
import { strerror, type NinjaOptions } from './ninja-options.ts';
import type { NinjaDescription } from './ninja-build.ts';
import { readDb, toolCleanDead, toolDeps, toolMissingDeps, toolRecompact, toolRestat } from './ninja-tools-db.ts';
import { toolCompdb, toolCompdbTargets, toolGraph, toolQuery, toolRules, toolTargets } from './ninja-tools-list.ts';

export interface ToolContext {
  o: NinjaOptions;
  log: Logger;
  desc: NinjaDescription;
  g: NinjaGraph;
}

/** Runs `-t TOOL` with the options and the tool's arguments in `o`; resolves with the exit code. */
/** `load` is the command line's manifest loader (passed in: the tools do not import the command line). */
export async function runTool(o: NinjaOptions, log: Logger, load: (o: NinjaOptions, log: Logger) => Promise<NinjaDescription | number>): Promise<number> {
  const name = o.tool!;
  if (name === 'wincodepage') {
    if (o.args.length !== 0) {
      log.out('usage: ninja -t wincodepage');
      return 1;
    }
    log.out('Build file encoding: UTF-8');
    return 0;
  }
  const desc = await load(o, log);
  if (typeof desc === 'number') {
    // restat only needs to know where the database is: without a manifest, the current directory.
    if (name === 'restat') return toolRestat(o, log, path.resolve('.b'));
    return desc;
  }
  for (const w of desc.manifest.warnings) ninjaWarning(log, w);
  const ctx: ToolContext = { o, log, desc, g: new NinjaGraph(desc.manifest, process.cwd()) };
  switch (name) {
    case 'clean': return toolClean(ctx);
    case 'commands': return toolCommands(ctx);
    case 'inputs': return toolInputs(ctx);
    case 'multi-inputs': return toolMultiInputs(ctx);
    case 'graph': return toolGraph(ctx);
    case 'query': return toolQuery(ctx);
    case 'targets': return toolTargets(ctx);
    case 'compdb': return toolCompdb(ctx);
    case 'compdb-targets': return toolCompdbTargets(ctx);
    case 'rules': return toolRules(ctx);
    case 'deps': return toolDeps(ctx);
    case 'missingdeps': return toolMissingDeps(ctx);
    case 'cleandead': return toolCleanDead(ctx);
    case 'recompact': return toolRecompact(ctx);
    case 'restat': return toolRestat(o, log, desc.dbDir);
    default: return 1;
  }
}

// ---------------------------------------------------------------------------------------------
// getopt for the tools: argv[0] is the tool's name, GNU permutation, short options only unless
// long ones are given.

interface ToolArgs {
  flags: { opt: string; arg: string }[];
  args: string[];
}

export function toolGetopt(ctx: ToolContext, short: string, long: { name: string; opt: string; hasArg: boolean }[] = []): ToolArgs | undefined {
  const argv = ctx.o.args;
  const prog = ctx.o.tool!;
  const flags: { opt: string; arg: string }[] = [];
  const args: string[] = [];
  const takes = (c: string): boolean | undefined => {
    const i = short.indexOf(c);
    return i < 0 || c === ':' ? undefined : short[i + 1] === ':';
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--') && long.length > 0) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const exact = long.find((l) => l.name === name);
      const m = exact ? [exact] : long.filter((l) => l.name.startsWith(name));
      if (m.length !== 1) {
        stderr(ctx.log, m.length === 0 ? `${prog}: unrecognized option '--${name}'` : `${prog}: option '--${name}' is ambiguous; possibilities:${m.map((x) => ` '--${x.name}'`).join('')}`);
        flags.push({ opt: '?', arg: '' });
        continue;
      }
      const lo = m[0]!;
      let arg = '';
      if (lo.hasArg) {
        if (eq >= 0) arg = a.slice(eq + 1);
        else if (i + 1 < argv.length) arg = argv[++i]!;
        else {
          stderr(ctx.log, `${prog}: option '--${lo.name}' requires an argument`);
          flags.push({ opt: '?', arg: '' });
          continue;
        }
      }
      flags.push({ opt: lo.opt, arg });
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let k = 1; k < a.length; k++) {
        const c = a[k]!;
        const t = takes(c);
        if (t === undefined) {
          stderr(ctx.log, `${prog}: invalid option -- '${c}'`);
          flags.push({ opt: '?', arg: '' });
          continue;
        }
        let arg = '';
        if (t) {
          if (k + 1 < a.length) arg = a.slice(k + 1);
          else if (i + 1 < argv.length) arg = argv[++i]!;
          else {
            stderr(ctx.log, `${prog}: option requires an argument -- '${c}'`);
            flags.push({ opt: '?', arg: '' });
            break;
          }
          k = a.length;
        }
        flags.push({ opt: c, arg });
      }
      continue;
    }
    args.push(a);
  }
  return { flags, args };
}

/** CollectTargetsFromArgs: the arguments as nodes, or the default targets. */
export function collectTargets(ctx: ToolContext, args: string[]): string[] | undefined {
  if (args.length === 0) {
    const d = ctx.g.defaultNodes();
    if (d.error !== undefined) {
      ninjaError(ctx.log, d.error);
      return undefined;
    }
    return d.nodes;
  }
  const nodes: string[] = [];
  for (const a of args) {
    const t = collectTarget(ctx.g, a, (p) => firstReverseDep(ctx, p));
    if (t.error !== undefined) {
      ninjaError(ctx.log, t.error);
      return undefined;
    }
    nodes.push(t.node!);
  }
  return nodes;
}

/** For `foo.h^`: the first output whose recorded depfile dependencies include foo.h. */
export function firstReverseDep(ctx: ToolContext, p: string): string | undefined {
  const snap = readDb(ctx.desc.dbDir);
  try {
    for (const t of snap.db.allTraces()) {
      for (let gi = 1; gi < t.deps.length; gi++) if (t.deps[gi]!.some((d) => d.key === p)) return t.outputs[0] ?? t.action;
    }
    return undefined;
  } finally {
    snap.close();
  }
}

export function write(ctx: ToolContext, lines: string[]): void {
  if (lines.length > 0) ctx.log.raw(lines.join('\n') + '\n');
}

// ---------------------------------------------------------------------------------------------
// clean

/** ninja's Cleaner: removes outputs (and depfiles, rspfiles), counting the files it removed. */
export class Cleaner {
  private readonly ctx: ToolContext;
  private readonly removed = new Set<string>();
  private readonly cleaned = new Set<string>();
  count = 0;
  status = 0;
  private readonly out: string[] = [];

  constructor(ctx: ToolContext) {
    this.ctx = ctx;
  }

  get verbose(): boolean {
    return this.ctx.o.verbose || this.ctx.o.dryRun;
  }

  header(): void {
    this.ctx.log.raw(this.verbose ? 'Cleaning...\n' : 'Cleaning... ');
  }

  footer(): void {
    if (this.out.length > 0) this.ctx.log.raw(this.out.splice(0).join(''));
    this.ctx.log.raw(`${this.count} files.\n`);
  }

  note(line: string): void {
    this.out.push(line + '\n');
  }

  private report(p: string): void {
    this.count++;
    if (this.verbose) this.note(`Remove ${p}`);
  }

  remove(p: string): void {
    if (this.removed.has(p)) return;
    this.removed.add(p);
    const abs = path.resolve(this.ctx.g.root, p);
    if (this.ctx.o.dryRun) {
      if (fs.existsSync(abs)) this.report(p);
      return;
    }
    const r = removeFile(abs);
    if (r === 0) this.report(p);
    else if (r !== 1) {
      this.footerFlush();
      ninjaError(this.ctx.log, `remove(${p}): ${r}`);
      this.status = 1;
    }
  }

  private footerFlush(): void {
    if (this.out.length > 0) this.ctx.log.raw(this.out.splice(0).join(''));
  }

  removeEdgeFiles(e: NinjaEdge): void {
    if (e.depfile !== '') this.remove(canonicalizePath(e.depfile));
    if (e.rspfile !== '') this.remove(canonicalizePath(e.rspfile));
  }

  cleanAll(generator: boolean): void {
    for (const e of this.ctx.g.edges) {
      if (e.isPhony) continue;
      if (!generator && e.generator) continue;
      for (const out of this.ctx.g.outputsOf(e)) this.remove(out);
      this.removeEdgeFiles(e);
    }
  }

  cleanTarget(target: string): void {
    // Iterative version of ninja's recursive DoCleanTarget (same order).
    const stack: { node: string; ins: string[]; i: number }[] = [];
    const enter = (node: string): void => {
      const e = this.ctx.g.producer(node);
      if (e === undefined) {
        this.cleaned.add(node);
        return;
      }
      if (!e.isPhony) {
        this.remove(node);
        this.removeEdgeFiles(e);
      }
      stack.push({ node, ins: this.ctx.g.inputsOf(e).ins, i: 0 });
    };
    enter(target);
    while (stack.length > 0) {
      const f = stack[stack.length - 1]!;
      if (f.i < f.ins.length) {
        const next = f.ins[f.i++]!;
        if (!this.cleaned.has(next)) enter(next);
        continue;
      }
      stack.pop();
      this.cleaned.add(f.node);
    }
  }

  cleanRule(rule: string): void {
    for (const e of this.ctx.g.edges) {
      if (e.rule !== rule) continue;
      for (const out of this.ctx.g.outputsOf(e)) {
        this.remove(out);
        this.removeEdgeFiles(e);
      }
    }
  }
}

/** ninja's RemoveFile: 0 removed, 1 did not exist, else the error text. */
export function removeFile(abs: string): 0 | 1 | string {
  try {
    fs.unlinkSync(abs);
    return 0;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 1;
    if (code === 'EISDIR' || code === 'EPERM') {
      // remove(3) also removes empty directories.
      try {
        fs.rmdirSync(abs);
        return 0;
      } catch (e2) {
        return strerror(e2);
      }
    }
    return strerror(e);
  }
}

function toolClean(ctx: ToolContext): number {
  const a = toolGetopt(ctx, 'hgr');
  if (a === undefined) return 1;
  let generator = false;
  let rules = false;
  for (const f of a.flags) {
    if (f.opt === 'g') generator = true;
    else if (f.opt === 'r') rules = true;
    else {
      ctx.log.out(`usage: ninja -t clean [options] [targets]

options:
  -g     also clean files marked as ninja generator output
  -r     interpret targets as a list of rules to clean instead`);
      return 1;
    }
  }
  if (rules && a.args.length === 0) {
    ninjaError(ctx.log, 'expected a rule to clean');
    return 1;
  }
  const c = new Cleaner(ctx);
  c.header();
  if (a.args.length === 0) c.cleanAll(generator);
  else if (rules) {
    const known = ctx.g.rules();
    for (const r of a.args) {
      if (known !== undefined ? known.has(r) : ctx.g.edges.some((e) => e.rule === r)) {
        if (c.verbose) c.note(`Rule ${r}`);
        c.cleanRule(r);
      } else {
        ninjaError(ctx.log, `unknown rule '${r}'`);
        c.status = 1;
      }
    }
  } else {
    for (const t of a.args) {
      if (t === '') {
        ninjaError(ctx.log, "failed to canonicalize '': empty path");
        c.status = 1;
        continue;
      }
      const p = canonicalizePath(t);
      if (ctx.g.hasNode(p)) {
        if (c.verbose) c.note(`Target ${p}`);
        c.cleanTarget(p);
      } else {
        ninjaError(ctx.log, `unknown target '${p}'`);
        c.status = 1;
      }
    }
  }
  c.footer();
  return c.status;
}

// ---------------------------------------------------------------------------------------------
// commands, inputs, multi-inputs

function toolCommands(ctx: ToolContext): number {
  const a = toolGetopt(ctx, 'hs');
  if (a === undefined) return 1;
  let single = false;
  for (const f of a.flags) {
    if (f.opt === 's') single = true;
    else {
      ctx.log.out(`usage: ninja -t commands [options] [targets]

options:
  -s     only print the final command to build [target], not the whole chain`);
      return 1;
    }
  }
  const nodes = collectTargets(ctx, a.args);
  if (nodes === undefined) return 1;
  const seen = new Set<NinjaEdge>();
  const out: string[] = [];
  for (const n of nodes) {
    const e = ctx.g.producer(n);
    if (e === undefined) continue;
    if (single) {
      if (seen.has(e)) continue;
      seen.add(e);
      if (!e.isPhony) out.push(e.command);
      continue;
    }
    // PrintCommands: inputs' commands first, each edge once (iterative post-order).
    if (seen.has(e)) continue;
    seen.add(e);
    const stack: { e: NinjaEdge; i: number }[] = [{ e, i: 0 }];
    while (stack.length > 0) {
      const f = stack[stack.length - 1]!;
      if (f.i < f.e.ins.length) {
        const dep = ctx.g.producer(f.e.ins[f.i++]!);
        if (dep !== undefined && !seen.has(dep)) {
          seen.add(dep);
          stack.push({ e: dep, i: 0 });
        }
        continue;
      }
      stack.pop();
      if (!f.e.isPhony) out.push(f.e.command);
    }
  }
  write(ctx, out);
  return 0;
}

/** InputsCollector: every input below a node, inputs before the nodes that use them. */
function collectInputs(g: NinjaGraph, node: string, visited: Set<string>, into: string[]): void {
  const e0 = g.producer(node);
  if (e0 === undefined) return;
  const stack: { ins: string[]; i: number; pending?: string }[] = [{ ins: e0.ins, i: 0 }];
  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    if (f.pending !== undefined) {
      // Back from visiting an input: now it is added (unless a phony edge makes it).
      const p = f.pending;
      f.pending = undefined;
      if (!(g.producer(p)?.isPhony ?? false)) into.push(p);
    }
    if (f.i >= f.ins.length) {
      stack.pop();
      continue;
    }
    const input = f.ins[f.i++]!;
    if (visited.has(input)) continue;
    visited.add(input);
    f.pending = input;
    const e = g.producer(input);
    if (e !== undefined) stack.push({ ins: e.ins, i: 0 });
  }
}

function toolInputs(ctx: ToolContext): number {
  const a = toolGetopt(ctx, 'h0Ed', [
    { name: 'help', opt: 'h', hasArg: false },
    { name: 'no-shell-escape', opt: 'E', hasArg: false },
    { name: 'print0', opt: '0', hasArg: false },
    { name: 'dependency-order', opt: 'd', hasArg: false },
  ]);
  if (a === undefined) return 1;
  let print0 = false;
  let escape = true;
  let depOrder = false;
  for (const f of a.flags) {
    if (f.opt === 'd') depOrder = true;
    else if (f.opt === 'E') escape = false;
    else if (f.opt === '0') print0 = true;
    else {
      ctx.log.raw(`Usage '-t inputs [options] [targets]

List all inputs used for a set of targets, sorted in dependency order.
Note that by default, results are shell escaped, and sorted alphabetically,
and never include validation target paths.

Options:
  -h, --help          Print this message.
  -0, --print0            Use \\0, instead of \\n as a line terminator.
  -E, --no-shell-escape   Do not shell escape the result.
  -d, --dependency-order  Sort results by dependency order.
`);
      return 1;
    }
  }
  const nodes = collectTargets(ctx, a.args);
  if (nodes === undefined) return 1;
  const visited = new Set<string>();
  let inputs: string[] = [];
  for (const n of nodes) collectInputs(ctx.g, n, visited, inputs);
  if (escape) inputs = inputs.map(shellEscape);
  if (!depOrder) inputs.sort(byteOrder);
  if (inputs.length > 0) ctx.log.raw(inputs.map((i) => i + (print0 ? '\0' : '\n')).join(''));
  return 0;
}

export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function toolMultiInputs(ctx: ToolContext): number {
  const a = toolGetopt(ctx, 'd:h0', [
    { name: 'help', opt: 'h', hasArg: false },
    { name: 'delimiter', opt: 'd', hasArg: true },
    { name: 'print0', opt: '0', hasArg: false },
  ]);
  if (a === undefined) return 1;
  let term = '\n';
  let delim = '\t';
  for (const f of a.flags) {
    if (f.opt === 'd') delim = f.arg;
    else if (f.opt === '0') term = '\0';
    else {
      ctx.log.raw(`Usage '-t multi-inputs [options] [targets]

Print one or more sets of inputs required to build targets, sorted in dependency order.
The tool works like inputs tool but with addition of the target for each line.
The output will be a series of lines with the following elements:
<target> <delimiter> <input> <terminator>
Note that a given input may appear for several targets if it is used by more than one targets.
Options:
  -h, --help                   Print this message.
  -d  --delimiter=DELIM        Use DELIM instead of TAB for field delimiter.
  -0, --print0                 Use \\0, instead of \\n as a line terminator.
`);
      return 1;
    }
  }
  const nodes = collectTargets(ctx, a.args);
  if (nodes === undefined) return 1;
  let out = '';
  for (const n of nodes) {
    const inputs: string[] = [];
    collectInputs(ctx.g, n, new Set(), inputs);
    for (const i of inputs) out += `${n}${delim}${i}${term}`;
  }
  if (out !== '') ctx.log.raw(out);
  return 0;
}
