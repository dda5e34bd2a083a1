// What a file looks like now, cheaply. A no-op build must not read file contents, so a file's
// digest is taken from the database when its stat (size, mtime, ctime, inode) is unchanged; only
// a changed stat costs a read and a hash. A file modified in the same timestamp tick as it was
// read is marked racy: a second change within that tick could leave the stat unchanged, so its
// digest is recomputed next time instead of trusted (Git's "racy clean"). The tick is the
// filesystem's timestamp resolution: a few milliseconds of margin where mtimes have sub-second
// precision, 2 s where they are whole seconds (FAT, some network filesystems).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { digestFile } from './hash.ts';
import type { Database, FileState } from './database.ts';

export const RACY_MS = 2000;

/** How many files were hashed and stat'ed (shown with --verbose; tests check no-op builds). */
export const counters = { hashed: 0, stats: 0 };
/** The digest of a file that does not exist. Never equal to a real digest. */
export const MISSING = '\u0000missing';

/** A segment `.` or `..`, an empty one (`//`), or a trailing slash: what path.resolve would rewrite. */
const NOT_CANONICAL = /(?:^|\/)\.\.?(?:\/|$)|\/\/|\/$/;
/** The last root seen to be absolute and normalized (a build asks with one root throughout). */
let canonicalRoot = '';

/**
 * `path.resolve(root, key)` without its normalization where there is nothing to normalize: a
 * key that is already canonical (Ninja's keys are, and CMake's sources are absolute) under an
 * absolute, normalized root. path.resolve costs ~4 µs a key in code that has not warmed up
 * (3,000 keys in a fresh process: 12 ms, against 1.3 ms for this), and a zstd edit rebuild
 * resolves a few thousand (every source and output, in the dirty check and the snapshot).
 */
export function absPath(root: string, key: string): string {
  if (path.sep !== '/' || key === '' || NOT_CANONICAL.test(key)) return path.resolve(root, key);
  if (key.charCodeAt(0) === 0x2f) return key;
  if (root !== canonicalRoot) {
    if (path.resolve(root) !== root) return path.resolve(root, key);
    canonicalRoot = root;
  }
  return root === '/' ? `/${key}` : `${root}/${key}`;
}

export function stat(abs: string): fs.Stats | undefined {
  counters.stats++;
  try {
    return fs.statSync(abs, { throwIfNoEntry: false }) ?? undefined;
  } catch {
    return undefined; // ENOTDIR and friends: as good as missing
  }
}

function sameStat(a: FileState, s: fs.Stats): boolean {
  return a.size === s.size && a.mtime === s.mtimeMs && a.ctime === s.ctimeMs && a.ino === s.ino;
}

/** The filesystem's timestamp resolution, with margin: within it a second change can hide. */
export function racyTick(s: fs.Stats): number {
  return s.mtimeMs % 1000 === 0 ? RACY_MS : 20;
}

/**
 * The stat of a file now if its content is still `known` (as a build read it) and no later change
 * can hide behind that stat; undefined otherwise. A stat that moved since (a hard link changes
 * the ctime) or a racy read costs a hash. Not counted in `counters` (not part of a build).
 */
export function stillSame(known: FileState, abs: string, now = Date.now()): fs.Stats | undefined {
  let s: fs.Stats | undefined;
  try {
    s = fs.statSync(abs, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
  if (s === undefined || s.isDirectory()) return undefined;
  if (!known.racy && sameStat(known, s)) return s;
  if (now - s.mtimeMs < racyTick(s) || s.size !== known.size) return undefined;
  return digestFile(abs) === known.digest ? s : undefined;
}

/** Reads the current state of a file, hashing it only when its stat changed. */
export function currentState(db: Database, key: string, abs: string): FileState | undefined {
  return stateFromStat(db, key, abs, stat(abs));
}

/** currentState and the file's mode, from one stat (a remote input needs both: its exec bit). */
export function currentStateAndMode(db: Database, key: string, abs: string): { state: FileState; mode: number } | undefined {
  const s = stat(abs);
  const state = stateFromStat(db, key, abs, s);
  return state === undefined || s === undefined ? undefined : { state, mode: s.mode };
}

function stateFromStat(db: Database, key: string, abs: string, s: fs.Stats | undefined): FileState | undefined {
  if (s === undefined) return undefined;
  if (s.isDirectory()) {
    // Directories are inputs by existence only (Ninja semantics): their content is not hashed.
    return { size: 0, mtime: 0, ctime: 0, ino: s.ino, digest: '\u0000dir', racy: false };
  }
  const known = db.getFile(key);
  if (known !== undefined && !known.racy && sameStat(known, s)) return known;
  counters.hashed++;
  const st = stateOf(s, digestFile(abs));
  db.putFile(key, st);
  return st;
}

/**
 * The state of an output now, to compare with what its rule recorded (`known`), without changing
 * the record unless the content is the same. Recording an edited output's new digest here would
 * make the first check of it (the no-op fast path) say "modified" and the second one (the async
 * path, a moment later in the same build) say "clean": a hand-edited output was never rebuilt.
 * Only the rule that writes the output records its digest; a touch with identical content may
 * refresh the stat (so the next check costs no read).
 */
export function outputState(db: Database, key: string, abs: string): FileState | undefined {
  const s = stat(abs);
  if (s === undefined) return undefined;
  if (s.isDirectory()) return { size: 0, mtime: 0, ctime: 0, ino: s.ino, digest: '\u0000dir', racy: false };
  const known = db.getFile(key);
  if (known !== undefined && !known.racy && sameStat(known, s)) return known;
  counters.hashed++;
  const st = stateOf(s, digestFile(abs));
  if (known !== undefined && known.digest === st.digest) db.putFile(key, st);
  return st;
}

/**
 * The state of an output a command of B's just wrote (stat and hash), or undefined if the
 * command did not create it. A directory output counts by existence only.
 */
export function writtenState(abs: string): FileState | undefined {
  let s: fs.Stats | undefined;
  try {
    s = fs.statSync(abs, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
  if (s === undefined) return undefined;
  if (s.isDirectory()) return { size: 0, mtime: 0, ctime: 0, ino: s.ino, digest: '\u0000dir', racy: false };
  return stateOf(s, digestFile(abs), true);
}

/**
 * A file's state from its stat and digest. `written` is true for an output B's own command wrote
 * and that command has exited: no writer is left to change it within the same tick, so it is
 * never racy (otherwise every output of a build would be re-read by the next one).
 */
export function stateOf(s: fs.Stats, digest: string, written = false, now = Date.now()): FileState {
  return { size: s.size, mtime: s.mtimeMs, ctime: s.ctimeMs, ino: s.ino, digest, racy: !written && now - s.mtimeMs < racyTick(s) };
}
