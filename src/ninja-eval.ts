// The Ninja manifest data model and variable evaluation: scopes, rules, and edges whose
// bindings are evaluated on demand with ninja's precedence (Edge::GetBinding / EdgeEnv in
// graph.cc, BindingEnv::LookupWithFallback in eval_env.cc). Rule bindings are kept unevaluated
// and expanded only when asked for, so parsing a large manifest never builds its command lines.

import { NinjaSyntaxError, type EvalString } from './ninja-lexer.ts';
import { shellEscape, canonicalizePath } from './ninja-path.ts';

/** A variable scope: the top level, a subninja's file, or (implicitly) an edge's bindings. */
export class Scope {
  vars: Map<string, string>;
  rules: Map<string, Rule>;
  parent: Scope | null;
  constructor(parent: Scope | null) {
    this.vars = new Map();
    this.rules = new Map();
    this.parent = parent;
  }

  /** The value of `name` here or in an enclosing scope; unset variables are ''. */
  lookup(name: string): string {
    for (let s: Scope | null = this; s !== null; s = s.parent) {
      const v = s.vars.get(name);
      if (v !== undefined) return v;
    }
    return '';
  }

  lookupRule(name: string): Rule | undefined {
    for (let s: Scope | null = this; s !== null; s = s.parent) {
      const r = s.rules.get(name);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  /** Evaluates `e` in this scope. */
  eval(e: EvalString): string {
    if (typeof e === 'string') return e;
    let r = e[0]!;
    for (let i = 1; i < e.length; i += 2) r += this.lookup(e[i]!) + e[i + 1]!;
    return r;
  }
}

export class Rule {
  name: string;
  bindings: Map<string, EvalString>;
  phony: boolean;
  constructor(name: string, phony = false) {
    this.name = name;
    this.bindings = new Map();
    this.phony = phony;
  }
}

/** The rule bindings ninja knows; a rule may set no others. */
export const RESERVED_BINDINGS: ReadonlySet<string> = new Set([
  'command', 'depfile', 'dyndep', 'description', 'deps', 'generator', 'pool', 'restat', 'rspfile',
  'rspfile_content', 'msvc_deps_prefix',
]);

/** A manifest file's text, kept for turning edge offsets into line numbers when asked. */
export class SourceFile {
  path: string;
  text: string;
  private lineStarts: number[] | null;
  constructor(path: string, text: string) {
    this.path = path;
    this.text = text;
    this.lineStarts = null;
  }

  /** 1-based line of offset `pos`. */
  lineOf(pos: number): number {
    // Built on first use: most runs never ask for a line number, and counting newlines while
    // lexing would tax every statement.
    let starts = this.lineStarts;
    if (starts === null) {
      starts = [0];
      const t = this.text;
      for (let i = t.indexOf('\n'); i !== -1; i = t.indexOf('\n', i + 1)) starts.push(i + 1);
      this.lineStarts = starts;
    }
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

/** A build statement. */
export interface NinjaEdge {
  /** index in manifest order */
  id: number;
  /** rule name; 'phony' for phony edges */
  rule: string;
  /** explicit outputs, then implicit outputs (canonical paths) */
  outs: string[];
  /** how many of `outs` (at the end) are implicit */
  implicitOuts: number;
  /** explicit, then implicit (|), then order-only (||) inputs */
  ins: string[];
  implicitIns: number;
  orderOnlyIns: number;
  /** |@ validations */
  validations: string[];
  /** '' = no pool, 'console', or a declared pool name */
  pool: string;
  /** the manifest file of the build statement */
  file: string;
  /** 1-based line of the build statement */
  line: number;
  /**
   * ninja's Edge::GetBinding: the edge's bindings, then the rule's binding evaluated in the
   * edge's scope (with $in, $out, $in_newline shell-escaped), then enclosing scopes; '' if unset.
   */
  binding(name: string): string;
  /** Like binding() but with $in / $out not shell-escaped (ninja uses it for depfile, rspfile, dyndep). */
  bindingUnescaped(name: string): string;
  readonly command: string;
  readonly description: string;
  /** unescaped, as ninja reads it */
  readonly depfile: string;
  /** '' | 'gcc' | 'msvc' (ninja accepts only these when building) */
  readonly deps: string;
  readonly msvcDepsPrefix: string;
  /** unescaped, as ninja reads it */
  readonly rspfile: string;
  readonly rspfileContent: string;
  /** canonical path of the dyndep file, or '' */
  readonly dyndep: string;
  readonly restat: boolean;
  readonly generator: boolean;
  readonly isPhony: boolean;
}

export class Edge implements NinjaEdge {
  id: number;
  ruleDef: Rule;
  outs: string[];
  implicitOuts: number;
  ins: string[];
  implicitIns: number;
  orderOnlyIns: number;
  validations: string[];
  pool: string;
  dyndep: string;
  /** The edge's own bindings as [name, value, name, value, ...], or null when it has none. */
  vars: string[] | null;
  /** The scope enclosing the build statement. */
  scope: Scope;
  src: SourceFile;
  pos: number;

  constructor(id: number, rule: Rule, vars: string[] | null, scope: Scope, src: SourceFile, pos: number) {
    this.id = id;
    this.ruleDef = rule;
    this.outs = EMPTY;
    this.implicitOuts = 0;
    this.ins = EMPTY;
    this.implicitIns = 0;
    this.orderOnlyIns = 0;
    this.validations = EMPTY;
    this.pool = '';
    this.dyndep = '';
    this.vars = vars;
    this.scope = scope;
    this.src = src;
    this.pos = pos;
  }

  get rule(): string {
    return this.ruleDef.name;
  }
  get file(): string {
    return this.src.path;
  }
  get line(): number {
    return this.src.lineOf(this.pos);
  }
  get isPhony(): boolean {
    return this.ruleDef.phony;
  }

  binding(name: string): string {
    return new EdgeEnv(this, true).lookup(name);
  }
  bindingUnescaped(name: string): string {
    return new EdgeEnv(this, false).lookup(name);
  }

  get command(): string {
    return this.binding('command');
  }
  get description(): string {
    return this.binding('description');
  }
  get depfile(): string {
    return this.bindingUnescaped('depfile');
  }
  get deps(): string {
    return this.binding('deps');
  }
  get msvcDepsPrefix(): string {
    return this.binding('msvc_deps_prefix');
  }
  get rspfile(): string {
    return this.bindingUnescaped('rspfile');
  }
  get rspfileContent(): string {
    return this.binding('rspfile_content');
  }
  get restat(): boolean {
    return this.binding('restat') !== '';
  }
  get generator(): boolean {
    return this.binding('generator') !== '';
  }

  /**
   * binding(name) when it needs no evaluation of a rule binding with variables (then
   * undefined); not for $in / $out. The parser asks every edge for `pool` and `dyndep`; this answers the usual case
   * without setting up an evaluation.
   */
  quickBinding(name: string): string | undefined {
    const own = this.vars !== null ? ownVar(this.vars, name) : this.scope.vars.get(name);
    if (own !== undefined) return own;
    const ev = this.ruleDef.bindings.get(name);
    if (ev === undefined) {
      const parent = this.vars !== null ? this.scope : this.scope.parent;
      return parent !== null ? parent.lookup(name) : '';
    }
    return typeof ev === 'string' ? ev : undefined;
  }

  /** The unescaped dyndep binding, canonicalized (what the parser checks and stores). */
  evalDyndep(): string {
    const d = this.quickBinding('dyndep') ?? this.bindingUnescaped('dyndep');
    return d === '' ? d : canonicalizePath(d);
  }
}

// Shared by every edge without validations, so frozen: a push would otherwise reach them all.
const EMPTY: string[] = Object.freeze([]) as unknown as string[];

/** The value of `name` among an edge's own bindings, or undefined. */
export function ownVar(vars: string[], name: string): string | undefined {
  for (let i = 0; i < vars.length; i += 2) if (vars[i] === name) return vars[i + 1];
  return undefined;
}

/**
 * One evaluation of an edge binding (ninja's EdgeEnv). It lives for one binding() call and
 * records the chain of rule variables being expanded, to report cycles instead of recursing
 * forever.
 */
class EdgeEnv {
  edge: Edge;
  escape: boolean;
  recursive: boolean;
  lookups: string[] | null;
  constructor(edge: Edge, escape: boolean) {
    this.edge = edge;
    this.escape = escape;
    this.recursive = false;
    this.lookups = null;
  }

  lookup(name: string): string {
    const edge = this.edge;
    if (name === 'in' || name === 'in_newline') {
      const n = edge.ins.length - edge.implicitIns - edge.orderOnlyIns;
      return this.pathList(edge.ins, n, name === 'in' ? ' ' : '\n');
    }
    if (name === 'out') return this.pathList(edge.outs, edge.outs.length - edge.implicitOuts, ' ');
    // Like ninja, the name a lookup starts from is not recorded, since rule variables hardly
    // ever refer to other rule variables; a cycle is still caught one level further down.
    const lookups = this.lookups;
    if (lookups !== null && lookups.includes(name)) {
      const cycle = [...lookups.slice(lookups.indexOf(name)), name].join(' -> ');
      throw new NinjaSyntaxError(edge.file, edge.line, 0, `cycle in rule variables: ${cycle}`, '');
    }
    const ev = edge.ruleDef.bindings.get(name);
    const record = this.recursive && ev !== undefined;
    if (record) (this.lookups ??= []).push(name);
    this.recursive = true;
    let r: string;
    // BindingEnv::LookupWithFallback on the edge's environment. An edge without bindings of its
    // own shares the enclosing scope as its environment, so that scope's own variables then
    // take precedence over the rule's: a quirk of ninja kept for identical commands.
    const own = edge.vars !== null ? ownVar(edge.vars, name) : edge.scope.vars.get(name);
    if (own !== undefined) {
      r = own;
    } else if (ev !== undefined) {
      if (typeof ev === 'string') {
        r = ev;
      } else {
        r = ev[0]!;
        for (let i = 1; i < ev.length; i += 2) r += this.lookup(ev[i]!) + ev[i + 1]!;
      }
    } else {
      const parent = edge.vars !== null ? edge.scope : edge.scope.parent;
      r = parent !== null ? parent.lookup(name) : '';
    }
    if (record) this.lookups!.pop();
    return r;
  }

  private pathList(paths: string[], n: number, sep: string): string {
    if (n <= 0) return '';
    if (n === 1) return this.escape ? shellEscape(paths[0]!) : paths[0]!;
    let r = '';
    for (let i = 0; i < n; i++) {
      if (i > 0) r += sep;
      r += this.escape ? shellEscape(paths[i]!) : paths[i]!;
    }
    return r;
  }
}
