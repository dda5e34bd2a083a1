// Dyndep files (`ninja_dyndep_version = 1`): extra implicit outputs and inputs, and restat, for
// edges whose `dyndep` binding names the file, discovered at build time (ninja's
// dyndep_parser.cc). Same lexer and error format as manifests.

import { Lexer, NinjaSyntaxError, Tok, clearLexerCaches, tokenName, type EvalString, type Token } from './ninja-lexer.ts';
import { canonicalizePath } from './ninja-path.ts';

export interface DyndepInfo {
  /** canonical paths to add as implicit outputs */
  implicitOuts: string[];
  /** canonical paths to add as implicit inputs */
  implicitIns: string[];
  restat: boolean;
}

export interface DyndepOptions {
  /**
   * The edge producing `path` (any value identifying it), or undefined if no build statement
   * produces it. When given, the parser reports ninja's "no build statement exists for" and
   * "multiple statements for" (two outputs of one edge) errors with their position; without
   * it, only a path named twice is an error and the caller checks the rest.
   */
  edgeOf?(path: string): unknown;
}

/**
 * Parses a dyndep file into a map keyed by the canonical explicit output named by each
 * `build out | implicit-outs : dyndep | implicit-ins` statement. Throws NinjaSyntaxError.
 */
export function parseDyndep(text: string, file: string, opts: DyndepOptions = {}): Map<string, DyndepInfo> {
  try {
    return parse(new Lexer(file, text), opts);
  } finally {
    clearLexerCaches();
  }
}

function parse(lx: Lexer, opts: DyndepOptions): Map<string, DyndepInfo> {
  const result = new Map<string, DyndepInfo>();
  const seenEdges = new Set<unknown>();
  let haveVersion = false;
  for (;;) {
    const t = lx.readToken();
    switch (t) {
      case Tok.BUILD:
        if (!haveVersion) throw lx.error("expected 'ninja_dyndep_version = ...'");
        parseEdge(lx, opts, result, seenEdges);
        break;
      case Tok.IDENT: {
        lx.unreadToken();
        if (haveVersion) throw lx.error(`unexpected ${tokenName(t)}`);
        const [name, value] = parseLet(lx);
        if (name !== 'ninja_dyndep_version') throw lx.error("expected 'ninja_dyndep_version = ...'");
        const version = evalEmpty(value);
        if (!isVersion1(version)) throw lx.error(`unsupported 'ninja_dyndep_version = ${version}'`);
        haveVersion = true;
        break;
      }
      case Tok.ERROR:
        throw lx.error(lx.describeLastError());
      case Tok.TEOF:
        if (!haveVersion) throw lx.error("expected 'ninja_dyndep_version = ...'");
        return result;
      case Tok.NEWLINE:
        break;
      default:
        throw lx.error(`unexpected ${tokenName(t)}`);
    }
  }
}

function parseEdge(lx: Lexer, opts: DyndepOptions, result: Map<string, DyndepInfo>, seenEdges: Set<unknown>): void {
  // Exactly one explicit output, which must already have a build statement.
  const out0 = lx.readPath();
  if (out0 === '') throw lx.error('expected path');
  let key = evalEmpty(out0);
  if (key === '') throw lx.error('empty path');
  key = canonicalizePath(key);
  if (opts.edgeOf !== undefined) {
    const edge = opts.edgeOf(key);
    if (edge === undefined) throw lx.error(`no build statement exists for '${key}'`);
    if (seenEdges.has(edge)) throw lx.error(`multiple statements for '${key}'`);
    seenEdges.add(edge);
  } else if (result.has(key)) {
    throw lx.error(`multiple statements for '${key}'`);
  }
  const info: DyndepInfo = { implicitOuts: [], implicitIns: [], restat: false };
  result.set(key, info);

  if (lx.readPath() !== '') throw lx.error('explicit outputs not supported');
  const outs: EvalString[] = [];
  if (lx.peekToken(Tok.PIPE) && !readPaths(lx, outs)) return;
  expect(lx, Tok.COLON);
  if (lx.readIdent() !== 'dyndep') throw lx.error("expected build command name 'dyndep'");
  if (lx.readPath() !== '') throw lx.error('explicit inputs not supported');
  const ins: EvalString[] = [];
  if (lx.peekToken(Tok.PIPE) && !readPaths(lx, ins)) return;
  if (lx.peekToken(Tok.PIPE2)) throw lx.error('order-only inputs not supported');
  expect(lx, Tok.NEWLINE);

  // At most one binding; a second indented line is then an "unexpected indent" at top level.
  if (lx.peekToken(Tok.INDENT)) {
    const [name, value] = parseLet(lx);
    if (name !== 'restat') throw lx.error("binding is not 'restat'");
    info.restat = evalEmpty(value) !== '';
  }
  for (const e of ins) info.implicitIns.push(evalPath(lx, e));
  for (const e of outs) info.implicitOuts.push(evalPath(lx, e));
}

/**
 * Reads paths up to the first empty one. False on a lexing error, which ninja's dyndep parser
 * (through a `return err;` in a bool function) treats as the statement ending successfully:
 * reading resumes at the start of the bad path, which usually fails as "unexpected identifier"
 * or "lexing error". Kept so that errors are reported where ninja reports them.
 */
function readPaths(lx: Lexer, into: EvalString[]): boolean {
  for (;;) {
    let e: EvalString;
    try {
      e = lx.readPath();
    } catch (err) {
      if (err instanceof NinjaSyntaxError) return false;
      throw err;
    }
    if (e === '') return true;
    into.push(e);
  }
}

function parseLet(lx: Lexer): [string, EvalString] {
  const name = lx.readIdent();
  if (name === null) throw lx.error('expected variable name');
  expect(lx, Tok.EQUALS);
  return [name, lx.readVarValue()];
}

function expect(lx: Lexer, t: Token): void {
  const got = lx.readToken();
  if (got !== t) {
    const hint = t === Tok.COLON ? " ($ also escapes ':')" : '';
    throw lx.error(`expected ${tokenName(t)}, got ${tokenName(got)}${hint}`);
  }
}

/** Evaluates in the dyndep file's scope, which has no variables: references expand to ''. */
function evalEmpty(e: EvalString): string {
  return typeof e === 'string' ? e : e.filter((_, i) => i % 2 === 0).join('');
}

function evalPath(lx: Lexer, e: EvalString): string {
  const p = evalEmpty(e);
  if (p === '') throw lx.error('empty path');
  return canonicalizePath(p);
}

/** ninja's ParseVersion, then the check that the version is 1.0 (any patch level). */
function isVersion1(v: string): boolean {
  const dot = v.indexOf('.');
  const major = atoi(dot === -1 ? v : v.slice(0, dot));
  if (dot === -1) return major === 1;
  const next = v.indexOf('.', dot + 1);
  return major === 1 && atoi(v.slice(dot + 1, next === -1 ? undefined : next)) === 0;
}

function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  return m === null ? 0 : Number(m[1]);
}
