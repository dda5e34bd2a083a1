// The Ninja manifest lexer, shared by the manifest and dyndep parsers. It follows ninja's
// lexer.in.cc token for token, including where it leaves its "last token" mark, because error
// positions (file:line and the caret) are derived from that mark and users compare them with
// what ninja prints. It scans the source with charCodeAt and a character-class table: manifests
// of hundreds of megabytes go through it, so no regular expression runs per character.

import { canonicalizePath } from './ninja-path.ts';

export const Tok = {
  ERROR: 0,
  BUILD: 1,
  COLON: 2,
  DEFAULT: 3,
  EQUALS: 4,
  IDENT: 5,
  INCLUDE: 6,
  INDENT: 7,
  NEWLINE: 8,
  PIPE: 9,
  PIPE2: 10,
  PIPEAT: 11,
  POOL: 12,
  RULE: 13,
  SUBNINJA: 14,
  TEOF: 15,
} as const;
export type Token = (typeof Tok)[keyof typeof Tok];

const TOKEN_NAMES: readonly string[] = [
  'lexing error', "'build'", "':'", "'default'", "'='", 'identifier', "'include'", 'indent',
  'newline', "'|'", "'||'", "'|@'", "'pool'", "'rule'", "'subninja'", 'eof',
];

export function tokenName(t: Token): string {
  return TOKEN_NAMES[t] ?? 'unknown token';
}

/**
 * An unevaluated string from the manifest. Most strings contain no variable reference and are
 * kept as the plain string; the others are an array alternating literal text and variable
 * names, starting and ending with (possibly empty) literal text: `a$x b` is ['a', 'x', ' b'].
 * The split is done once, while lexing, so evaluation is a loop of lookups and appends.
 */
export type EvalString = string | string[];

/** A syntax or semantic error in a Ninja file, formatted like ninja formats it. */
export class NinjaSyntaxError extends Error {
  file: string;
  /** 1-based */
  line: number;
  /** 0-based, in characters */
  col: number;
  /** The message without location and context, e.g. "expected '=', got eof". */
  reason: string;
  /**
   * ninja's Lexer::Error showed no line and caret (column 0, or too far to the right): its
   * message then still ends with the newline meant to come before them, which ninja prints as
   * an empty line after "ninja: error: ...". `ninjaText` is the message as ninja's string.
   */
  bare = false;
  get ninjaText(): string {
    return this.bare ? `${this.message}\n` : this.message;
  }
  constructor(file: string, line: number, col: number, reason: string, context: string) {
    super(`${file}:${line}: ${reason}${context}`);
    this.name = 'NinjaSyntaxError';
    this.file = file;
    this.line = line;
    this.col = col;
    this.reason = reason;
  }
}

