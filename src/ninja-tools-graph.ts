// The Ninja personality's view of a parsed manifest as ninja's node graph (State in ninja's
// state.cc): which paths are nodes, the edge producing a node and the edges using it, targets as
// the command line names them (`foo.c^`, the builddir fallback, spelling suggestions), dyndep
// files that already exist, and the scan ninja does before building (dependency cycles, missing
// inputs). Used by `b ninja` before a build and by the -t tools, in the main thread.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NinjaManifest, NinjaEdge } from './ninja-parser.ts';
import { canonicalizePath } from './ninja-path.ts';
import { parseDyndep, type DyndepInfo } from './dyndep.ts';
import type { Edge, Rule, Scope } from './ninja-eval.ts';
import type { EvalString } from './ninja-lexer.ts';

export class NinjaGraph {
  readonly m: NinjaManifest;
  /** Directory paths are relative to (the build directory). */
  readonly root: string;
  private consumersOf: Map<string, NinjaEdge[]> | undefined;
  private validatorsOf: Map<string, NinjaEdge[]> | undefined;
  private dyndeps = new Map<NinjaEdge, DyndepInfo | null>();
  /**
   * Phony outputs that named themselves as inputs: the parser drops that input (with ninja's
   * warning), but in ninja the node keeps the edge among its out-edges, so it is no root node.
   */
  private readonly selfRefs = new Set<string>();

  constructor(m: NinjaManifest, root: string) {
    this.m = m;
    this.root = root;
    for (const w of m.warnings) {
      const r = /^phony target '(.*)' names itself as an input/.exec(w);
      if (r !== null) this.selfRefs.add(r[1]!);
    }
  }

  get edges(): NinjaEdge[] {
    return this.m.edges;
  }

  producer(p: string): NinjaEdge | undefined {
    return this.m.producer.get(p);
  }

  private index(): void {
    const c = new Map<string, NinjaEdge[]>();
    const v = new Map<string, NinjaEdge[]>();
    for (const e of this.m.edges) {
      for (const i of this.selfRefs.size > 0 && e.isPhony && e.outs.some((o) => this.selfRefs.has(o)) ? [...e.ins, ...e.outs.filter((o) => this.selfRefs.has(o))] : e.ins) {
        const l = c.get(i);
        if (l === undefined) c.set(i, [e]);
        else if (l[l.length - 1] !== e) l.push(e);
      }
      for (const i of e.validations) {
        const l = v.get(i);
        if (l === undefined) v.set(i, [e]);
        else if (l[l.length - 1] !== e) l.push(e);
      }
    }
    this.consumersOf = c;
    this.validatorsOf = v;
  }

  /** Ninja's out_edges: the edges that have `p` as an input (of any kind), in manifest order. */
  outEdges(p: string): NinjaEdge[] {
    if (this.consumersOf === undefined) this.index();
    return this.consumersOf!.get(p) ?? [];
  }

  /** The edges that have `p` as a validation. */
  validationOutEdges(p: string): NinjaEdge[] {
    if (this.validatorsOf === undefined) this.index();
    return this.validatorsOf!.get(p) ?? [];
  }

  /** Whether ninja has a node for `p`: an output, an input or a validation of some edge. */
  hasNode(p: string): boolean {
    if (this.m.producer.has(p)) return true;
    if (this.consumersOf === undefined) this.index();
    return this.consumersOf!.has(p) || this.validatorsOf!.has(p);
  }

  /** Every node, in manifest order (for spelling suggestions). */
  *nodes(): Iterable<string> {
    const seen = new Set<string>();
    for (const e of this.m.edges) {
      for (const list of [e.outs, e.ins, e.validations]) {
        for (const p of list) {
          if (!seen.has(p)) {
            seen.add(p);
            yield p;
          }
        }
      }
    }
  }

  /** Ninja's RootNodes: outputs no edge uses as an input. */
  rootNodes(): string[] {
    let used: { has(p: string): boolean };
    if (this.consumersOf !== undefined) used = this.consumersOf;
    else {
      const set = new Set<string>(this.selfRefs);
      for (const e of this.m.edges) for (const i of e.ins) set.add(i);
      used = set;
    }
    const roots: string[] = [];
    for (const e of this.m.edges) for (const o of e.outs) if (!used.has(o)) roots.push(o);
    return roots;
  }

  /** Ninja's DefaultNodes: the `default` targets, else the root nodes. */
  defaultNodes(): { nodes: string[]; error?: string } {
    if (this.m.defaults.length > 0) return { nodes: this.m.defaults };
    const roots = this.rootNodes();
    if (roots.length === 0 && this.m.edges.length > 0) return { nodes: [], error: 'could not determine root nodes of build graph' };
    return { nodes: roots };
  }

