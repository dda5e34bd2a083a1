// Dependency information written by compilers: gcc/clang Makefile-style depfiles (-MD/-MMD,
// ninja's `depfile` / `deps = gcc`) and MSVC /showIncludes output (`deps = msvc`). The depfile
// grammar is the subset ninja accepts (depfile_parser.in.cc), with its escaping rules, so a
// depfile means to us exactly what it means to ninja.

import { canonicalizePath } from './ninja-path.ts';

export interface Depfile {
  /** targets (left of ':'), de-escaped, in order of first appearance, without duplicates */
  outs: string[];
  /** prerequisites, de-escaped, in order of first appearance, without duplicates */
  ins: string[];
}

// Characters that form file names without escaping (ninja's plain-text class); every UTF-16
// unit from 0x80 up counts too, like ninja's bytes 0x80-0xFF.
const PLAIN = new Uint8Array(128);
for (const ch of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+?"\'&,/_:.~()}{%=@[]!-') {
  PLAIN[ch.charCodeAt(0)] = 1;
}

function plain(c: number): boolean {
  return c >= 128 || PLAIN[c] === 1;
}

/**
 * Parses a Makefile-style depfile. Paths come back de-escaped but not canonicalized (ninja
 * canonicalizes when it uses them; see canonicalizePath). Several rules may appear; the inputs
 * of all of them are merged, as ninja does. An empty file (or one with only whitespace) gives no
 * outputs and no inputs. Throws an Error with ninja's message ("expected ':' in depfile",
 * "inputs may not also have inputs") when ninja would refuse the file.
 *
 * Escapes, as gcc and clang write them: 2N+1 backslashes and a space are N backslashes and a
 * space inside the name, while 2N backslashes and a space are 2N backslashes ending the name;
 * `\#` is `#`; `\:` is `:` unless whitespace follows; `$$` is `$`; backslash-newline continues
 * the line; any other backslash is kept, so Windows paths like `c:\foo.h` survive.
 */
export function parseDepfile(text: string): Depfile {
  const outs: string[] = [];
  const ins: string[] = [];
  const outSet = new Set<string>();
  const inSet = new Set<string>();
  const end = text.length;
  let i = 0;
  let haveTarget = false;
  let parsingTargets = true;
  // Set when a target of the current rule was already seen as an input: that rule may then not
  // list new inputs (ninja's guard against depfiles describing a multi-level graph).
  let poisoned = false;
  let empty = true;
  while (i < end) {
    let haveNewline = false;
    let name = '';
    // Read one file name, de-escaping as we go.
    for (;;) {
      if (i >= end) break;
      const c = text.charCodeAt(i);
      if (plain(c)) {
        let j = i + 1;
        while (j < end && plain(text.charCodeAt(j))) j++;
        name += text.slice(i, j);
        i = j;
        continue;
      }
      if (c === 92) {
        let k = 1;
        while (text.charCodeAt(i + k) === 92) k++;
        const nx = i + k < end ? text.charCodeAt(i + k) : 0;
        if (nx === 32) {
          // 2N+1 backslashes and a space: N backslashes and a space in the name. 2N backslashes
          // and a space: the name ends with the 2N backslashes.
          i += k + 1;
          if (k % 2 === 1) {
            name += '\\'.repeat((k - 1) / 2) + ' ';
            continue;
          }
          name += '\\'.repeat(k);
          break;
        }
        if (nx === 35) {
          name += '\\'.repeat(k - 1) + '#';
          i += k + 1;
          continue;
        }
        if (nx === 58) {
          const after = i + k + 1 < end ? text.charCodeAt(i + k + 1) : 0;
          if (after === 0 || after === 32 || after === 13 || after === 10 || after === 9) {
            // `\:` before whitespace is not an escape: the name (a target) ends at this colon.
            name += text.slice(i, i + k + 1);
            i += k + 2;
            if (after === 10) haveNewline = true;
            break;
          }
          name += '\\'.repeat(k - 1) + ':';
          i += k + 1;
          continue;
        }
        const newline = nx === 10 ? 1 : nx === 13 && text.charCodeAt(i + k + 1) === 10 ? 2 : 0;
        if (newline > 0 || nx === 0 || nx === 13) {
          if (k === 1) {
            // A continuation ends the name but not the rule; a stray backslash is dropped.
            i += 1 + newline;
            break;
          }
          name += '\\'.repeat(k);
          i += k;
          continue;
        }
        name += text.slice(i, i + k + 1);
        i += k + 1;
        continue;
      }
      if (c === 36 && text.charCodeAt(i + 1) === 36) {
        name += '$';
        i += 2;
        continue;
      }
      if (c === 10 || (c === 13 && text.charCodeAt(i + 1) === 10)) {
        i += c === 10 ? 1 : 2;
        haveNewline = true;
        break;
      }
      // Whitespace or any other character ends the name and is dropped.
      i++;
      break;
    }

    const isInput = !parsingTargets;
    if (name.length > 0 && name.charCodeAt(name.length - 1) === 58) {
      name = name.slice(0, -1);
      parsingTargets = false;
      haveTarget = true;
    }
    if (name.length > 0) {
      empty = false;
      if (!inSet.has(name)) {
        if (isInput) {
          if (poisoned) throw new Error('inputs may not also have inputs');
          inSet.add(name);
          ins.push(name);
        } else if (!outSet.has(name)) {
          outSet.add(name);
          outs.push(name);
        }
      } else if (!isInput) {
        poisoned = true;
      }
    }
    if (haveNewline) {
      parsingTargets = true;
      poisoned = false;
    }
  }
  if (!haveTarget && !empty) throw new Error("expected ':' in depfile");
  return { outs, ins };
}

