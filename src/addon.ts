// Loads zeromq's native addon inside a bundled or single-executable B. The build replaces
// zeromq's own loader (which looks for build/manifest.json next to the package) with this file.
//
// The main thread extracts the addon embedded in the executable into the private cache,
// content-addressed by its SHA-256, so that any number of `b` processes starting at once agree
// on one file: each writes a unique temp file and renames it into place (rename is atomic, and
// the content is identical whoever wins). Threads load the file the main thread extracted.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { isMainThread, workerData } from 'node:worker_threads';
import { cacheDir, ensurePrivateDir, writeFileAtomic } from './cachedir.ts';
// Virtual module made by scripts/build.ts: the addon of the target platform (a single
// executable's SEA asset, or base64 in dist/b.cjs).
import { sha256, platform, addonBytes } from 'b:addon';

export function extractAddon(): string {
  if (!sha256) throw new Error('this build of B has no embedded zeromq addon');
  const dir = path.join(cacheDir(), 'addons');
  ensurePrivateDir(dir);
  const file = path.join(dir, `zeromq-${platform}-${sha256.slice(0, 32)}.node`);
  const bytes = addonBytes();
  // Verified by content, not by size: a file of the right size with other bytes (a torn write
  // on a full disk, or anything else) must never be dlopen'ed. Hashing ~4 MB costs ~10 ms.
  let ok = false;
  try {
    ok = createHash('sha256').update(fs.readFileSync(file)).digest('hex') === sha256;
  } catch {
    ok = false;
  }
  if (!ok) {
    if (createHash('sha256').update(bytes).digest('hex') !== sha256) throw new Error('the zeromq addon embedded in this executable is corrupted (SHA-256 mismatch)');
    writeFileAtomic(file, bytes, 0o700);
  }
  return file;
}

function addonPath(): string {
  if (!isMainThread) {
    const p = (workerData as { addonPath?: unknown } | null)?.addonPath;
    if (typeof p === 'string') return p;
  }
  const file = extractAddon();
  // Threads started from here load this same file (see threads.ts).
  (globalThis as { __bAddonPath?: string }).__bAddonPath = file;
  return file;
}

function load(): unknown {
  const file = addonPath();
  const mod = { exports: {} as unknown };
  process.dlopen(mod, file);
  return mod.exports;
}

const addon = load();
export default addon;
