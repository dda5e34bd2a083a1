// The no-op snapshot: after a complete, successful build B writes the stat of every file the
// build read or wrote (sources, outputs, the build files themselves, and the ones that were
// missing), plus the environment variables its rules read. The next `b build` of the same
// targets first stats those files: if every one is exactly as recorded, nothing can have
// changed, and it says "no work to do" without loading the build file or the database, or even
// starting the build node. Anything else (a changed stat, a new file where one was missing, a
// different environment, other targets, --events/--explain/-n) takes the normal path, which
// decides per rule and writes a new snapshot.
//
// Sound because a rule's answer depends only on what it read through B (recorded here); not
// written when a rule always runs (phony rules, Ninja's always-dirty edges), when a file was
// modified within its timestamp tick (racy), or after a failure. A build that starts removes
// the snapshot first, so a concurrent build never sees a half-updated tree as up to date.
//
//   file = "BNOOP1\n" u32:len JSON{b, targets, buildFile, env, upToDate, dead} f64[4*n] stats
//          then the n paths, NUL-separated. Stats: size (-1 = missing), mtime, ctime, inode.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { VERSION } from './version.ts';
import { writeFileAtomic } from './cachedir.ts';

const MAGIC = Buffer.from('BNOOP1\n');

export interface SnapshotHeader {
  b: string;
  buildFile: string;
  targets: string[];
  env: [string, string | null][];
  upToDate: number;
  dead: string[];
  /** Directory the build's keys (and `dead`) are relative to. */
  root: string;
  /** Number of files recorded. */
  count?: number;
}

export function snapshotFile(dir: string): string {
  return path.join(dir, '.b', 'noop');
}

/** Removes the snapshot (a build is about to change the tree). */
export function dropSnapshot(dir: string): void {
  try {
    fs.rmSync(snapshotFile(dir), { force: true });
  } catch {
    // nothing to drop
  }
}

export interface SnapshotFile {
  abs: string;
  /** Recorded stat; undefined: the file was missing. */
  st: { size: number; mtime: number; ctime: number; ino: number } | undefined;
}

export function writeSnapshot(dir: string, h: SnapshotHeader, files: SnapshotFile[]): void {
  const json = Buffer.from(JSON.stringify({ ...h, count: files.length }), 'utf8');
  const stats = new Float64Array(files.length * 4);
  files.forEach((f, i) => {
    stats[i * 4] = f.st ? f.st.size : -1;
    stats[i * 4 + 1] = f.st?.mtime ?? 0;
    stats[i * 4 + 2] = f.st?.ctime ?? 0;
    stats[i * 4 + 3] = f.st?.ino ?? 0;
  });
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const names = Buffer.from(files.map((f) => f.abs).join('\u0000'), 'utf8');
  const body = Buffer.concat([MAGIC, len, json, Buffer.from(stats.buffer), names]);
  writeFileAtomic(snapshotFile(dir), body, 0o644);
}

/**
 * Whether a build of `targets` from `buildFile` in `dir` would do nothing: the header of the
 * snapshot when every recorded file is exactly as it was, else why not (for --verbose).
 */
export function checkSnapshot(dir: string, buildFile: string, targets: string[], env: NodeJS.ProcessEnv): SnapshotHeader | string {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(snapshotFile(dir));
  } catch {
    return 'no snapshot of the last build';
  }
  if (buf.length < MAGIC.length + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return 'snapshot unreadable';
  const jlen = buf.readUInt32LE(MAGIC.length);
  const jstart = MAGIC.length + 4;
  let h: SnapshotHeader;
  try {
    h = JSON.parse(buf.toString('utf8', jstart, jstart + jlen)) as SnapshotHeader;
  } catch {
    return 'snapshot unreadable';
  }
  if (h.b !== VERSION || typeof h.root !== 'string') return 'snapshot from another version of b';
  if (h.buildFile !== buildFile) return `the last build used ${h.buildFile}`;
  if (h.targets.length !== targets.length || h.targets.some((t, i) => t !== targets[i])) return 'the last build had other targets';
  for (const [k, v] of h.env) if ((env[k] ?? null) !== v) return `environment variable ${k} changed`;
  const n = h.count ?? -1;
  const sstart = jstart + jlen;
  const nstart = sstart + n * 32;
  if (n < 0 || nstart > buf.length) return 'snapshot unreadable';
  // The stats sit before the names: decode them from a copy aligned for a Float64Array.
  const stats = new Float64Array(buf.buffer.slice(buf.byteOffset + sstart, buf.byteOffset + nstart));
  const names = n === 0 ? [] : buf.toString('utf8', nstart).split('\u0000');
  if (names.length !== n) return 'snapshot unreadable';
  for (let i = 0; i < n; i++) {
    const name = names[i]!;
    let s: fs.Stats | undefined;
    try {
      s = fs.statSync(name, { throwIfNoEntry: false });
    } catch {
      s = undefined; // ENOTDIR and friends: as good as missing
    }
    const size = stats[i * 4]!;
    if (s === undefined) {
      if (size !== -1) return `${name} is gone`;
      continue;
    }
    if (size === -1) return `${name} appeared`;
    if (s.isDirectory()) continue; // directories count by existence only
    if (s.size !== size || s.mtimeMs !== stats[i * 4 + 1] || s.ctimeMs !== stats[i * 4 + 2] || s.ino !== stats[i * 4 + 3]) return `${name} changed`;
  }
  return h;
}
