// An action: one command B runs, described by everything that decides its outputs, and the key
// the action cache (action-cache.ts) files its result under. Pure: no file system, no process.
//
// The key is a digest of: the format version, the platform, the fingerprint of the program the
// command starts, the command line (and rspfile content), the declared environment, the working
// directory, the explicit and implicit inputs as (path, digest), the declared outputs and how
// dependencies are discovered (depfile, deps type). Paths under the build's base directory are
// written relative to it (the base becomes a marker), so the same compile in another checkout has
// the same key, as ccache's base_dir. Headers are the second level (ccache's direct mode): they are
// not known before the first run, so an entry lists the discovered dependencies with the digests
// they had, and a lookup hits only if every one of them still has that digest.

import * as path from 'node:path';
import { digest, digestHex } from './hash.ts';

export const ACTION_FORMAT = 1;

export interface ActionSpec {
  platform: string;
  /** Fingerprint of the program the command starts (its `--version` and its bytes). */
  tool: string;
  cmd: string;
  rspfileContent: string;
  /** Declared environment variables that matter, name -> value (unset ones are absent). */
  env: Record<string, string>;
  /** Absolute working directory. */
  cwd: string;
  /** Absolute directory whose paths are written relative (cwd or an ancestor of it). */
  base: string;
  /** Explicit and implicit inputs: keys as the manifest names them, and their digests (hex). */
  inputs: { path: string; digest: string }[];
  outputs: string[];
  depfile: string;
  deps: string;
  msvcPrefix: string;
  rspfile: string;
}

/** Marks where the working directory and the base directory stood (NUL never occurs in a command). */
const CWD = '\u0000C';
const BASE = '\u0000B';

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Rewrites absolute paths under `cwd` and `base` in text (a command line, a path) as markers, so
 * the text no longer says where the tree is. A prefix only counts at a path boundary: /a/build
 * is not a prefix of /a/build2.
 */
export function relativizer(cwd: string, base: string): (s: string) => string {
  const tail = '(?=[/\\s"\'`:;,=)]|$)';
  const res: [RegExp, string][] = [[new RegExp(escapeRe(cwd) + tail, 'g'), CWD]];
  if (base !== cwd) res.push([new RegExp(escapeRe(base) + tail, 'g'), BASE]);
  return (s) => {
    if (!s.includes(base)) return s;
    let out = s;
    for (const [re, mark] of res) out = out.replace(re, mark);
    return out;
  };
}

/**
 * The inverse for recorded paths: markers back to this tree's directories, wherever they stand
 * (CMake names an object after its source's absolute path: `<cwd>/CMakeFiles/x.dir<base>/src/a.c.o`
 * holds both). NUL never occurs in a path, so a marker is never a path's own text.
 */
export function absolutizer(cwd: string, base: string): (s: string) => string {
  return (s) => (s.includes('\u0000') ? s.split(CWD).join(cwd).split(BASE).join(base) : s);
}

/** A relativized path as a user reads it: the markers' leading `<cwd>/` or `<base>/` dropped. */
export function shownPath(p: string): string {
  return p.startsWith(CWD + '/') || p.startsWith(BASE + '/') ? p.slice(CWD.length + 1) : p;
}

/** A path segment `.` or `..`, a doubled or trailing slash, a backslash: what path.resolve would change. */
const NOT_PLAIN = /(?:^|\/)\.\.?(?:\/|$)|\/\/|\\|\/$/;

/**
 * A path as a build key: relative to `root` when inside it, else absolute, as Ninja's manifest
 * and depfiles and Bfile rules name files (`root` absolute and normalized). A relative `p` is
 * taken from `cwd`; without `cwd` it is a key already (a Ninja key is kept as the manifest or
 * a depfile spells it, `../src/a.h` included) and comes back as it is.
 *
 * The common case is a prefix test, without path.relative (it resolves both sides: 0.7 ms a
 * cache hit on zstd's ~30 headers per compile, most of a hit's CPU): a plain path (nothing that
 * path.resolve would change), inside the root or not (system headers stay absolute).
 */
export function pathKey(root: string, p: string, cwd?: string): string {
  const absolute = p.charCodeAt(0) === 47;
  if (!absolute && cwd === undefined) return p;
  if (p !== '' && root.length > 1 && root.charCodeAt(root.length - 1) !== 47 && !NOT_PLAIN.test(p)) {
    if (absolute) return p.length > root.length + 1 && p.startsWith(root) && p.charCodeAt(root.length) === 47 ? p.slice(root.length + 1) : p;
    if (cwd === root) return p;
  }
  const abs = path.resolve(cwd ?? root, p);
  const rel = path.relative(root, abs);
  // `..a/b` is inside (a name that starts with two dots), `../a` and `..` are not.
  return rel !== '' && rel !== '..' && !rel.startsWith('../') && !path.isAbsolute(rel) ? rel : abs;
}

