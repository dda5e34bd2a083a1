// The -t tools of the Ninja personality: the dispatcher, the tools' getopt, and the tools that
// read the manifest to act on files or list inputs: clean, commands, inputs, multi-inputs (and
// wincodepage). Listing tools (graph, query, targets, rules, compdb, compdb-targets) are in
// ninja-tools-list.ts; tools on B's build database (deps, missingdeps, cleandead, recompact,
// restat) in ninja-tools-db.ts. Output formats follow ninja 1.13.2's ninja.cc and clean.cc.
// Tools run in the main thread, without starting the build node.

import * as path from 'node:path';
import type { Logger } from './logger.ts';
import type { NinjaEdge } from './ninja-parser.ts';
import { shellEscape, canonicalizePath } from './ninja-path.ts';
import { NinjaGraph } from './ninja-tools-graph.ts';
import { ninjaError, ninjaWarning } from './ninja-status.ts';
import type { NinjaOptions } from './ninja-options.ts';
import type { NinjaDescription } from './ninja-build.ts';
import { Cleaner, byteOrder, collectTargets, toolGetopt, write, type ToolContext } from './ninja-tool-context.ts';
import { toolCleanDead, toolDeps, toolMissingDeps, toolRecompact, toolRestat } from './ninja-tools-db.ts';
import { toolCompdb, toolCompdbTargets, toolGraph, toolQuery, toolRules, toolTargets } from './ninja-tools-list.ts';

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
