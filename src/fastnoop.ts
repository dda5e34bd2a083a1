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
// Commands that run in every build: CMake writes custom commands whose declared output never
// appears (zstd has 8: `cmake -E create_symlink`, manpage copies into programs/). Ninja runs
// them on every build, and so does B's normal path (an output is missing). Their results feed
// nothing (the missing output is what every dependent recorded), so the snapshot holds them as
// plain commands with the order between them, and the fast path runs them, as Ninja would,
// without the manifest, the database or a build node. If one fails, or an output does appear,
// the snapshot is dropped and the normal path decides next.
//
//   file = "BNOOP1\n" u32:len JSON{b, targets, buildFile, env, upToDate, dead, commands}
//          f64[4*n] stats, then the n paths, NUL-separated. Stats: size (-1 = missing), mtime,
//          ctime, inode.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { VERSION } from './version.ts';
import { findBuildFile } from './buildfile.ts';

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
  /** Commands that run in every build (see the header), in an order that respects their deps. */
  commands?: SnapshotCommand[];
}

/** A command the fast path runs on every build: Ninja's always-dirty edge without outputs. */
export interface SnapshotCommand {
  cmd: string;
  cwd: string;
  description: string;
  /** Declared outputs (absolute): missing after every run; one that appears voids the snapshot. */
  outs: string[];
  /** Indices of earlier commands that must finish first. */
  after: number[];
}

export interface CommandRun {
  index: number;
  exit: number;
  signal?: string;
  output: string;
  spawnError?: string;
}

/**
 * The last build's snapshot when it shows that building `targets` now would do nothing; else
 * why the normal path has to decide. `dead` lists only the dead files that are still there.
 * Here rather than in cmd-build.ts: the Ninja personality's no-op loads nothing else.
 */
export function snapshotHit(dir: string, file: string | undefined, targets: string[]): SnapshotHeader | string {
  let buildFile: string;
  try {
    buildFile = findBuildFile(dir, file);
  } catch {
    return 'no build file'; // the normal path reports it
  }
  const h = checkSnapshot(dir, buildFile, targets, process.env);
  if (typeof h === 'string') return h;
  return { ...h, dead: h.dead.filter((f) => fs.existsSync(path.resolve(h.root, f))) };
}

/**
 * Runs the snapshot's commands, at most `jobs` at once, each after the ones it depends on.
 * `started`/`finished` let the caller render them; resolves with the first failure (the others
 * in flight finish, nothing new starts), or 'changed' when a declared output appeared, or 'ok'.
 */
export async function runCommands(
  cmds: SnapshotCommand[], jobs: number, signal: AbortSignal,
  report: { started(i: number): void; finished(r: CommandRun, done: number): void },
): Promise<'ok' | 'changed' | CommandRun> {
  const { execCommand } = await import('./exec.ts');
  const done = new Array<boolean>(cmds.length).fill(false);
  const started = new Array<boolean>(cmds.length).fill(false);
  let running = 0;
  let finished = 0;
  let failure: CommandRun | undefined;
  return new Promise((resolve) => {
    const pump = (): void => {
      if (running === 0 && (failure !== undefined || finished === cmds.length || signal.aborted)) {
        if (failure !== undefined) return resolve(failure);
        if (signal.aborted) return resolve({ index: -1, exit: 130, signal: 'SIGINT', output: '' });
        return resolve(cmds.some((c) => c.outs.some((o) => fs.existsSync(o))) ? 'changed' : 'ok');
      }
      if (failure !== undefined || signal.aborted) return;
      for (let i = 0; i < cmds.length && running < Math.max(1, jobs); i++) {
        const c = cmds[i]!;
        if (started[i] || !c.after.every((j) => done[j])) continue;
        started[i] = true;
        running++;
        report.started(i);
        void execCommand({ shell: c.cmd, cwd: c.cwd }, signal).then((r) => {
          running--;
          done[i] = true;
          finished++;
          const run: CommandRun = { index: i, exit: r.exit, output: r.output, ...(r.signal ? { signal: r.signal } : {}), ...(r.spawnError !== undefined ? { spawnError: r.spawnError } : {}) };
          if ((r.exit !== 0 || r.spawnError !== undefined) && failure === undefined) failure = run;
          report.finished(run, finished);
          pump();
        });
      }
    };
    pump();
  });
}

