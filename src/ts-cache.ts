// Bfiles are TypeScript, and Node strips the types of a .ts module with amaro, a WebAssembly
// build of swc that every isolate compiles the first time it meets one: a fresh worker's import
// of the demo's Bfile.ts took 57-61 ms, of the same file already stripped 3-4 ms. A Bfile build
// imports the Bfile in the broker thread and in each worker, the broker's and one worker's
// import on the way to the first command (CPU profile of the demo's edit-rebuild).
//
// So each thread loads TypeScript modules through a module hook that keeps what Node's stripper
// made of each source in the per-user cache (cachedir.ts: private, so nobody else can put code
// there), keyed by the source's digest, its extension, the "type" of its package.json and the
// Node version: everything Node's own choice of format reads. A hit costs a read, and never
// asks Node's loader, whose format detection for a .ts without a package "type" itself runs the
// stripper (45 ms of a worker's 49 ms in the hook, profiled). A miss asks Node's loader, and when
// Node takes the file for an ES module, strips it as Node would (the same
// `stripTypeScriptTypes`, whitespace in place of types, so lines and columns in errors stay the
// Bfile's) and writes the entry atomically. What Node would not strip (node_modules) or strips
// as CommonJS, and everything that is not TypeScript, goes to Node's own loader unchanged.
// Where there are no such hooks (older Node, Deno), nothing is installed.

import * as fs from 'node:fs';
import * as nodeModule from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir, writeFileAtomic } from './cachedir.ts';
import { digest, digestHex } from './hash.ts';

interface LoadResult {
  format?: string | null;
  source?: string | ArrayBufferView | ArrayBuffer | null;
  shortCircuit?: boolean;
}
type NextLoad = (url: string, context?: unknown) => LoadResult;
interface Hooks {
  registerHooks?: (hooks: { load: (url: string, context: unknown, next: NextLoad) => LoadResult }) => unknown;
  stripTypeScriptTypes?: (code: string, options?: { mode?: 'strip' }) => string;
  findPackageJSON?: (specifier: string) => string | undefined;
}

type Strip = NonNullable<Hooks['stripTypeScriptTypes']>;

/** Entries kept; an edited Bfile leaves its old versions behind, the oldest go past this. */
const MAX_ENTRIES = 256;

let installed = false;
let dir: string | undefined;

/** Counts for tests: what this thread's hook did. */
export const tsCacheStats = { hits: 0, misses: 0 };

/** Installs the hook in this thread (once). */
export function installTsCache(): void {
  if (installed) return;
  installed = true;
  const m = nodeModule as unknown as Hooks;
  const strip = m.stripTypeScriptTypes;
  if (typeof m.registerHooks !== 'function' || typeof strip !== 'function' || process.env.B_TS_CACHE === '0') return;
  const findPackageJSON = m.findPackageJSON;
  m.registerHooks({
    load(url, context, next) {
      const ext = /^file:[^?#]*\.(m?ts)(?:[?#]|$)/.exec(url)?.[1];
      if (ext === undefined || url.includes('/node_modules/')) return next(url, context);
      return viaCache(url, ext, context, next, strip, findPackageJSON);
    },
  });
}

function viaCache(url: string, ext: string, context: unknown, next: NextLoad, strip: Strip, findPackageJSON: Hooks['findPackageJSON']): LoadResult {
  let source: Buffer;
  try {
    source = fs.readFileSync(fileURLToPath(url));
  } catch {
    return next(url, context); // Node reports the missing file its own way
  }
  const key = digestHex(digest(Buffer.concat([Buffer.from(`${process.version}\0${ext}\0${packageType(url, findPackageJSON)}\0`), source])));
  let file: string | undefined;
  try {
    dir ??= path.join(cacheDir(), 'ts');
    file = path.join(dir, `${key}.js`);
    const hit = fs.readFileSync(file, 'utf8');
    tsCacheStats.hits++;
    return { format: 'module', source: hit, shortCircuit: true };
  } catch {
    // not there yet (or no cache dir at all): as Node would, then keep it
  }
  tsCacheStats.misses++;
  const r = next(url, context);
  if (r.format !== 'module-typescript') return r;
  const out = quietly(() => strip(source.toString('utf8'), { mode: 'strip' }));
  if (file !== undefined && dir !== undefined) {
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileAtomic(file, out);
      prune(dir);
    } catch {
      // a cache that cannot be written only costs the next thread this strip again
    }
  }
  return { format: 'module', source: out, shortCircuit: true };
}

/** The "type" field of the package.json that governs `url` ("" without one): it decides the format. */
function packageType(url: string, findPackageJSON: Hooks['findPackageJSON']): string {
  try {
    const pj = findPackageJSON?.(url);
    if (pj === undefined) return findPackageJSON === undefined ? '?' : '';
    const type = (JSON.parse(fs.readFileSync(pj, 'utf8')) as { type?: unknown }).type;
    return typeof type === 'string' ? type : '';
  } catch {
    return '?';
  }
}

/** Node warns that stripTypeScriptTypes is experimental; the Bfile's user did not call it. */
function quietly<T>(f: () => T): T {
  const emit = process.emitWarning;
  process.emitWarning = (() => {}) as typeof process.emitWarning;
  try {
    return f();
  } finally {
    process.emitWarning = emit;
  }
}

function prune(d: string): void {
  const names = fs.readdirSync(d).filter((n) => n.endsWith('.js'));
  if (names.length <= MAX_ENTRIES) return;
  const byAge = names.map((n) => ({ n, t: fs.statSync(path.join(d, n)).mtimeMs })).sort((a, b) => a.t - b.t);
  for (const { n } of byAge.slice(0, names.length - MAX_ENTRIES)) fs.rmSync(path.join(d, n), { force: true });
}
