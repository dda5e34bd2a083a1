// What an action's key says about the machine it runs on: the environment variables that change
// what commands write, and the fingerprints of the programs a command line starts. A leaf module
// (file system, processes, no build graph), shared by the client's cache (ninja-cache.ts) and a
// node's (node-cache.ts), so both fingerprint a program the same way.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { commandTool } from './toolchain.ts';
import { execCommand } from './exec.ts';
import { digest, digestFile, digestHex } from './hash.ts';

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
 * Cached per process by path and stat, so a wrapper edited in between is probed again.
 */
export function toolFingerprint(abs: string): Promise<string> {
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    return Promise.resolve('missing');
  }
  const id = `${abs}\u0000${st.size}\u0000${st.mtimeMs}\u0000${st.ino}`;
  let p = tools.get(id);
  if (p === undefined) {
    p = (async () => {
      const bytes = digestHex(digestFile(abs));
      if (!COMPILER.test(abs) && !COMPILER.test(path.basename(abs))) return bytes;
      const r = await execCommand({ argv: [abs, '--version'], maxOutput: 1 << 16 }, AbortSignal.timeout(10_000));
      return `${bytes}:${digestHex(digest(`${r.exit} ${r.output}`))}`;
    })();
    tools.set(id, p);
  }
  return p;
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

