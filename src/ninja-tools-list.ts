// The -t tools of the Ninja personality that list the build graph: graph (graphviz dot), query,
// targets, rules, compdb and compdb-targets, in ninja 1.13.2's formats (ninja.cc, graphviz.cc).

import type { NinjaEdge } from './ninja-parser.ts';
import { collectTarget, spellcheck, unparse } from './ninja-tools-graph.ts';
import { ninjaError, stderr } from './ninja-status.ts';
import { byteOrder, collectTargets, firstReverseDep, toolGetopt, write, type ToolContext } from './ninja-tool-context.ts';

export function toolGraph(ctx: ToolContext): number {
  const nodes = collectTargets(ctx, ctx.o.args);
  if (nodes === undefined) return 1;
  const g = ctx.g;
  // Ninja names graph vertices by pointer; B numbers them in the order they are reached.
  const ids = new Map<unknown, string>();
  const id = (x: unknown): string => {
    let s = ids.get(x);
    if (s === undefined) {
      s = `0x${(0x1000 + ids.size * 16).toString(16)}`;
      ids.set(x, s);
    }
    return s;
  };
  const out = ['digraph ninja {', 'rankdir="LR"', 'node [fontsize=10, shape=box, height=0.25]', 'edge [fontsize=10]'];
  const visitedNodes = new Set<string>();
  const visitedEdges = new Set<NinjaEdge>();
  const stack = [...nodes].reverse();
  // Ninja recurses into inputs in order; an explicit stack gives the same order reversed-pushed.
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (visitedNodes.has(node)) continue;
    visitedNodes.add(node);
    out.push(`"${id('n:' + node)}" [label="${node.replaceAll('\\', '/')}"]`);
    const e = g.producer(node);
    if (e === undefined || visitedEdges.has(e)) continue;
    visitedEdges.add(e);
    const { ins, explicit, implicit } = g.inputsOf(e);
    const outs = g.outputsOf(e);
    if (ins.length === 1 && outs.length === 1) {
      out.push(`"${id('n:' + ins[0]!)}" -> "${id('n:' + outs[0]!)}" [label=" ${e.rule}"]`);
    } else {
      out.push(`"${id(e)}" [label="${e.rule}", shape=ellipse]`);
      for (const o of outs) out.push(`"${id(e)}" -> "${id('n:' + o)}"`);
      ins.forEach((i, k) => out.push(`"${id('n:' + i)}" -> "${id(e)}" [arrowhead=none${k >= explicit + implicit ? ' style=dotted' : ''}]`));
    }
    for (let k = ins.length - 1; k >= 0; k--) stack.push(ins[k]!);
  }
  out.push('}');
  write(ctx, out);
  return 0;
}

export function toolQuery(ctx: ToolContext): number {
  if (ctx.o.args.length === 0) {
    ninjaError(ctx.log, 'expected a target to query');
    return 1;
  }
  const g = ctx.g;
  const out: string[] = [];
  for (const arg of ctx.o.args) {
    const t = collectTarget(g, arg, (p) => firstReverseDep(ctx, p));
    if (t.error !== undefined) {
      write(ctx, out.splice(0));
      ninjaError(ctx.log, t.error);
      return 1;
    }
    const node = t.node!;
    out.push(`${node}:`);
    const e = g.producer(node);
    if (e !== undefined) {
      out.push(`  input: ${e.rule}`);
      const { ins, explicit, implicit } = g.inputsOf(e);
      ins.forEach((i, k) => out.push(`    ${k >= explicit + implicit ? '|| ' : k >= explicit ? '| ' : ''}${i}`));
      if (e.validations.length > 0) {
        out.push('  validations:');
        for (const v of e.validations) out.push(`    ${v}`);
      }
    }
    out.push('  outputs:');
    for (const user of g.outEdges(node)) for (const o of g.outputsOf(user)) out.push(`    ${o}`);
    const vf = g.validationOutEdges(node);
    if (vf.length > 0) {
      out.push('  validation for:');
      for (const user of vf) for (const o of g.outputsOf(user)) out.push(`    ${o}`);
    }
  }
  write(ctx, out);
  return 0;
}