  /**
   * The information of an edge's dyndep file, when the file exists (ninja loads those that are
   * ready); null when there is none or it cannot be read.
   */
  dyndep(e: NinjaEdge): DyndepInfo | null {
    if (e.dyndep === '') return null;
    let info = this.dyndeps.get(e);
    if (info === undefined) {
      info = null;
      try {
        const text = fs.readFileSync(path.resolve(this.root, e.dyndep), 'utf8');
        info = parseDyndep(text, e.dyndep).get(e.outs[0] ?? '') ?? null;
      } catch {
        info = null;
      }
      this.dyndeps.set(e, info);
    }
    return info;
  }

  /** An edge's outputs including those its (existing) dyndep file adds. */
  outputsOf(e: NinjaEdge): string[] {
    const d = this.dyndep(e);
    return d === null || d.implicitOuts.length === 0 ? e.outs : [...e.outs, ...d.implicitOuts.filter((o) => !e.outs.includes(o))];
  }

  /**
   * An edge's inputs as ninja lists them after loading its dyndep file: explicit, implicit
   * (dyndep ones last), order-only; with the count of explicit and implicit ones.
   */
  inputsOf(e: NinjaEdge): { ins: string[]; explicit: number; implicit: number } {
    const explicit = e.ins.length - e.implicitIns - e.orderOnlyIns;
    const d = this.dyndep(e);
    if (d === null || d.implicitIns.length === 0) return { ins: e.ins, explicit, implicit: e.implicitIns };
    const extra = d.implicitIns.filter((i) => !e.ins.includes(i));
    const cut = e.ins.length - e.orderOnlyIns;
    return { ins: [...e.ins.slice(0, cut), ...extra, ...e.ins.slice(cut)], explicit, implicit: e.implicitIns + extra.length };
  }

  /** The top-level rules (ninja's State::bindings_), including `phony`. */
  rules(): Map<string, Rule> | undefined {
    const first = this.m.edges[0] as Edge | undefined;
    if (first === undefined || !('scope' in first)) return undefined;
    let s: Scope = first.scope;
    while (s.parent !== null) s = s.parent;
    return s.rules;
  }
}

/** EvalString::Unparse: the text with variable references written as ${name}. */
export function unparse(e: EvalString): string {
  if (typeof e === 'string') return e;
  let r = e[0] ?? '';
  for (let i = 1; i < e.length; i += 2) r += '${' + e[i]! + '}' + (e[i + 1] ?? '');
  return r;
}

/** ninja's EditDistance (Levenshtein, with replacements), giving up above `max`. */
export function editDistance(s1: string, s2: string, max: number): number {
  const m = s1.length;
  const n = s2.length;
  const row = new Array<number>(n + 1);
  for (let i = 0; i <= n; i++) row[i] = i;
  for (let y = 1; y <= m; y++) {
    row[0] = y;
    let best = y;
    let previous = y - 1;
    for (let x = 1; x <= n; x++) {
      const old = row[x]!;
      row[x] = Math.min(previous + (s1[y - 1] === s2[x - 1] ? 0 : 1), Math.min(row[x - 1]!, old) + 1);
      previous = old;
      best = Math.min(best, row[x]!);
    }
    if (max > 0 && best > max) return max + 1;
  }
  return row[n]!;
}

/** ninja's SpellcheckString: the closest word within an edit distance of 3. */
export function spellcheck(text: string, words: Iterable<string>): string | undefined {
  const MAX = 3;
  let min = MAX + 1;
  let result: string | undefined;
  for (const w of words) {
    // The distance is at least the difference in length: most paths are ruled out unread.
    if (Math.abs(w.length - text.length) >= min) continue;
    const d = editDistance(w, text, MAX);
    if (d < min) {
      min = d;
      result = w;
    }
  }
  return result;
}

export interface TargetLookup {
  /** The node, or undefined with `error` set. */
  node?: string;
  error?: string;
}

/**
 * Ninja's CollectTarget: a command-line path as a node. `foo^` is the first output of an edge
 * using foo (or, for a file only known from depfiles, of the first edge that depended on it:
 * `firstDependent`); a path not found is tried under $builddir.
 */
export function collectTarget(g: NinjaGraph, arg: string, firstDependent?: (p: string) => string | undefined): TargetLookup {
  if (arg === '') return { error: 'empty path' };
  let p = canonicalizePath(arg);
  let caret = false;
  if (p.endsWith('^')) {
    p = p.slice(0, -1);
    caret = true;
  }
  let found = g.hasNode(p);
  if (!found && g.m.builddir !== '') {
    const alt = canonicalizePath(`${g.m.builddir}/${p}`);
    if (g.hasNode(alt)) {
      p = alt;
      found = true;
    }
  }
  if (!found && caret) {
    // A file only mentioned in depfiles is not a manifest node, but the deps record it.
    const dep = firstDependent?.(p);
    if (dep !== undefined) return { node: dep };
  }
  if (found) {
    if (!caret) return { node: p };
    const outs = g.outEdges(p);
    if (outs.length === 0) {
      const dep = firstDependent?.(p);
      if (dep === undefined) return { error: `'${p}' has no out edge` };
      return { node: dep };
    }
    const first = outs[0]!.outs[0];
    if (first === undefined) return { error: 'edge has no outputs' };
    return { node: first };
  }
  let error = `unknown target '${p}'`;
  if (p === 'clean') error += ", did you mean 'ninja -t clean'?";
  else if (p === 'help') error += ", did you mean 'ninja -h'?";
  else {
    const s = spellcheck(p, g.nodes());
    if (s !== undefined) error += `, did you mean '${s}'?`;
  }
  return { error };
}

