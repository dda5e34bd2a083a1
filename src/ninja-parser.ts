// The Ninja manifest parser: build.ninja and the files it includes or subninjas, with ninja's
// scoping, evaluation order and error reporting (manifest_parser.cc). Pure: files are read
// only through the injected readFile callback. Commands are not evaluated here; edges evaluate
// their bindings on demand (see ninja-eval.ts).

import { Lexer, Tok, clearLexerCaches, tokenName, type EvalString, type Token } from './ninja-lexer.ts';
import { canonicalizePath } from './ninja-path.ts';
import { Edge, RESERVED_BINDINGS, Rule, Scope, SourceFile, ownVar, type NinjaEdge } from './ninja-eval.ts';

export { NinjaSyntaxError } from './ninja-lexer.ts';
export { canonicalizePath, shellEscape } from './ninja-path.ts';
export type { NinjaEdge } from './ninja-eval.ts';

/** The ninja version whose manifest format we implement (checked against ninja_required_version). */
export const NINJA_VERSION = '1.13.2';

export interface ParseOptions {
  /** Returns a file's text; throws an Error with a `code` ('ENOENT', ...) when it cannot. */
  readFile(path: string): string;
  /** `-w phonycycle=err`: keep a phony's reference to itself (a dependency cycle at build time). */
  phonyCycleErr?: boolean;
}

export interface NinjaManifest {
  edges: NinjaEdge[];
  /** name -> depth; always contains 'console' -> 1 */
  pools: Map<string, number>;
  /** canonical paths from `default` statements (empty = none) */
  defaults: string[];
  /** top-level `builddir` ('' if unset) */
  builddir: string;
  /** top-level `ninja_required_version` ('' if unset) */
  requiredVersion: string;
  /** every manifest file read (build.ninja, includes, subninjas), in reading order */
  files: string[];
  /** output path -> the edge producing it */
  producer: Map<string, NinjaEdge>;
  /** what ninja would print as warnings while loading (e.g. a phony edge naming itself as input) */
  warnings: string[];
}

/**
 * Parses the manifest `path` and everything it includes. Throws NinjaSyntaxError for errors in
 * the files (formatted as ninja does), and a plain Error carrying the reader's `code` when
 * `path` itself cannot be read.
 */
export function parseManifest(path: string, opts: ParseOptions): NinjaManifest {
  const st = new State(opts);
  try {
    new FileParser(st, st.root).load(path, null);
  } finally {
    clearLexerCaches();
  }
  return {
    edges: st.edges,
    pools: st.pools,
    defaults: st.defaults,
    builddir: st.root.vars.get('builddir') ?? '',
    requiredVersion: st.root.vars.get('ninja_required_version') ?? '',
    files: st.files,
    producer: st.producer,
    warnings: st.warnings,
  };
}

/** What all files of one manifest share. */
class State {
  opts: ParseOptions;
  root: Scope;
  edges: Edge[];
  pools: Map<string, number>;
  defaults: string[];
  files: string[];
  producer: Map<string, Edge>;
  warnings: string[];
  /** Paths mentioned by edges other than as outputs, indexed only once a `default` needs them. */
  private mentioned: Set<string> | null;
  private mentionedUpTo: number;

  constructor(opts: ParseOptions) {
    this.opts = opts;
    this.root = new Scope(null);
    this.root.rules.set('phony', new Rule('phony', true));
    this.edges = [];
    this.pools = new Map([['console', 1]]);
    this.defaults = [];
    this.files = [];
    this.producer = new Map();
    this.warnings = [];
    this.mentioned = null;
    this.mentionedUpTo = 0;
  }

  /** Whether ninja would have a node for `path` by now (any edge mentions it). */
  hasNode(path: string): boolean {
    if (this.producer.has(path)) return true;
    // `default` statements are few and usually name outputs, so the set of other paths is
    // built lazily and extended incrementally rather than maintained for every input.
    const m = (this.mentioned ??= new Set());
    for (; this.mentionedUpTo < this.edges.length; this.mentionedUpTo++) {
      const e = this.edges[this.mentionedUpTo]!;
      for (const p of e.ins) m.add(p);
      for (const p of e.validations) m.add(p);
    }
    return m.has(path);
  }
}

// Scratch lists of unevaluated paths, reused by every build statement (parsing one statement
// never starts parsing another file, so they are never in use twice).
const OUTS: EvalString[] = [];
const INS: EvalString[] = [];
const VALIDATIONS: EvalString[] = [];
const VARS: string[] = [];

