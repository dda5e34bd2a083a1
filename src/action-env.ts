// What an action's key says about the machine it runs on: the environment variables that change
// what commands write, and the fingerprints of the programs a command line starts. A leaf module
// (file system, processes, no build graph), shared by the client's cache (ninja-cache.ts) and a
// node's (node-cache.ts), so both fingerprint a program the same way.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { commandTool } from './toolchain.ts';
import { execCommand } from './exec.ts';
import { digest, digestFile, digestHex } from './hash.ts';
import { cacheDir, writeFileAtomic } from './cachedir.ts';
import { RACY_MS } from './filestate.ts';

/**
 * Variables that change what compilers and common tools write, always part of the key; B_CACHE_ENV
 * (names separated by commas or spaces) declares more. Locale variables are here because the
 * replayed diagnostics are in the locale's language.
 */
export const KEY_ENV = [
  'SOURCE_DATE_EPOCH', 'CPATH', 'C_INCLUDE_PATH', 'CPLUS_INCLUDE_PATH', 'OBJC_INCLUDE_PATH', 'LIBRARY_PATH',
  'COMPILER_PATH', 'GCC_EXEC_PREFIX', 'DEPENDENCIES_OUTPUT', 'SUNPRO_DEPENDENCIES', 'LANG', 'LC_ALL', 'LC_CTYPE', 'LC_MESSAGES',
];

/** Whether an on/off variable (B_CACHE, B_CACHE_UPLOAD) is on: set, and not '', '0' or 'false'. */
export function envFlag(v: string | undefined): boolean {
  return v !== undefined && v !== '' && v !== '0' && v !== 'false';
}

/**
 * Whether builds use the action cache (`--cache` sets B_CACHE=1 for the whole process). Here,
 * not in ninja-cache.ts: a build asks it first, and loading the cache's modules just to hear
 * "no" cost ~28 ms of a zstd no-op (module init of ninja-cache, action-key, action-cache, cas).
 */
export function cacheEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return envFlag(env.B_CACHE);
}

/** The base directory for relative paths in keys: B_CACHE_BASEDIR if it holds the root, else the root. */
export function runBase(root: string, env: NodeJS.ProcessEnv = process.env): string {
  const given = env.B_CACHE_BASEDIR;
  if (given === undefined || !path.isAbsolute(given)) return root;
  const rel = path.relative(given, root);
  return rel.startsWith('..') || path.isAbsolute(rel) ? root : path.resolve(given);
}

export function declaredEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const names = new Set([...KEY_ENV, ...(env.B_CACHE_ENV ?? '').split(/[\s,]+/).filter(Boolean)]);
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = env[n];
    if (v !== undefined) out[n] = v;
  }
  return out;
}

const COMPILER = /^(?:.*\/)?(?:[\w.+-]+-)?(?:cc|gcc|g\+\+|c\+\+|clang|clang\+\+|cpp)(?:-\d+(?:\.\d+)*)?$/;
const tools = new Map<string, Promise<string>>();

/**
 * A program's fingerprint: the digest of its bytes and, for compilers, of its `--version` (a
 * driver such as /usr/bin/gcc is a small binary that runs cc1; the version names cc1's release).
 * Only compilers are asked for `--version`: any other program might do something else with it.
 * Cached per process by path and stat, so a wrapper edited in between is probed again. The
 * `--version` runs once per process (a wrapper's version can change while its bytes do not);
 * the bytes' digest comes from the on-disk memo (toolDigest) when the stat is unchanged.
 */
export function toolFingerprint(abs: string): Promise<string> {
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    return Promise.resolve('missing');
  }
  const id = statId(abs, st);
  let p = tools.get(id);
  if (p === undefined) {
    p = (async () => {
      const bytes = programDigest(abs, st, memoFile());
      if (!COMPILER.test(abs) && !COMPILER.test(path.basename(abs))) return bytes;
      const r = await execCommand({ argv: [abs, '--version'], maxOutput: 1 << 16 }, AbortSignal.timeout(10_000));
      return `${bytes}:${digestHex(digest(`${r.exit} ${r.output}`))}`;
    })();
    tools.set(id, p);
  }
  return p;
}

/** A program's identity on disk: path and the stat fields any rewrite or replacement changes. */
export function statId(abs: string, st: fs.Stats): string {
  return `${abs}\u0000${st.size}\u0000${st.mtimeMs}\u0000${st.ctimeMs}\u0000${st.ino}\u0000${st.dev}`;
}