/** The key of an action (32 hex digits). */
export function actionKey(a: ActionSpec): string {
  const rel = relativizer(a.cwd, a.base);
  const cwdInBase = path.relative(a.base, a.cwd);
  const env = Object.keys(a.env).sort().map((k) => [k, rel(a.env[k]!)]);
  // JSON of a fixed-order array: every field is delimited, so no two specs share a text.
  const text = JSON.stringify([
    'b-action', ACTION_FORMAT, a.platform, a.tool, cwdInBase, rel(a.cmd), rel(a.rspfileContent), env,
    a.inputs.map((i) => [rel(i.path), i.digest]), a.outputs.map(rel), rel(a.depfile), a.deps, a.msvcPrefix, rel(a.rspfile),
  ]);
  return digestHex(digest(text));
}

/** One recorded result of an action: what a hit restores. */
export interface ActionResult {
  /** Discovered dependencies (relativized keys) and the digests (hex) they had when it ran. */
  deps: [string, string][];
  /** The declared outputs (relativized), in order, with their content. */
  outputs: { path: string; digest: string; size: number; mode: number }[];
  /** What the command printed (stdout and stderr, as a build shows it). */
  output: string;
  /** stdout alone, for actions whose caller gets it (a Bfile `run()` resolves with it). */
  stdout?: string;
  /** When it was recorded (ms since the epoch). */
  t: number;
}

/** An entry: one key's results, newest first, one per set of dependency digests. */
export interface ActionEntry {
  v: number;
  key: string;
  results: ActionResult[];
}

/** Results kept per key: a header edited back and forth hits either way, without unbounded growth. */
export const MAX_RESULTS = 4;

const HEX = /^[0-9a-f]{32}$/;

/**
 * Decodes an entry file strictly; undefined for anything else (a torn or foreign file is a miss,
 * never a result). Never throws.
 */
export function decodeEntry(text: string, key: string): ActionEntry | undefined {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof j !== 'object' || j === null) return undefined;
  const e = j as Record<string, unknown>;
  if (e.v !== ACTION_FORMAT || e.key !== key || !Array.isArray(e.results) || e.results.length > MAX_RESULTS) return undefined;
  const results: ActionResult[] = [];
  for (const r of e.results as unknown[]) {
    if (typeof r !== 'object' || r === null) return undefined;
    const x = r as Record<string, unknown>;
    if (typeof x.output !== 'string' || typeof x.t !== 'number' || !Array.isArray(x.deps) || !Array.isArray(x.outputs)) return undefined;
    const deps: [string, string][] = [];
    for (const d of x.deps as unknown[]) {
      if (!Array.isArray(d) || d.length !== 2 || typeof d[0] !== 'string' || typeof d[1] !== 'string' || !HEX.test(d[1])) return undefined;
      deps.push([d[0], d[1]]);
    }
    const outputs: ActionResult['outputs'] = [];
    for (const o of x.outputs as unknown[]) {
      if (typeof o !== 'object' || o === null) return undefined;
      const y = o as Record<string, unknown>;
      if (typeof y.path !== 'string' || typeof y.digest !== 'string' || !HEX.test(y.digest)) return undefined;
      if (!Number.isSafeInteger(y.size) || (y.size as number) < 0 || !Number.isInteger(y.mode) || (y.mode as number) < 0 || (y.mode as number) > 0o7777) return undefined;
      outputs.push({ path: y.path, digest: y.digest, size: y.size as number, mode: y.mode as number });
    }
    if (x.stdout !== undefined && typeof x.stdout !== 'string') return undefined;
    results.push({ deps, outputs, output: x.output, ...(typeof x.stdout === 'string' ? { stdout: x.stdout } : {}), t: x.t });
  }
  return { v: ACTION_FORMAT, key, results };
}

/** The entry with `r` added as the newest result (replacing one with the same dependency digests). */
export function withResult(old: ActionEntry | undefined, key: string, r: ActionResult): ActionEntry {
  const same = (a: ActionResult): boolean => JSON.stringify(a.deps) === JSON.stringify(r.deps);
  const rest = (old?.results ?? []).filter((x) => !same(x));
  return { v: ACTION_FORMAT, key, results: [r, ...rest].slice(0, MAX_RESULTS) };
}

/**
 * The first result whose every recorded dependency has its recorded digest now. `current` gives
 * the digests (hex, or undefined when missing) of the dependencies asked, in order.
 */
export async function matchResult(entry: ActionEntry, current: (deps: string[]) => Promise<(string | undefined)[]>): Promise<ActionResult | undefined> {
  for (const r of entry.results) {
    const now = await current(r.deps.map((d) => d[0]));
    if (r.deps.every((d, i) => now[i] === d[1])) return r;
  }
  return undefined;
}