/** Parses one file into a scope: ninja's ManifestParser. */
class FileParser {
  st: State;
  scope: Scope;
  lx: Lexer;
  src: SourceFile;
  /** Results of parseLet(). */
  letKey: string;
  letValue: EvalString;

  constructor(st: State, scope: Scope) {
    this.st = st;
    this.scope = scope;
    this.lx = new Lexer('', '');
    this.src = new SourceFile('', '');
    this.letKey = '';
    this.letValue = '';
  }

  load(path: string, parent: Lexer | null): void {
    let text: string;
    try {
      text = this.st.opts.readFile(path);
    } catch (e) {
      const msg = `loading '${path}': ${describeReadError(e)}`;
      if (parent !== null) throw parent.error(msg);
      throw Object.assign(new Error(msg), { code: (e as { code?: unknown }).code, cause: e });
    }
    this.st.files.push(path);
    this.src = new SourceFile(path, text);
    this.lx = new Lexer(path, text);
    this.parse();
  }

  private parse(): void {
    const lx = this.lx;
    for (;;) {
      const t = lx.readToken();
      switch (t) {
        case Tok.BUILD:
          this.parseEdge();
          break;
        case Tok.NEWLINE:
          break;
        case Tok.IDENT: {
          lx.unreadToken();
          this.parseLet();
          const value = this.scope.eval(this.letValue);
          // Checked as soon as it is seen, like ninja, so a newer manifest fails on the version
          // rather than on some syntax this parser does not know.
          if (this.letKey === 'ninja_required_version') this.checkVersion(value);
          this.scope.vars.set(this.letKey, value);
          break;
        }
        case Tok.RULE:
          this.parseRule();
          break;
        case Tok.POOL:
          this.parsePool();
          break;
        case Tok.DEFAULT:
          this.parseDefault();
          break;
        case Tok.INCLUDE:
          this.parseInclude(false);
          break;
        case Tok.SUBNINJA:
          this.parseInclude(true);
          break;
        case Tok.ERROR:
          throw lx.error(lx.describeLastError());
        case Tok.TEOF:
          return;
        default:
          throw lx.error(`unexpected ${tokenName(t)}`);
      }
    }
  }

  private expect(t: Token): void {
    const got = this.lx.readToken();
    if (got !== t) {
      const hint = t === Tok.COLON ? " ($ also escapes ':')" : '';
      throw this.lx.error(`expected ${tokenName(t)}, got ${tokenName(got)}${hint}`);
    }
  }

  /** `name = value`, into letKey / letValue. */
  private parseLet(): void {
    const key = this.lx.readIdent();
    if (key === null) throw this.lx.error('expected variable name');
    this.expect(Tok.EQUALS);
    this.letKey = key;
    this.letValue = this.lx.readVarValue();
  }

  private checkVersion(v: string): void {
    const [fileMajor, fileMinor] = parseVersion(v);
    const [ourMajor, ourMinor] = parseVersion(NINJA_VERSION);
    if (ourMajor > fileMajor) {
      this.st.warnings.push(`ninja executable version (${NINJA_VERSION}) greater than build file ` +
        `ninja_required_version (${v}); versions may be incompatible.`);
      return;
    }
    if (ourMajor < fileMajor || ourMinor < fileMinor) {
      throw this.lx.error(`ninja version (${NINJA_VERSION}) incompatible with build file ninja_required_version version (${v}).`);
    }
  }

  private parsePool(): void {
    const lx = this.lx;
    const name = lx.readIdent();
    if (name === null) throw lx.error('expected pool name');
    this.expect(Tok.NEWLINE);
    if (this.st.pools.has(name)) throw lx.error(`duplicate pool '${name}'`);
    let depth = -1;
    while (lx.peekToken(Tok.INDENT)) {
      this.parseLet();
      if (this.letKey !== 'depth') throw lx.error(`unexpected variable '${this.letKey}'`);
      depth = atoi(this.scope.eval(this.letValue));
      if (depth < 0) throw lx.error('invalid pool depth');
    }
    if (depth < 0) throw lx.error("expected 'depth =' line");
    this.st.pools.set(name, depth);
  }