export function toolTargets(ctx: ToolContext): number {
  const g = ctx.g;
  const args = ctx.o.args;
  let depth = 1;
  const out: string[] = [];
  if (args.length >= 1) {
    const mode = args[0]!;
    if (mode === 'rule') {
      const rule = args[1] ?? '';
      if (rule === '') {
        // Source files: inputs no edge produces, once per use.
        for (const e of g.edges) for (const i of e.ins) if (g.producer(i) === undefined) out.push(i);
      } else {
        const set = new Set<string>();
        for (const e of g.edges) if (e.rule === rule) for (const o of e.outs) set.add(o);
        out.push(...[...set].sort(byteOrder));
      }
      write(ctx, out);
      return 0;
    } else if (mode === 'depth') {
      if (args.length > 1) depth = atoi(args[1]!);
    } else if (mode === 'all') {
      for (const e of g.edges) for (const o of e.outs) out.push(`${o}: ${e.rule}`);
      write(ctx, out);
      return 0;
    } else {
      const s = spellcheck(mode, ['rule', 'depth', 'all']);
      ninjaError(ctx.log, `unknown target tool mode '${mode}'${s !== undefined ? `, did you mean '${s}'?` : ''}`);
      return 1;
    }
  }
  const roots = g.rootNodes();
  if (roots.length === 0 && g.edges.length > 0) {
    ninjaError(ctx.log, 'could not determine root nodes of build graph');
    return 1;
  }
  // ToolTargetsList, iteratively: each node, then (while depth allows) its edge's inputs.
  const stack: { nodes: string[]; i: number; depth: number; indent: number }[] = [{ nodes: roots, i: 0, depth, indent: 0 }];
  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    if (f.i >= f.nodes.length) {
      stack.pop();
      continue;
    }
    const n = f.nodes[f.i++]!;
    const e = g.producer(n);
    const pad = '  '.repeat(f.indent);
    if (e !== undefined) {
      out.push(`${pad}${n}: ${e.rule}`);
      if (f.depth > 1 || f.depth <= 0) stack.push({ nodes: e.ins, i: 0, depth: f.depth - 1, indent: f.indent + 1 });
    } else {
      out.push(`${pad}${n}`);
    }
  }
  write(ctx, out);
  return 0;
}

/** C's atoi: leading integer, 0 if none. */
function atoi(s: string): number {
  const m = /^\s*([+-]?\d+)/.exec(s);
  return m === null ? 0 : Number(m[1]);
}

export function toolRules(ctx: ToolContext): number {
  const a = toolGetopt(ctx, 'hd');
  if (a === undefined) return 1;
  let descriptions = false;
  for (const f of a.flags) {
    if (f.opt === 'd') descriptions = true;
    else {
      ctx.log.out(`usage: ninja -t rules [options]

options:
  -d     also print the description of the rule
  -h     print this message`);
      return 1;
    }
  }
  const rules = ctx.g.rules();
  const out: string[] = [];
  if (rules === undefined) {
    // No build statement to reach the scope from: only the built-in rule is known for sure.
    out.push('phony');
  } else {
    for (const name of [...rules.keys()].sort(byteOrder)) {
      let line = name;
      const d = rules.get(name)!.bindings.get('description');
      if (descriptions && d !== undefined) line += `: ${unparse(d)}`;
      out.push(line);
    }
  }
  write(ctx, out);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// compdb, compdb-targets

/** EvaluateCommandWithRspfile: with -x, `@rspfile` (or -f / --option-file=) replaced by its content. */
function commandFor(e: NinjaEdge, expand: boolean): string {
  const command = e.command;
  if (!expand) return command;
  const rsp = e.rspfile;
  if (rsp === '') return command;
  const index = command.indexOf(rsp);
  if (index <= 0) return command;
  const at = command[index - 1] === '@';
  const dashF = command.indexOf('-f ') === index - 3;
  const optFile = command.indexOf('--option-file=') === index - 14;
  if (!at && !dashF && !optFile) return command;
  const content = e.rspfileContent.replaceAll('\n', ' ');
  if (at) return command.slice(0, index - 1) + content + command.slice(index + rsp.length);
  if (dashF) return command.slice(0, index - 3) + content + command.slice(index + rsp.length);
  return command.slice(0, index - 14) + content + command.slice(index + rsp.length);
}

/** EncodeJSONString. */
function json(s: string): string {
  let r = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === '\b') r += '\\b';
    else if (ch === '\f') r += '\\f';
    else if (ch === '\n') r += '\\n';
    else if (ch === '\r') r += '\\r';
    else if (ch === '\t') r += '\\t';
    else if (c < 0x20) r += `\\u00${c.toString(16).padStart(2, '0')}`;
    else if (ch === '\\') r += '\\\\';
    else if (ch === '"') r += '\\"';
    else r += ch;
  }
  return r;
}