export function snapshotFile(dir: string): string {
  return path.join(dir, '.b', 'noop');
}

/** Removes the snapshot (a build is about to change the tree). */
export function dropSnapshot(dir: string): void {
  try {
    fs.unlinkSync(snapshotFile(dir)); // not rmSync: its first call loads rimraf (~20 ms)
  } catch {
    // nothing to drop
  }
}

/**
 * The files a snapshot records, in the order written, built without an object per file: a
 * 90k-statement build records ~180k files, and a `{abs, st: {...}}` each, their joined names and
 * the concatenated copy of the whole were a ~30 MiB spike at the very end of the build, which
 * set its peak RSS. Stats go into one growing Float64Array (as written), names into UTF-8
 * chunks of 4,096 (written as they are, with writev, never joined into one copy).
 */
export class SnapshotFiles {
  private stats = new Float64Array(4096 * 4);
  private readonly chunks: Buffer[] = [];
  private pending: string[] = [];
  count = 0;

  /** A file as it is (size, mtime, ctime, ino), or missing (`size` undefined). */
  add(abs: string, size: number | undefined, mtime = 0, ctime = 0, ino = 0): void {
    if (this.count * 4 === this.stats.length) {
      const grown = new Float64Array(this.stats.length * 2);
      grown.set(this.stats);
      this.stats = grown;
    }
    const i = this.count++ * 4;
    this.stats[i] = size ?? -1;
    this.stats[i + 1] = mtime;
    this.stats[i + 2] = ctime;
    this.stats[i + 3] = ino;
    this.pending.push(abs);
    if (this.pending.length === 4096) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    // Names are NUL-separated: a chunk after the first starts with the separator.
    this.chunks.push(Buffer.from((this.chunks.length > 0 ? '\u0000' : '') + this.pending.join('\u0000'), 'utf8'));
    this.pending = [];
  }

  /** The stats and the names, as the snapshot's body holds them. */
  body(): Buffer[] {
    this.flush();
    return [Buffer.from(this.stats.buffer, 0, this.count * 32), ...this.chunks];
  }
}

export function writeSnapshot(dir: string, h: SnapshotHeader, files: SnapshotFiles): void {
  const json = Buffer.from(JSON.stringify({ ...h, count: files.count }), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  // Written beside and renamed: a reader sees the old snapshot or the new one. Not fsynced
  // (that cost 80 ms of a 0.4 s edit-rebuild): after a crash a torn file fails the magic, length
  // and name-count checks and reads as "unreadable", which only sends the build the normal way.
  const file = snapshotFile(dir);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      let bufs = [MAGIC, len, json, ...files.body()];
      // writev may write less than asked (a signal, a full disk): go on from where it stopped.
      while (bufs.length > 0) {
        let n = fs.writevSync(fd, bufs);
        while (bufs.length > 0 && n >= bufs[0]!.length) n -= bufs.shift()!.length;
        if (n > 0) bufs[0] = bufs[0]!.subarray(n);
      }
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // never written
    }
    throw e;
  }
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

/**
 * Runs the commands a snapshot holds (Ninja's always-dirty edges) on behalf of a no-op build.
 * Ctrl-C stops them. On a failure, an interrupt, or an output that appeared, the snapshot is
 * dropped: the next build takes the normal path, which decides per rule.
 */
export async function runSnapshotCommands(
  dir: string, h: SnapshotHeader, jobs: number,
  report: { started(i: number): void; finished(r: CommandRun, done: number): void },
): Promise<'ok' | 'changed' | CommandRun> {
  const cmds = h.commands ?? [];
  if (cmds.length === 0) return 'ok';
  // Through the spawn helper, as every command B runs: a command B started itself would outlive
  // a SIGKILL of B. Perl for these few commands: it is up in ~2 ms, Python in ~20.
  const { startSpawner, closeSpawner } = await import('./spawner.ts');
  startSpawner('perl');
  const { onInterrupt } = await import('./signals.ts');
  const ac = new AbortController();
  const off = onInterrupt(() => ac.abort());
  try {
    const r = await runCommands(cmds, jobs, ac.signal, report);
    if (r !== 'ok') dropSnapshot(dir);
    return r;
  } finally {
    off();
    await closeSpawner();
  }
}
