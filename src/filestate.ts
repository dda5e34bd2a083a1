// What a file looks like now, cheaply. A no-op build must not read file contents, so a file's
// digest is taken from the database when its stat (size, mtime, ctime, inode) is unchanged; only
// a changed stat costs a read and a hash. A file modified within the last RACY_MS of being read
// is marked racy: a second change within the same timestamp tick could leave the stat
// unchanged, so its digest is recomputed next time instead of trusted (Git's "racy clean").

import * as fs from 'node:fs';
import { digestFile } from './hash.ts';
import type { Database, FileState } from './database.ts';

export const RACY_MS = 2000;

/** How many files were hashed and stat'ed (shown with --verbose; tests check no-op builds). */
export const counters = { hashed: 0, stats: 0 };
/** The digest of a file that does not exist. Never equal to a real digest. */
export const MISSING = '\u0000missing';

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

/** Reads the current state of a file, hashing it only when its stat changed. */
export function currentState(db: Database, key: string, abs: string): FileState | undefined {
  const s = stat(abs);
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

export function stateOf(s: fs.Stats, digest: string, now = Date.now()): FileState {
  return { size: s.size, mtime: s.mtimeMs, ctime: s.ctimeMs, ino: s.ino, digest, racy: now - s.mtimeMs < RACY_MS };
}
