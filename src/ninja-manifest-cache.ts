// The parsed Ninja manifest, kept between runs of the Ninja personality: an edit-rebuild of a
// CMake or Meson tree reads the same build.ninja every time, and lexing it is the largest piece
// of B's own start-up work (zstd's 140 KB manifest: 30-37 ms of main-thread CPU from exec to
// parsed, cold, in profiles of the built executable at load ~10; its V8 serialization, 330 KB,
// deserializes in ~1 ms).
//
// Exact invalidation: the cache is keyed by the stat (size, mtime, ctime, inode) of every file
// the parser read (build.ninja, its includes and subninjas, in reading order), taken from the
// open file before its text was read, and by B's and Node's versions, the directory and the
// parse options. A load stats those files and uses the cache only if every stat is unchanged;
// anything else parses and writes a new cache. Racy-clean as filestate.ts: a file modified
// within its timestamp tick of being read is not trusted (a second write in the same tick could
// leave its stat unchanged), so that parse is not cached. Parsing is a function of the files'
// bytes and the options alone (ninja-parser.ts reads only through readFile), so equal stats
// give an equal manifest.
//
// Written beside and renamed, as the snapshot (fastnoop.ts): a concurrent reader sees the old
// cache or the new one, and a torn file fails its magic, length or deserialization and is
// parsed again. Never fsynced: it is only a cache. Only in an existing `.b` directory (a tool
// run in a fresh tree creates nothing) and only for manifests up to 4 MB of text: the 90k-edge
// graphs parse in seconds, but serializing one would add its whole copy to the peak memory that
// the large builds are measured by.
//
//   file = "BMANIFEST1\n" u32:len JSON{b, node, dir, file, phonyCycleErr, files: [abs, size,
//          mtime, ctime, ino][]} then v8.serialize(NinjaManifest)
// The manifest's class instances (Edge, Rule, Scope, SourceFile) come back as plain objects
// with their fields and shared references intact; revive() gives them their prototypes again.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { parseManifest, type NinjaManifest, type ParseOptions } from './ninja-parser.ts';
import { Edge, Rule, Scope, SourceFile } from './ninja-eval.ts';
import { racyTick } from './filestate.ts';
import { VERSION } from './version.ts';

const MAGIC = Buffer.from('BMANIFEST1\n');
const MAX_TEXT = 4 << 20;

type FileStamp = [abs: string, size: number, mtime: number, ctime: number, ino: number];

interface Header {
  b: string;
  node: string;
  dir: string;
  file: string;
  phonyCycleErr: boolean;
  files: FileStamp[];
}

/** What the last load did (tests and --verbose read it). */
export const manifestCacheStats = { hits: 0, misses: 0, written: 0, why: '' };

export function manifestCacheFile(dir: string): string {
  return path.join(dir, '.b', 'manifest');
}

/**
 * A parse function for loadNinja: the cached manifest of `file` in `dir` when every file it
 * was read from is unchanged, else a fresh parse (cached when it can be). Errors are the
 * parser's, as without the cache (a failed parse is never cached).
 */
export function cachedParse(dir: string): (file: string, opts: ParseOptions) => NinjaManifest {
  return (file, opts) => {
    const want = { b: VERSION, node: process.version, dir, file, phonyCycleErr: opts.phonyCycleErr === true };
    const cached = readCache(dir, want);
    if (typeof cached !== 'string') {
      manifestCacheStats.hits++;
      manifestCacheStats.why = '';
      return cached;
    }
    manifestCacheStats.misses++;
    manifestCacheStats.why = cached;
    const stamps: FileStamp[] = [];
    let text = 0;
    let racy: string | undefined;
    const m = parseManifest(file, {
      ...opts,
      readFile: (p) => {
        const abs = path.resolve(dir, p);
        const fd = fs.openSync(abs, 'r');
        try {
          const s = fs.fstatSync(fd);
          // Before the read: a write after this stat but within its tick cannot be told apart.
          if (Date.now() - s.mtimeMs < racyTick(s)) racy ??= `${p} was written within its timestamp tick`;
          const t = fs.readFileSync(fd, 'utf8');
          stamps.push([abs, s.size, s.mtimeMs, s.ctimeMs, s.ino]);
          text += t.length;
          return t;
        } finally {
          fs.closeSync(fd);
        }
      },
    });
    const skip = racy ?? (text > MAX_TEXT ? 'the manifest is larger than 4 MB' : undefined);
    if (skip !== undefined) manifestCacheStats.why += `; not cached: ${skip}`;
    else if (writeCache(dir, { ...want, files: stamps }, m)) manifestCacheStats.written++;
    return m;
  };
}