export interface ScanResult {
  /** First output of every non-phony edge the targets reach (inputs, order-only, validations). */
  reachable: Set<string>;
  error?: string;
}

/**
 * What ninja checks before it starts building a target (DependencyScan::RecomputeDirty, then
 * Plan::AddTarget): a dependency cycle, then an input that is missing with no rule to make it.
 * Also collects the edges the build may run, for the `%t` of the status line.
 */
export function scanTargets(g: NinjaGraph, targets: string[], exists: (p: string) => boolean): ScanResult {
  const reachable = new Set<string>();
  // Marks by edge id (manifest order): 1 on the stack, 2 done; edges added to the plan.
  const state = new Uint8Array(g.edges.length);
  const added = new Uint8Array(g.edges.length);
  for (const t of targets) {
    const validations: string[] = [];
    const queue = [t];
    while (queue.length > 0) {
      const err = cycleScan(g, queue.shift()!, state, reachable, validations);
      if (err !== undefined) return { reachable, error: err };
      queue.push(...validations.splice(0));
      // (validations are appended as they are found, scanned as roots of their own)
    }
    const err = missingScan(g, t, added, exists);
    if (err !== undefined) return { reachable, error: err };
  }
  return { reachable };
}

/** Cycle detection over the edges reachable from `start` (iterative; deep graphs are common). */
function cycleScan(g: NinjaGraph, start: string, state: Uint8Array, reachable: Set<string>, validations: string[]): string | undefined {
  interface Frame { node: string; edge: NinjaEdge; ins: string[]; i: number }
  const stack: Frame[] = [];
  const enter = (node: string): string | undefined => {
    const e = g.producer(node);
    if (e === undefined) return undefined;
    const s = state[e.id];
    if (s === 2) return undefined;
    if (s === 1) {
      let k = 0;
      while (k < stack.length && stack[k]!.edge !== e) k++;
      const names = [node, ...stack.slice(k + 1).map((f) => f.node)];
      let msg = `dependency cycle: ${names.join(' -> ')} -> ${node}`;
      if (k === stack.length - 1 && e.isPhony && e.ins.includes(node)) msg += ' [-w phonycycle=err]';
      return msg;
    }
    state[e.id] = 1;
    stack.push({ node, edge: e, ins: e.ins, i: 0 });
    return undefined;
  };
  const err0 = enter(start);
  if (err0 !== undefined) return err0;
  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    if (f.i < f.ins.length) {
      const err = enter(f.ins[f.i++]!);
      if (err !== undefined) return err;
      continue;
    }
    stack.pop();
    state[f.edge.id] = 2;
    if (!f.edge.isPhony) reachable.add(f.edge.outs[0] ?? '');
    if (f.edge.validations.length > 0) validations.push(...f.edge.validations);
  }
  return undefined;
}

/** Plan::AddSubTarget's check: a leaf input that does not exist, in ninja's visiting order. */
function missingScan(g: NinjaGraph, target: string, added: Uint8Array, exists: (p: string) => boolean): string | undefined {
  interface Frame { node: string; edge: NinjaEdge; ins: string[]; i: number }
  const roots = [target];
  for (let r = 0; r < roots.length; r++) {
    const root = roots[r]!;
    const e0 = g.producer(root);
    if (e0 === undefined) {
      if (r === 0 && !exists(root)) return `'${root}' missing and no known rule to make it`;
      continue;
    }
    if (added[e0.id] === 1) continue;
    added[e0.id] = 1;
    const stack: Frame[] = [{ node: root, edge: e0, ins: e0.ins, i: 0 }];
    while (stack.length > 0) {
      const f = stack[stack.length - 1]!;
      if (f.i >= f.ins.length) {
        stack.pop();
        // Validations found under the target become targets of their own (those with a rule).
        for (const v of f.edge.validations) if (g.producer(v) !== undefined) roots.push(v);
        continue;
      }
      const input = f.ins[f.i++]!;
      const e = g.producer(input);
      if (e === undefined) {
        if (!exists(input)) return `'${input}', needed by '${f.node}', missing and no known rule to make it`;
        continue;
      }
      if (added[e.id] === 1) continue;
      added[e.id] = 1;
      stack.push({ node: input, edge: e, ins: e.ins, i: 0 });
    }
  }
  return undefined;
}
