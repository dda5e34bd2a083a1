// Remote execution without a shared filesystem, client side: which edges go to such nodes, what
// they must carry, and how their outputs come back.
//
// Policy (as distcc's): compiles go remote, and links and static archives whose reads are all
// declared or the system's (rexec-link.ts); everything else runs here. A compile is a command
// whose program is a C/C++ compiler and that has `-c` and `-o`; custom commands and console jobs
// need the whole tree or the terminal and stay local.
//
// Complete inputs: the edge's explicit and implicit inputs, the headers its last depfile named
// (recorded in B's database), and, on a clean build when no depfile exists yet, every source-like
// file in its include directories and in the source file's directory (bounded). A superset is
// harmless: the node fetches each blob once (content-addressed), and the dependencies recorded
// for the next build still come from the depfile. Files of the system (/usr, ...) are not sent:
// nodes use their own, which is why the compiler's fingerprint must match.
// Outputs come back as blobs and are written atomically, only at the edge's declared outputs,
// and only inside the build root.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { digestHex } from './hash.ts';
import { RACY_MS as STAT_RACY_MS } from './filestate.ts';
import type { RexecInput, RexecWork } from './messages.ts';

const COMPILER = /^(?:.*\/)?(?:[\w.+-]+-)?(?:cc|gcc|g\+\+|c\+\+|clang|clang\+\+)(?:-\d+(?:\.\d+)*)?$/;
const SYSTEM = ['/usr/', '/lib/', '/lib64/', '/bin/', '/sbin/', '/etc/', '/opt/', '/proc/', '/sys/', '/dev/', '/nix/'];
const SOURCE_LIKE = /\.(h|hh|hpp|hxx|h\+\+|inc|inl|ipp|tcc|tpp|def|c|cc|cpp|cxx|c\+\+|m|mm|s|S|asm|x|ld|lds|modulemap)$/;
const MAX_FILES = 4000;
const MAX_BYTES = 200 * 1024 * 1024;