/** The cached manifest when its header matches `want` and every file is as recorded; else why not. */
function readCache(dir: string, want: Omit<Header, 'files'>): NinjaManifest | string {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(manifestCacheFile(dir));
  } catch {
    return 'no cached manifest';
  }
  const start = MAGIC.length + 4;
  if (buf.length < start || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return 'cached manifest unreadable';
  const len = buf.readUInt32LE(MAGIC.length);
  if (start + len > buf.length) return 'cached manifest unreadable';
  let h: Header;
  try {
    h = JSON.parse(buf.toString('utf8', start, start + len)) as Header;
  } catch {
    return 'cached manifest unreadable';
  }
  if (h.b !== want.b || h.node !== want.node) return 'cached manifest from another version';
  if (h.dir !== want.dir || h.file !== want.file || h.phonyCycleErr !== want.phonyCycleErr || !Array.isArray(h.files)) return 'cached manifest of another build';
  for (const [abs, size, mtime, ctime, ino] of h.files) {
    let s: fs.Stats | undefined;
    try {
      s = fs.statSync(abs, { throwIfNoEntry: false });
    } catch {
      s = undefined;
    }
    if (s === undefined || s.size !== size || s.mtimeMs !== mtime || s.ctimeMs !== ctime || s.ino !== ino) return `${abs} changed`;
  }
  try {
    return revive(v8.deserialize(buf.subarray(start + len)) as NinjaManifest);
  } catch {
    return 'cached manifest unreadable';
  }
}

function writeCache(dir: string, h: Header, m: NinjaManifest): boolean {
  const file = manifestCacheFile(dir);
  if (!fs.existsSync(path.dirname(file))) return false;
  const json = Buffer.from(JSON.stringify(h), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, Buffer.concat([MAGIC, len, json, v8.serialize(m)]), { mode: 0o644 });
    fs.renameSync(tmp, file);
    return true;
  } catch {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // never written
    }
    return false; // a cache that cannot be written only costs the next run a parse
  }
}

/**
 * Gives the deserialized objects their classes back. Identity survives serialization (one
 * Scope object for all edges of a file, one Rule for all its edges, `producer` holding the
 * edges themselves), so each object is seen once.
 */
function revive(m: NinjaManifest): NinjaManifest {
  const seen = new Set<object>();
  const rule = (r: Rule): void => {
    if (seen.has(r)) return;
    seen.add(r);
    Object.setPrototypeOf(r, Rule.prototype);
  };
  for (const e of m.edges as Edge[]) {
    Object.setPrototypeOf(e, Edge.prototype);
    rule(e.ruleDef);
    for (let s: Scope | null = e.scope; s !== null && !seen.has(s); s = s.parent) {
      seen.add(s);
      Object.setPrototypeOf(s, Scope.prototype);
      for (const r of s.rules.values()) rule(r);
    }
    if (!seen.has(e.src)) {
      seen.add(e.src);
      Object.setPrototypeOf(e.src, SourceFile.prototype);
    }
    // The parser shares one frozen empty array among edges; a push must not reach them all.
    for (const a of [e.outs, e.ins, e.validations]) if (a.length === 0) Object.freeze(a);
  }
  return m;
}