function compdbObject(dir: string, e: NinjaEdge, expand: boolean): string {
  return `\n  {\n    "directory": "${json(dir)}",\n    "command": "${json(commandFor(e, expand))}",\n    "file": "${json(e.ins[0] ?? '')}",\n    "output": "${json(e.outs[0] ?? '')}"\n  }`;
}

export function toolCompdb(ctx: ToolContext): number {
  const a = toolGetopt(ctx, 'hx');
  if (a === undefined) return 1;
  let expand = false;
  for (const f of a.flags) {
    if (f.opt === 'x') expand = true;
    else {
      ctx.log.out(`usage: ninja -t compdb [options] [rules]

options:
  -x     expand @rspfile style response file invocations`);
      return 1;
    }
  }
  const dir = process.cwd();
  const objs: string[] = [];
  for (const e of ctx.g.edges) {
    if (e.ins.length === 0) continue;
    if (a.args.length === 0) objs.push(compdbObject(dir, e, expand));
    else for (const r of a.args) if (e.rule === r) objs.push(compdbObject(dir, e, expand));
  }
  ctx.log.raw(`[${objs.join(',')}\n]\n`);
  return 0;
}

export function toolCompdbTargets(ctx: ToolContext): number {
  const a = toolGetopt(ctx, 'hx');
  if (a === undefined) return 1;
  let expand = false;
  let help = false;
  for (const f of a.flags) {
    if (f.opt === 'x') expand = true;
    else help = true;
  }
  if (!help && a.args.length === 0) {
    ninjaError(ctx.log, 'compdb-targets expects the name of at least one target');
    help = true;
  }
  if (help) {
    ctx.log.out(`usage: ninja -t compdb [-hx] target [targets]

options:
  -h     display this help message
  -x     expand @rspfile style response file invocations`);
    return 1;
  }
  // CommandCollector: the edges leading to the targets, requisites first.
  const edges: NinjaEdge[] = [];
  const visitedNodes = new Set<string>();
  const visitedEdges = new Set<NinjaEdge>();
  for (const arg of a.args) {
    const t = collectTarget(ctx.g, arg);
    if (t.error !== undefined) {
      stderr(ctx.log, `ninja: fatal: ${t.error}`);
      return 1;
    }
    const node = t.node!;
    if (ctx.g.producer(node) === undefined) {
      stderr(ctx.log, `ninja: fatal: '${node}' is not a target (i.e. it is not an output of any \`build\` statement)`);
      return 1;
    }
    const stack: { e: NinjaEdge; i: number }[] = [];
    const enter = (n: string): void => {
      if (visitedNodes.has(n)) return;
      visitedNodes.add(n);
      const e = ctx.g.producer(n);
      if (e === undefined || visitedEdges.has(e)) return;
      visitedEdges.add(e);
      stack.push({ e, i: 0 });
    };
    enter(node);
    while (stack.length > 0) {
      const f = stack[stack.length - 1]!;
      if (f.i < f.e.ins.length) {
        enter(f.e.ins[f.i++]!);
        continue;
      }
      stack.pop();
      if (!f.e.isPhony) edges.push(f.e);
    }
  }
  const dir = process.cwd();
  const objs = edges.filter((e) => !e.isPhony && e.ins.length > 0).map((e) => compdbObject(dir, e, expand));
  ctx.log.raw(`[${objs.join(',')}\n]\n`);
  return 0;
}