  private parseRule(): void {
    const lx = this.lx;
    const name = lx.readIdent();
    if (name === null) throw lx.error('expected rule name');
    this.expect(Tok.NEWLINE);
    if (this.scope.rules.has(name)) throw lx.error(`duplicate rule '${name}'`);
    const rule = new Rule(name);
    while (lx.peekToken(Tok.INDENT)) {
      this.parseLet();
      if (!RESERVED_BINDINGS.has(this.letKey)) throw lx.error(`unexpected variable '${this.letKey}'`);
      rule.bindings.set(this.letKey, this.letValue);
    }
    const b = rule.bindings;
    const noRspfile = (b.get('rspfile') ?? '') === '';
    const noRspfileContent = (b.get('rspfile_content') ?? '') === '';
    if (noRspfile !== noRspfileContent) {
      throw lx.error('rspfile and rspfile_content need to be both specified');
    }
    if ((b.get('command') ?? '') === '') throw lx.error("expected 'command =' line");
    // ninja's checks above create these bindings (empty) when the rule lacks them, and a rule
    // binding, even empty, hides same-named variables of enclosing scopes from the rule's edges.
    if (!b.has('rspfile')) b.set('rspfile', '');
    if (!b.has('rspfile_content')) b.set('rspfile_content', '');
    this.scope.rules.set(name, rule);
  }

  private parseDefault(): void {
    const lx = this.lx;
    let e = lx.readPath();
    if (e === '') throw lx.error('expected target name');
    do {
      let path = this.scope.eval(e);
      if (path === '') throw lx.error('empty path');
      path = canonicalizePath(path);
      if (!this.st.hasNode(path)) throw lx.error(`unknown target '${path}'`);
      this.st.defaults.push(path);
      e = lx.readPath();
    } while (e !== '');
    this.expect(Tok.NEWLINE);
  }

  private parseInclude(newScope: boolean): void {
    const path = this.scope.eval(this.lx.readPath());
    // Unlike other paths, an included file's name is used as written (not canonicalized).
    new FileParser(this.st, newScope ? new Scope(this.scope) : this.scope).load(path, this.lx);
    this.expect(Tok.NEWLINE);
  }