/**
 * Programs' byte digests kept across builds, `<cache>/tools.json`: every warm build of zstd
 * hashed /usr/bin/cmake (9.2 MB, for its 8 always-run `cmake -E` commands), the compiler driver
 * (1.3 MB) and ar again, ~25 ms of CPU before the first hit could be keyed. Trusted only for
 * the same path and stat (size, mtime, ctime, inode, device: rewriting or replacing a file
 * changes its ctime), and stored only when the file's last change is older than the racy window
 * (filestate.ts): a second change within the same timestamp tick could keep the stat.
 */
const TOOLS_FORMAT = 1;
/** Entries kept (newest last): a machine's compilers, linkers and generators, with room. */
export const MAX_TOOL_DIGESTS = 128;
/** The memo of each file as this process last read or wrote it. */
const memos = new Map<string, Map<string, string>>();

/** Decodes the memo file strictly: anything else is an empty memo (never throws). */
export function decodeToolDigests(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return out;
  }
  if (typeof j !== 'object' || j === null) return out;
  const o = j as Record<string, unknown>;
  if (o.v !== TOOLS_FORMAT || !Array.isArray(o.tools) || o.tools.length > MAX_TOOL_DIGESTS) return out;
  for (const e of o.tools as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'string' || !/^[0-9a-f]{32}$/.test(e[1])) return new Map();
    out.set(e[0], e[1]);
  }
  return out;
}

/** The memo with `id -> hex` added as the newest entry, bounded to MAX_TOOL_DIGESTS. */
export function withToolDigest(memo: Map<string, string>, id: string, hex: string): Map<string, string> {
  const next = new Map([...memo].filter(([k]) => k !== id));
  next.set(id, hex);
  while (next.size > MAX_TOOL_DIGESTS) next.delete(next.keys().next().value!);
  return next;
}

function memoFile(): string | undefined {
  try {
    return path.join(cacheDir(), 'tools.json');
  } catch {
    return undefined; // no private directory: hash every time
  }
}

/**
 * The digest (hex) of a program's bytes, `st` its stat: from the memo `file` for an unchanged
 * stat, else hashed (and remembered there unless racy). No file: hashed every time.
 */
export function programDigest(abs: string, st: fs.Stats, file: string | undefined, now = Date.now()): string {
  const id = statId(abs, st);
  let memo = file !== undefined ? memos.get(file) : undefined;
  if (file !== undefined && memo === undefined) {
    memo = readMemo(file);
    memos.set(file, memo);
  }
  const known = memo?.get(id);
  if (known !== undefined) return known;
  const hex = digestHex(digestFile(abs));
  if (file !== undefined && now - Math.max(st.mtimeMs, st.ctimeMs) >= RACY_MS) {
    // Re-read first: another build may have added its programs since this one read the memo.
    const next = withToolDigest(readMemo(file), id, hex);
    memos.set(file, next);
    try {
      writeFileAtomic(file, JSON.stringify({ v: TOOLS_FORMAT, tools: [...next] }));
    } catch {
      // a full disk or a removed cache directory: the next build hashes it again
    }
  }
  return hex;
}

function readMemo(file: string): Map<string, string> {
  try {
    return decodeToolDigests(fs.readFileSync(file, 'utf8'));
  } catch {
    return new Map(); // none yet
  }
}

const BUILTIN = new Set(['cd', ':', 'true', 'false', 'exit', 'set', 'export', 'test', '[']);

/**
 * The programs a shell command line starts: the first word of each part between `;`, `&&`,
 * `||` and `|` (CMake writes `cd /build/dir && /usr/bin/cc ...`), shell builtins left out.
 * Approximate by design: it only chooses which programs are fingerprinted; an empty list means
 * the command is not cached.
 */
export function commandPrograms(cmd: string): string[] {
  const out: string[] = [];
  for (const part of cmd.replace(/'[^']*'|"[^"]*"/g, (q) => q.replace(/[;&|]/g, ' ')).split(/;|&&|\|\||\||\n/)) {
    const t = commandTool(part.trim().replace(/^[({]\s*/, ''));
    if (t !== undefined && t !== '' && !BUILTIN.has(t) && !out.includes(t)) out.push(t);
  }
  return out;
}

/** A program named on a command line as an absolute path (PATH lookup), or undefined. */
export function resolveTool(t: string, cwd: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (t.includes('/')) return path.resolve(cwd, t);
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const f = path.resolve(cwd, dir, t);
    // stat without throwing first: most PATH entries lack the program, and a thrown ENOENT per
    // entry (8 entries here, twice per `mkdir -p out && cp ...`) was ~5% of a cache hit's CPU.
    try {
      const st = fs.statSync(f, { throwIfNoEntry: false });
      if (st === undefined || !st.isFile()) continue;
      fs.accessSync(f, fs.constants.X_OK);
      return f;
    } catch {
      // not executable by us, or the PATH entry is not a directory (ENOTDIR): look further
    }
  }
  return undefined;
}