/** Splits a shell command line into words (quotes and backslashes; enough for compile lines). */
export function shellWords(cmd: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let q: string | undefined;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (q !== undefined) {
      if (c === q) q = undefined;
      else if (c === '\\' && q === '"' && i + 1 < cmd.length) cur += cmd[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      q = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < cmd.length) {
      cur += cmd[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

export interface CompileInfo {
  compiler: string;
  includeDirs: string[];
  source: string | undefined;
}

/** A single compile command (no shell operators), or undefined. */
export function compileInfo(cmd: string, cwd: string): CompileInfo | undefined {
  if (/[;&|<>`$()]/.test(cmd.replace(/'[^']*'|"[^"]*"/g, ''))) return undefined;
  const w = shellWords(cmd);
  const compiler = w[0];
  if (compiler === undefined || !COMPILER.test(compiler)) return undefined;
  if (!w.includes('-c') || !w.includes('-o')) return undefined;
  const includeDirs: string[] = [];
  let source: string | undefined;
  for (let i = 1; i < w.length; i++) {
    const a = w[i]!;
    for (const flag of ['-I', '-iquote', '-isystem', '-idirafter']) {
      if (a === flag && w[i + 1] !== undefined) includeDirs.push(path.resolve(cwd, w[++i]!));
      else if (a.startsWith(flag) && a.length > flag.length && flag === '-I') includeDirs.push(path.resolve(cwd, a.slice(2)));
    }
    if (a === '-o' || a === '-MF' || a === '-MT' || a === '-MQ' || a === '-include' || a === '-x') {
      i++;
      continue;
    }
    if (!a.startsWith('-') && SOURCE_LIKE.test(a)) source = path.resolve(cwd, a);
  }
  return { compiler, includeDirs, source };
}

export function isSystem(abs: string): boolean {
  return SYSTEM.some((s) => abs.startsWith(s));
}

interface Listing {
  /** The directory's mtime and ctime (ms) when it was read. */
  mtime: number;
  ctime: number;
  /** Subdirectories (size -1) and source-like files with their size, in readdir's order. */
  entries: { p: string; size: number }[];
}

/**
 * Directories already read, by path. A clean build asks for the same directories once per
 * compile (50 compiles of one source directory walk it 50 times: a readdir and a stat per file
 * each time, 1.4 ms of the client's CPU per remote compile in scripts/bench-client-cpu.ts). A
 * listing is reused while the directory's mtime and ctime are unchanged (a file added, removed
 * or renamed changes both) and were not within RACY_MS of the read: a file created in the same
 * clock tick as the read would leave the mtime as it was (filestate.ts's racy-clean argument).
 * Sizes only count toward MAX_BYTES, so a file that grew since is at worst shipped anyway.
 */
const listings = new Map<string, Listing>();
const RACY_MS = 1000;
const MAX_LISTINGS = 10_000;

function listing(d: string): Listing | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(d);
  } catch {
    return undefined;
  }
  const old = listings.get(d);
  if (old !== undefined && old.mtime === st.mtimeMs && old.ctime === st.ctimeMs) return old;
  let ents: fs.Dirent[];
  try {
    ents = fs.readdirSync(d, { withFileTypes: true });
  } catch {
    return undefined;
  }
  const l: Listing = { mtime: st.mtimeMs, ctime: st.ctimeMs, entries: [] };
  for (const e of ents) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(d, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'CMakeFiles' && e.name !== 'node_modules') l.entries.push({ p, size: -1 });
    } else if (e.isFile() && SOURCE_LIKE.test(e.name)) {
      let size = 0;
      try {
        size = fs.statSync(p).size;
      } catch {
        // vanished: it will be missing on the node too, as it is here
      }
      l.entries.push({ p, size });
    }
  }
  const racy = Date.now() - Math.max(st.mtimeMs, st.ctimeMs) < RACY_MS;
  if (!racy) {
    if (listings.size >= MAX_LISTINGS) listings.clear();
    listings.set(d, l);
  } else listings.delete(d);
  return l;
}

/** Source-like files under `dirs` (recursive, bounded); undefined if over the bounds. */
export function sourceFilesUnder(dirs: string[], skip: (abs: string) => boolean): string[] | undefined {
  const out = new Set<string>();
  let bytes = 0;
  const seen = new Set<string>();
  const walk = (d: string): boolean => {
    if (seen.has(d) || isSystem(d + '/')) return true;
    seen.add(d);
    const l = listing(d);
    if (l === undefined) return true;
    for (const f of l.entries) {
      if (f.size < 0) {
        if (!walk(f.p)) return false;
      } else if (!skip(f.p) && !out.has(f.p)) {
        out.add(f.p);
        bytes += f.size;
        if (out.size > MAX_FILES || bytes > MAX_BYTES) return false;
      }
    }
    return true;
  };
  for (const d of dirs) if (!walk(d)) return undefined;
  return [...out];
}

/**
 * The client directories to recreate on the node: for each top-level directory the paths live
 * in, their deepest common ancestor (never `/` itself).
 */
export function projectRoots(paths: string[]): string[] {
  // String prefixes, not split('/') per path: a clean build's item has ~50 inputs, and splitting
  // each into components was 1.2% of the client's CPU (perf, scripts/bench-client-cpu.ts).
  const groups = new Map<string, string>();
  for (const p of paths) {
    let a = 0;
    while (p.charCodeAt(a) === 47) a++;
    if (a === p.length) continue;
    const b = p.indexOf('/', a);
    const top = p.slice(a, b < 0 ? p.length : b);
    const common = groups.get(top);
    groups.set(top, common === undefined ? p : commonDir(common, p));
  }
  const roots: string[] = [];
  for (const [top, common] of groups) roots.push(common || `/${top}`);
  return roots;
}

/** The longest prefix of `a` and `b` made of whole `/`-separated components of both. */
function commonDir(a: string, b: string): string {
  const n = Math.min(a.length, b.length);
  let l = 0;
  while (l < n && a.charCodeAt(l) === b.charCodeAt(l)) l++;
  if ((l === a.length || a.charCodeAt(l) === 47) && (l === b.length || b.charCodeAt(l) === 47)) return a.slice(0, l);
  return a.slice(0, Math.max(0, a.lastIndexOf('/', l - 1)));
}

/** Checks that a declared output, written by the client, stays inside the build root. */
export function checkOutputPath(root: string, out: string, rule: string): string {
  const abs = path.resolve(root, out);
  const rel = path.relative(root, abs);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new Error(`rule ${rule}: output ${out} is outside the build root ${root}; refusing to write it from a remote result`);
  }
  // realpathSync.native is one realpath(3) call; the JavaScript realpathSync lstat's every
  // component of the path (8-10 calls for a build root under /tmp/x/y): 3 of them per output.
  const realRoot = fs.realpathSync.native(root);
  const inside = (d: string): void => {
    const real = fs.realpathSync.native(d);
    if (real !== realRoot && !real.startsWith(realRoot + path.sep)) {
      throw new Error(`rule ${rule}: output ${out} goes through a symlink out of the build root (${real}); refusing to write it from a remote result`);
    }
  };
  // The deepest directory that exists is checked before anything is created: `mkdir -p` through
  // a symlink out of the root would create directories outside it even if the write is refused.
  const dir = path.dirname(abs);
  let existing = dir;
  while (!fs.existsSync(existing) && existing !== path.dirname(existing)) existing = path.dirname(existing);
  inside(existing);
  if (existing === dir) return abs; // nothing to create (the usual case after the first output of a directory)
  fs.mkdirSync(dir, { recursive: true });
  inside(dir); // again: a symlink may have appeared meanwhile
  return abs;
}

/**
 * Input digests already taken, by path, with the stat of the file when they were. A clean build
 * ships each source directory with every compile of it (scripts/bench-client-cpu.ts: 52 files
 * for each of 50 compiles of a directory), and the build's `digestOf` costs two stats, a
 * path.relative and a database lookup a file: 9% of the client's CPU of a clean remote build
 * (perf, 400 compiles). Here one stat says the answer still holds: it is reused only while the
 * file's size, mtime, ctime, inode and mode are those seen before it was taken, and never for a
 * file modified within filestate.ts's RACY_MS of that (a second change in the same clock tick could leave the
 * stat as it was: filestate.ts's racy-clean rule, with its widest tick). Digests name content, so
 * an answer holds whichever build asked.
 */
interface KnownDigest {
  size: number;
  mtime: number;
  ctime: number;
  ino: number;
  mode: number;
  d: { digest: string; size: number; exec: boolean };
}
const digests = new Map<string, KnownDigest>();
/** Bounds the memo: 373 bytes an entry (measured, paths of 55 characters), at most ~19 MB, only in a client sending compiles to nodes. */
const MAX_DIGESTS = 50_000;

/** `digestOf(f)`, answered from `digests` while the file's stat is unchanged. */
export function knownDigest(f: string, digestOf: (abs: string) => { digest: string; size: number; exec: boolean } | undefined): { digest: string; size: number; exec: boolean } | undefined {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(f, { throwIfNoEntry: false });
  } catch {
    st = undefined;
  }
  if (st === undefined || !st.isFile()) {
    digests.delete(f);
    return digestOf(f);
  }
  const old = digests.get(f);
  if (old !== undefined && old.size === st.size && old.mtime === st.mtimeMs && old.ctime === st.ctimeMs && old.ino === st.ino && old.mode === st.mode) return old.d;
  const d = digestOf(f);
  if (d === undefined || d.size !== st.size || Date.now() - Math.max(st.mtimeMs, st.ctimeMs) < STAT_RACY_MS) digests.delete(f);
  else {
    if (digests.size >= MAX_DIGESTS) digests.clear();
    digests.set(f, { size: st.size, mtime: st.mtimeMs, ctime: st.ctimeMs, ino: st.ino, mode: st.mode, d });
  }
  return d;
}

export interface RexecPlan {
  work: RexecWork;
  /** Digest (hex) -> client file, for serving blobs to nodes. */
  offered: Map<string, string>;
}

/**
 * The self-contained work item for a compile edge, or undefined when it must run here.
 * `digestOf` returns a file's content digest (from B's database, hashing only if needed).
 */
export function planRexec(
  e: { cmd: string; root: string; inputs: string[]; knownDeps: string[] | undefined; outputs: string[]; depfile: string; deps: string; msvcPrefix: string; rspfile: string; rspfileContent: string },
  digestOf: (abs: string) => { digest: string; size: number; exec: boolean } | undefined,
): RexecPlan | undefined {
  const info = compileInfo(e.cmd, e.root);
  if (info === undefined) return undefined;
  const abs = (p: string): string => path.resolve(e.root, p);
  const files = new Set<string>(e.inputs.map(abs));
  if (e.knownDeps !== undefined) for (const d of e.knownDeps) files.add(abs(d));
  else {
    const dirs = [...info.includeDirs, ...(info.source ? [path.dirname(info.source)] : [])];
    const extra = sourceFilesUnder(dirs, (p) => files.has(p));
    if (extra === undefined) return undefined; // too much to ship: compile here
    for (const f of extra) files.add(f);
  }
  const inputs: RexecInput[] = [];
  const offered = new Map<string, string>();
  for (const f of files) {
    if (isSystem(f)) continue;
    const d = knownDigest(f, digestOf);
    if (d === undefined) continue; // absent here: absent there too
    const hex = digestHex(d.digest);
    inputs.push({ path: f, digest: hex, size: d.size, exec: d.exec });
    offered.set(hex, f);
  }
  const outputs = e.outputs.map(abs);
  const roots = projectRoots([e.root, ...inputs.map((i) => i.path), ...outputs]);
  return {
    work: {
      k: 'rexec',
      cmd: e.cmd,
      cwd: e.root,
      roots,
      inputs,
      outputs,
      depfile: e.depfile !== '' ? abs(e.depfile) : '',
      deps: e.deps,
      msvcPrefix: e.msvcPrefix,
      rspfile: e.rspfile !== '' ? abs(e.rspfile) : '',
      rspfileContent: e.rspfileContent,
      prefixMap: /(?:^|\/)(?:[\w.+-]+-)?(?:gcc|g\+\+|cc|c\+\+|clang|clang\+\+)(?:-\d+(?:\.\d+)*)?$/.test(info.compiler),
      // Small outputs come back in the result: one cas-get round trip less per output (remote-output.ts).
      inline: true,
    },
    offered,
  };
}