/** Builds the error for position `pos` of `text`: ninja's Lexer::Error. */
export function syntaxError(file: string, text: string, pos: number, reason: string): NinjaSyntaxError {
  let line = 1;
  let lineStart = 0;
  if (pos > text.length) pos = text.length;
  for (let i = text.indexOf('\n'); i !== -1 && i < pos; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  const col = pos < 0 ? 0 : pos - lineStart;
  // Like ninja, show the line and a caret only when the column is informative and the caret
  // fits on a terminal line; the line itself is cut at 72 characters.
  const TRUNCATE = 72;
  let context = '';
  if (col > 0 && col < TRUNCATE) {
    let end = lineStart;
    while (end < text.length && end - lineStart < TRUNCATE) {
      const c = text.charCodeAt(end);
      if (c === 10 || c === 0) break;
      end++;
    }
    const truncated = end - lineStart === TRUNCATE;
    context = `\n${text.slice(lineStart, end)}${truncated ? '...' : ''}\n${' '.repeat(col)}^ near here`;
  }
  const err = new NinjaSyntaxError(file, line, col, reason, context);
  err.bare = context === '';
  return err;
}

// Character classes, indexed by UTF-16 code unit (a NUL and the end of input, which reads as
// NaN | 0 = 0, are both end of file, as in ninja where the input is NUL-terminated).
const PATH_STOP = 1; // ends a run of plain text in a path: NUL \n \r space : | $
const VALUE_STOP = 2; // ends a run of plain text in a value: NUL \n \r $
const VARNAME = 4; // [a-zA-Z0-9_.-]
const SIMPLE_VARNAME = 8; // [a-zA-Z0-9_-]
const CLASS = new Uint8Array(65536);
for (const c of [0, 10, 13, 36]) CLASS[c] = PATH_STOP | VALUE_STOP;
for (const c of [32, 58, 124]) CLASS[c] = PATH_STOP;
for (const [from, to] of [[97, 122], [65, 90], [48, 57], [95, 95], [45, 45]] as const) {
  for (let c = from; c <= to; c++) CLASS[c] = VARNAME | SIMPLE_VARNAME;
}
CLASS[46] = VARNAME;

const IDENT_CACHE_SIZE = 1024;
const IDENT_CACHE: (string | undefined)[] = new Array<string | undefined>(IDENT_CACHE_SIZE).fill(undefined);

// Paths repeat a lot too: order-only and implicit dependencies shared by all edges of a target,
// objects named again by the link. A direct-mapped cache keyed by a cheap hash of a few
// characters returns the same (canonical) string for the same text, which saves allocating,
// canonicalizing and later hashing it again.
const PATH_CACHE_SIZE = 8192;
const PATH_CACHE: (string | undefined)[] = new Array<string | undefined>(PATH_CACHE_SIZE).fill(undefined);
// Where each cached path was read: comparing two file texts is much faster than comparing with
// the cached string, a slice whose characters V8 reaches through its parent.
const PATH_CACHE_SRC: string[] = new Array<string>(PATH_CACHE_SIZE).fill('');
const PATH_CACHE_OFS = new Int32Array(PATH_CACHE_SIZE);

function internPath(s: string, start: number, end: number): string {
  const n = end - start;
  // Paths sharing a directory differ near the end; the length and a middle character spread
  // the rest.
  const slot = (n * 40503 ^ (s.charCodeAt(end - 1) << 2) ^ (n > 2 ? s.charCodeAt(end - 3) << 5 : 0) ^
    (s.charCodeAt(start + (n >> 1)) << 8) ^ (n > 5 ? s.charCodeAt(end - 6) << 11 : 0)) & (PATH_CACHE_SIZE - 1);
  const cached = PATH_CACHE[slot];
  if (cached !== undefined && cached.length === n && sameText(s, start, PATH_CACHE_SRC[slot]!, PATH_CACHE_OFS[slot]!, n)) {
    return cached;
  }
  const raw = s.slice(start, end);
  const canon = canonicalizePath(raw);
  if (canon === raw) {
    PATH_CACHE[slot] = raw;
    PATH_CACHE_SRC[slot] = s;
    PATH_CACHE_OFS[slot] = start;
  }
  return canon;
}

/** Whether `a` at `i` and `b` at `j` have the same `n` characters (compared from the end, where paths differ). */
function sameText(a: string, i: number, b: string, j: number, n: number): boolean {
  for (let k = n - 1; k >= 0; k--) if (a.charCodeAt(i + k) !== b.charCodeAt(j + k)) return false;
  return true;
}

/** Drops the strings the caches hold, which would keep the text of parsed files alive. */
export function clearLexerCaches(): void {
  IDENT_CACHE.fill(undefined);
  PATH_CACHE.fill(undefined);
  PATH_CACHE_SRC.fill('');
}

export class Lexer {
  readonly file: string;
  readonly src: string;
  /** Where the next token starts. */
  ofs: number;
  /** Start of the last token read; errors point here. -1 before the first token. */
  lastTok: number;

  constructor(file: string, src: string) {
    this.file = file;
    this.src = src;
    this.ofs = 0;
    this.lastTok = -1;
  }

  /** An error at the last token, to be thrown by the caller. */
  error(reason: string): NinjaSyntaxError {
    return syntaxError(this.file, this.src, this.lastTok, reason);
  }

  /** ninja's DescribeLastError: a better message than "lexing error" for the usual mistake. */
  describeLastError(): string {
    return this.lastTok >= 0 && this.src.charCodeAt(this.lastTok) === 9 ? 'tabs are not allowed, use spaces' : 'lexing error';
  }

  readToken(): Token {
    const s = this.src;
    let p = this.ofs;
    let start: number;
    let tok: Token;
    for (;;) {
      start = p;
      const c = s.charCodeAt(p) | 0;
      if (c === 32 || c === 35) {
        // Spaces then maybe a comment (which must end in a newline), a newline or an indent.
        let q = p;
        while (s.charCodeAt(q) === 32) q++;
        const d = s.charCodeAt(q) | 0;
        if (d === 35) {
          let e = q + 1;
          let ec = s.charCodeAt(e) | 0;
          while (ec !== 10 && ec !== 0) ec = s.charCodeAt(++e) | 0;
          if (ec === 10) {
            p = e + 1;
            continue;
          }
        } else if (d === 10) {
          p = q + 1;
          tok = Tok.NEWLINE;
          break;
        } else if (d === 13 && s.charCodeAt(q + 1) === 10) {
          p = q + 2;
          tok = Tok.NEWLINE;
          break;
        }
        if (q > p) {
          p = q;
          tok = Tok.INDENT;
        } else {
          p++; // a lone '#' without a newline after the comment
          tok = Tok.ERROR;
        }
        break;
      }
      if (c === 10) {
        p++;
        tok = Tok.NEWLINE;
        break;
      }
      if (c === 13 && s.charCodeAt(p + 1) === 10) {
        p += 2;
        tok = Tok.NEWLINE;
        break;
      }
      if (c === 0) {
        tok = Tok.TEOF;
        break;
      }
      if (c === 61) {
        p++;
        tok = Tok.EQUALS;
        break;
      }
      if (c === 58) {
        p++;
        tok = Tok.COLON;
        break;
      }
      if (c === 124) {
        const d = s.charCodeAt(p + 1);
        if (d === 64) {
          p += 2;
          tok = Tok.PIPEAT;
        } else if (d === 124) {
          p += 2;
          tok = Tok.PIPE2;
        } else {
          p++;
          tok = Tok.PIPE;
        }
        break;
      }
      if (CLASS[c]! & VARNAME) {
        let q = p + 1;
        while (CLASS[s.charCodeAt(q) | 0]! & VARNAME) q++;
        tok = keyword(s, p, q - p);
        p = q;
        break;
      }
      p++;
      tok = Tok.ERROR;
      break;
    }
    this.lastTok = start;
    this.ofs = p;
    if (tok !== Tok.NEWLINE && tok !== Tok.TEOF) this.eatWhitespace();
    return tok;
  }

  unreadToken(): void {
    this.ofs = this.lastTok;
  }

  peekToken(t: Token): boolean {
    if (this.readToken() === t) return true;
    this.unreadToken();
    return false;
  }

  /** Skips spaces and `$`-newline continuations after a token. */
  eatWhitespace(): void {
    const s = this.src;
    let p = this.ofs;
    for (;;) {
      const c = s.charCodeAt(p);
      if (c === 32) {
        p++;
      } else if (c === 36) {
        const d = s.charCodeAt(p + 1);
        if (d === 10) p += 2;
        else if (d === 13 && s.charCodeAt(p + 2) === 10) p += 3;
        else break;
      } else {
        break;
      }
    }
    this.ofs = p;
  }

  /** Reads a variable, rule or pool name; null (with the mark at the culprit) if there is none. */
  readIdent(): string | null {
    const s = this.src;
    const start = this.ofs;
    let p = start;
    while (CLASS[s.charCodeAt(p) | 0]! & VARNAME) p++;
    this.lastTok = start;
    if (p === start) return null;
    this.ofs = p;
    this.eatWhitespace();
    // Names repeat endlessly (every edge binds the same few variables), so they are looked up
    // in a small direct-mapped cache instead of allocating a fresh string each time.
    const n = p - start;
    const slot = (n * 31 + s.charCodeAt(start) * 7 + s.charCodeAt(p - 1)) & (IDENT_CACHE_SIZE - 1);
    const cached = IDENT_CACHE[slot];
    if (cached !== undefined && cached.length === n && sameText(s, start, cached, 0, n)) return cached;
    const name = s.slice(start, p);
    IDENT_CACHE[slot] = name;
    return name;
  }

  /**
   * Reads a path (ends before a space, ':', '|' or newline; whitespace after it is skipped) or
   * a variable value (ends at and consumes the newline). An empty path comes back as ''.
   */
  readEvalString(path: boolean, canonical = false): EvalString {
    const s = this.src;
    const stop = path ? PATH_STOP : VALUE_STOP;
    let p = this.ofs;
    let run = p; // start of the pending run of plain text
    let lit = ''; // literal text before `run` not yet stored
    let parts: string[] | null = null;
    for (;;) {
      let c = s.charCodeAt(p) | 0;
      while ((CLASS[c]! & stop) === 0) c = s.charCodeAt(++p) | 0;
      if (c === 36) {
        if (p > run) lit += s.slice(run, p);
        const d = s.charCodeAt(p + 1) | 0;
        if (d === 36 || d === 32 || d === 58) {
          lit += String.fromCharCode(d);
          p += 2;
        } else if (d === 10 || (d === 13 && s.charCodeAt(p + 2) === 10)) {
          p += d === 10 ? 2 : 3;
          while (s.charCodeAt(p) === 32) p++;
        } else if (d === 123) {
          let q = p + 2;
          while (CLASS[s.charCodeAt(q) | 0]! & VARNAME) q++;
          if (q === p + 2 || s.charCodeAt(q) !== 125) throw this.badEscape(p);
          parts ??= [];
          parts.push(lit, s.slice(p + 2, q));
          lit = '';
          p = q + 1;
        } else if (CLASS[d]! & SIMPLE_VARNAME) {
          let q = p + 2;
          while (CLASS[s.charCodeAt(q) | 0]! & SIMPLE_VARNAME) q++;
          parts ??= [];
          parts.push(lit, s.slice(p + 1, q));
          lit = '';
          p = q;
        } else {
          throw this.badEscape(p);
        }
        run = p;
        continue;
      }
      if (c === 0) {
        this.lastTok = p;
        throw this.error('unexpected EOF');
      }
      if (c === 13 && s.charCodeAt(p + 1) !== 10) {
        this.lastTok = p;
        throw this.error(this.describeLastError());
      }
      // A terminator: for paths it stays unread, values consume their newline.
      this.lastTok = p;
      const end = p;
      if (path) {
        this.ofs = p;
        this.eatWhitespace();
      } else {
        this.ofs = c === 13 ? p + 2 : p + 1;
      }
      if (parts === null && lit === '' && canonical && end > run) return internPath(s, run, end);
      const tail = end > run ? s.slice(run, end) : '';
      if (parts === null) {
        const text = lit === '' ? tail : lit + tail;
        return canonical && text !== '' ? canonicalizePath(text) : text;
      }
      parts.push(lit + tail);
      return parts;
    }
  }

  readPath(): EvalString {
    return this.readEvalString(true);
  }

  /** readPath(), with a path without escapes or variables returned already canonical. */
  readCanonicalPath(): EvalString {
    return this.readEvalString(true, true);
  }

  readVarValue(): EvalString {
    return this.readEvalString(false);
  }

  private badEscape(p: number): NinjaSyntaxError {
    this.lastTok = p;
    return this.error('bad $-escape (literal $ must be written as $$)');
  }
}

function keyword(s: string, p: number, n: number): Token {
  switch (n) {
    case 4:
      if (s.startsWith('pool', p)) return Tok.POOL;
      if (s.startsWith('rule', p)) return Tok.RULE;
      break;
    case 5:
      if (s.startsWith('build', p)) return Tok.BUILD;
      break;
    case 7:
      if (s.startsWith('default', p)) return Tok.DEFAULT;
      if (s.startsWith('include', p)) return Tok.INCLUDE;
      break;
    case 8:
      if (s.startsWith('subninja', p)) return Tok.SUBNINJA;
      break;
  }
  return Tok.IDENT;
}
