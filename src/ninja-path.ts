// Path helpers shared by the Ninja front-end modules: canonicalization (what ninja's
// CanonicalizePath does on POSIX, so that two spellings of one file name one graph node) and
// the shell quoting ninja applies to $in / $out.

/**
 * Canonicalizes a path exactly like ninja's CanonicalizePath on POSIX: drops `.` and empty
 * components and trailing slashes, folds `dir/..`, keeps `..` components that cannot be folded
 * (leading ones, or one following only `..`), keeps a leading `/`, and turns an empty result
 * into `.`. No file system access: `a/link/..` becomes `a` even if `link` is a symlink, as in
 * ninja.
 */
export function canonicalizePath(path: string): string {
  // Nearly every path in a generated manifest is already canonical; checking is much cheaper
  // than rebuilding, and returning the same string avoids an allocation per path.
  return isCanonical(path) ? path : rebuild(path);
}

function isCanonical(p: string): boolean {
  const len = p.length;
  if (len === 0) return true;
  // Quick accept for the usual shapes ("obj/a.o", "../../src/a.cc", "/usr/include/x.h"): after
  // any leading "../", no "." component can hide behind "/." or at the start, and no empty
  // component behind "//" or at the end. indexOf runs natively, far faster than a JS loop.
  let i = 0;
  while (p.startsWith('../', i)) i += 3;
  const first = p.charCodeAt(i);
  if (first !== 46 && (i === 0 || first !== 47) && p.charCodeAt(len - 1) !== 47 &&
    p.indexOf('/.', i) === -1 && p.indexOf('//', i) === -1 && i < len) {
    return true;
  }
  let compStart = 0;
  if (p.charCodeAt(0) === 47) {
    if (len === 1) return true;
    compStart = 1;
  }
  // Number of ordinary components seen so far: a `..` after one of them would fold.
  let named = 0;
  for (let j = compStart; j <= len; j++) {
    const c = j < len ? p.charCodeAt(j) : 47;
    if (c !== 47) continue;
    const n = j - compStart;
    if (n === 0) return false; // `a//b`, trailing `/`
    if (n <= 2 && p.charCodeAt(compStart) === 46) {
      if (n === 1) return len === 1; // `.` only survives as the whole path
      if (p.charCodeAt(compStart + 1) === 46) {
        if (named > 0) return false;
        compStart = j + 1;
        continue;
      }
    }
    named++;
    compStart = j + 1;
  }
  return true;
}

function rebuild(p: string): string {
  const abs = p.charCodeAt(0) === 47;
  const parts = p.split('/');
  const out: string[] = [];
  // Ordinary components at the end of `out` that a `..` may remove; leading `..`s are not.
  let named = 0;
  for (let i = abs ? 1 : 0; i < parts.length; i++) {
    const c = parts[i]!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (named > 0) {
        out.pop();
        named--;
      } else {
        out.push(c);
      }
      continue;
    }
    out.push(c);
    named++;
  }
  const s = (abs ? '/' : '') + out.join('/');
  return s === '' ? '.' : s;
}

/** Characters ninja passes to the shell unquoted (IsKnownShellSafeCharacter). */
function shellSafe(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 47 && c <= 57) ||
    c === 95 || c === 43 || c === 45 || c === 46;
}

/**
 * Quotes a path for a POSIX shell the way ninja's GetShellEscapedString does: unchanged when
 * every character is known safe, otherwise single-quoted with `'` written as `'\''`.
 */
export function shellEscape(s: string): string {
  const len = s.length;
  let i = 0;
  while (i < len && shellSafe(s.charCodeAt(i))) i++;
  if (i === len) return s;
  return `'${s.includes("'") ? s.replaceAll("'", "'\\''") : s}'`;
}
