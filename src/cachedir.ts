// Where B keeps per-user machine-local state (extracted native addon, node stores): a private
// directory that survives between runs. HOME may be missing or read-only (CI sandboxes, service
// accounts), so candidates are tried in order and the first private, writable one wins.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mainThread } from './signals.ts';
import { UserError } from './errors.ts';

let cached: string | undefined;

function candidates(): string[] {
  const out: string[] = [];
  const env = process.env;
  if (env.B_CACHE_DIR) out.push(env.B_CACHE_DIR);
  if (env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)) out.push(path.join(env.XDG_CACHE_HOME, 'b'));
  let home: string | undefined;
  try {
    home = env.HOME || os.homedir();
  } catch {
    home = undefined; // no passwd entry and no HOME
  }
  if (home && path.isAbsolute(home)) out.push(path.join(home, '.cache', 'b'));
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  out.push(path.join(os.tmpdir(), `b-${uid}`));
  return out;
}

/**
 * The last resort when every candidate above is unusable (another user pre-created `b-<uid>` in
 * the shared temp dir, which anyone can do): a fresh directory with an unpredictable name
 * (mkdtemp, mode 0700), removed when this process exits. B_CACHE_DIR is set to it so that the
 * worker threads and nested builds started from here use the same one.
 */
function freshPrivateDir(): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `b-${uid}-`));
  fs.chmodSync(dir, 0o700);
  ensurePrivateDir(dir);
  process.env.B_CACHE_DIR = dir;
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Creates `dir` with mode 0700 if missing and checks that it is private: a real directory (not a
 * symlink), owned by us, not writable by group or others. A shared /tmp fallback must not let
 * another user plant a native library that we would then load.
 */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
  if (process.platform !== 'win32') {
    const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
    if (st.uid !== uid) throw new Error(`${dir} is owned by uid ${st.uid}, not by us (uid ${uid})`);
    if ((st.mode & 0o022) !== 0) fs.chmodSync(dir, 0o700);
  }
  fs.accessSync(dir, fs.constants.W_OK);
}

/** The private cache root, created on first use. Throws a UserError if nothing is writable. */
export function cacheDir(): string {
  if (cached !== undefined) return cached;
  const tried: string[] = [];
  for (const dir of candidates()) {
    try {
      ensurePrivateDir(dir);
      cached = dir;
      return dir;
    } catch (e) {
      tried.push(`${dir} (${(e as Error).message})`);
    }
  }
  if (mainThread()) {
    try {
      cached = freshPrivateDir();
      return cached;
    } catch (e) {
      tried.push(`a fresh directory in ${os.tmpdir()} (${(e as Error).message})`);
    }
  }
  throw new UserError({
    code: 'cache.unwritable',
    message: `no writable private directory for B's cache; tried:\n  ${tried.join('\n  ')}`,
    hint: 'set B_CACHE_DIR to a directory you own and can write',
    exitCode: 2,
  });
}

/**
 * Writes `data` to `file` atomically: a unique temp file in the same directory, then rename.
 * `durable`: fsync before the rename, so that an OS crash cannot leave the name with partial
 * contents; a file its reader verifies anyway can skip it (0.4-0.5 ms of wall a write here).
 */
export function writeFileAtomic(file: string, data: Uint8Array | string, mode = 0o600, durable = true): void {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    if (typeof data === 'string') fs.writeSync(fd, data);
    else fs.writeSync(fd, data);
    if (durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