  private parseEdge(): void {
    const lx = this.lx;
    const st = this.st;
    const pos = lx.lastTok;
    const outsE = OUTS;
    const insE = INS;
    const valsE = VALIDATIONS;
    outsE.length = 0;
    insE.length = 0;
    valsE.length = 0;

    let e = lx.readCanonicalPath();
    while (e !== '') {
      outsE.push(e);
      e = lx.readCanonicalPath();
    }
    let implicitOuts = 0;
    if (lx.peekToken(Tok.PIPE)) {
      while ((e = lx.readCanonicalPath()) !== '') {
        outsE.push(e);
        implicitOuts++;
      }
    }
    if (outsE.length === 0) throw lx.error('expected path');
    this.expect(Tok.COLON);

    const ruleName = lx.readIdent();
    if (ruleName === null) throw lx.error('expected build command name');
    const rule = this.scope.lookupRule(ruleName);
    if (rule === undefined) throw lx.error(`unknown build rule '${ruleName}'`);

    while ((e = lx.readCanonicalPath()) !== '') insE.push(e);
    let implicitIns = 0;
    if (lx.peekToken(Tok.PIPE)) {
      while ((e = lx.readCanonicalPath()) !== '') {
        insE.push(e);
        implicitIns++;
      }
    }
    let orderOnlyIns = 0;
    if (lx.peekToken(Tok.PIPE2)) {
      while ((e = lx.readCanonicalPath()) !== '') {
        insE.push(e);
        orderOnlyIns++;
      }
    }
    if (lx.peekToken(Tok.PIPEAT)) {
      while ((e = lx.readCanonicalPath()) !== '') valsE.push(e);
    }
    this.expect(Tok.NEWLINE);

    // Edge bindings are evaluated right away in the enclosing scope (so one cannot refer to
    // another of the same edge), and then shadow it for the paths and the rule's bindings.
    let vars: string[] | null = null;
    if (lx.peekToken(Tok.INDENT)) {
      const scratch = VARS;
      scratch.length = 0;
      do {
        this.parseLet();
        const v = this.scope.eval(this.letValue);
        let i = 0;
        while (i < scratch.length && scratch[i] !== this.letKey) i += 2;
        scratch[i] = this.letKey;
        scratch[i + 1] = v;
      } while (lx.peekToken(Tok.INDENT));
      // A copy of exactly the right size: arrays grown by appending keep spare capacity, which
      // for ~100k edges adds up.
      vars = scratch.slice();
    }

    const edge = new Edge(st.edges.length, rule, vars, this.scope, this.src, pos);
    st.edges.push(edge);

    const pool = edge.quickBinding('pool') ?? edge.binding('pool');
    if (pool !== '') {
      if (!st.pools.has(pool)) throw lx.error(`unknown pool name '${pool}'`);
      edge.pool = pool;
    }

    const outs = new Array<string>(outsE.length);
    for (let i = 0; i < outsE.length; i++) {
      const path = this.evalPath(outsE[i]!, vars);
      // One hash operation per output: a set that does not grow the map found a duplicate.
      const size = st.producer.size;
      st.producer.set(path, edge);
      if (st.producer.size === size) {
        throw lx.error(outs.indexOf(path) !== -1 ? `${path} is defined as an output multiple times` : `multiple rules generate ${path}`);
      }
      outs[i] = path;
    }
    edge.outs = outs;
    edge.implicitOuts = implicitOuts;

    const ins = new Array<string>(insE.length);
    for (let i = 0; i < insE.length; i++) ins[i] = this.evalPath(insE[i]!, vars);
    edge.ins = ins;
    edge.implicitIns = implicitIns;
    edge.orderOnlyIns = orderOnlyIns;

    if (valsE.length > 0) {
      const vals = new Array<string>(valsE.length);
      for (let i = 0; i < valsE.length; i++) vals[i] = this.evalPath(valsE[i]!, vars);
      edge.validations = vals;
    }

    if (rule.phony && outs.length === 1 && implicitOuts === 0 && implicitIns === 0 && st.opts.phonyCycleErr !== true) {
      // Old CMake wrote `build a: phony a`; ninja (by default, -w phonycycle=warn) drops the
      // self-reference instead of reporting a dependency cycle.
      const out = outs[0]!;
      if (ins.includes(out)) {
        edge.ins = ins.filter((p) => p !== out);
        // (ninja leaves its order-only count as it was; keeping the counts right is kinder to
        // anything that slices the inputs by kind.)
        const orderOnlyStart = ins.length - orderOnlyIns;
        for (let i = orderOnlyStart; i < ins.length; i++) if (ins[i] === out) edge.orderOnlyIns--;
        st.warnings.push(`phony target '${out}' names itself as an input; ignoring [-w phonycycle=warn]`);
      }
    }

    const dyndep = edge.evalDyndep();
    if (dyndep !== '') {
      if (!edge.ins.includes(dyndep)) throw lx.error(`dyndep '${dyndep}' is not an input`);
      edge.dyndep = dyndep;
    }
  }

  /** Evaluates a path of a build statement in the edge's environment, and canonicalizes it. */
  private evalPath(e: EvalString, vars: string[] | null): string {
    // A plain path comes from readCanonicalPath() already canonical.
    if (typeof e === 'string') return e;
    let path = e[0]!;
    for (let i = 1; i < e.length; i += 2) {
      const name = e[i]!;
      const own = vars !== null ? ownVar(vars, name) : undefined;
      path += (own ?? this.scope.lookup(name)) + e[i + 1]!;
    }
    if (path === '') throw this.lx.error('empty path');
    return canonicalizePath(path);
  }
}

/** C's atoi: leading whitespace, an optional sign, digits; anything else ends it (0 if none). */
function atoi(s: string): number {
  let i = 0;
  while (i < s.length && ' \t\n\v\f\r'.includes(s[i]!)) i++;
  let sign = 1;
  if (s[i] === '-' || s[i] === '+') {
    if (s[i] === '-') sign = -1;
    i++;
  }
  let n = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  return sign * n;
}

/** ninja's ParseVersion: "major.minor[.anything]", each part read with atoi. */
function parseVersion(v: string): [number, number] {
  const dot = v.indexOf('.');
  if (dot === -1) return [atoi(v), 0];
  const next = v.indexOf('.', dot + 1);
  return [atoi(v.slice(0, dot)), atoi(v.slice(dot + 1, next === -1 ? undefined : next))];
}

/** The strerror() text ninja would show for a failed read. */
function describeReadError(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  switch (code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EACCES':
      return 'Permission denied';
    case 'EISDIR':
      return 'Is a directory';
    case 'ENOTDIR':
      return 'Not a directory';
    case 'ELOOP':
      return 'Too many levels of symbolic links';
    case 'ENAMETOOLONG':
      return 'File name too long';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}