/** The prefix English cl.exe puts before each /showIncludes line (ninja's default). */
export const SHOW_INCLUDES_PREFIX = 'Note: including file: ';

/**
 * Extracts the headers from MSVC /showIncludes output, as ninja does for `deps = msvc`
 * (CLParser::Parse on POSIX): lines starting with `prefix` (then any spaces) name a header,
 * which is canonicalized and kept unless it looks like a system header (under "Program Files"
 * or "Microsoft Visual Studio"); the echo of the source file name that cl.exe prints first is
 * dropped; every other line is kept in `rest`, each ending in '\n'. `deps` is sorted and
 * without duplicates, like ninja's std::set. An empty prefix means the English default.
 */
export function parseShowIncludes(output: string, prefix: string = SHOW_INCLUDES_PREFIX): { deps: string[]; rest: string } {
  if (prefix === '') prefix = SHOW_INCLUDES_PREFIX;
  const deps = new Set<string>();
  let rest = '';
  let seenInclude = false;
  const n = output.length;
  let start = 0;
  while (start < n) {
    let end = start;
    while (end < n) {
      const c = output.charCodeAt(end);
      if (c === 10 || c === 13) break;
      end++;
    }
    const line = output.slice(start, end);
    let include = '';
    if (line.length > prefix.length && line.startsWith(prefix)) {
      let p = prefix.length;
      while (line.charCodeAt(p) === 32) p++;
      include = line.slice(p);
    }
    if (include !== '') {
      seenInclude = true;
      const path = canonicalizePath(include);
      if (!isSystemInclude(path)) deps.add(path);
    } else if (seenInclude || !isSourceFileName(line)) {
      rest += line + '\n';
    }
    if (end < n && output.charCodeAt(end) === 13) end++;
    if (end < n && output.charCodeAt(end) === 10) end++;
    start = end;
  }
  return { deps: [...deps].sort(), rest };
}

function isSystemInclude(path: string): boolean {
  const p = path.toLowerCase();
  return p.includes('program files') || p.includes('microsoft visual studio');
}

/** cl.exe echoes the name of the file it compiles; ninja recognizes it by its extension. */
function isSourceFileName(line: string): boolean {
  const l = line.toLowerCase();
  return l.endsWith('.c') || l.endsWith('.cc') || l.endsWith('.cxx') || l.endsWith('.cpp') || l.endsWith('.c++');
}
