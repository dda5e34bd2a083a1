// Entry point of the single executable (scripts/build.ts makes it the SEA's main script): it runs
// B's bundle, which the executable carries as an asset, with V8's code cache for it.
//
// Why not Node's own `useCodeCache`: Node makes that cache by compiling the main script without
// running it, so it holds only what V8 compiles eagerly (the top level); every function B calls
// is still compiled at its first call, in every process. This cache is made at build time after
// B ran its common commands (scripts/code-cache.ts: --version, a Ninja build, its no-op, an
// edit-rebuild), so the functions those paths call arrive compiled. zstd, one `.c` edited, medians
// of 15 alternating: the plan (`ninja -n`) 144.5 -> 127.7 ms, the rebuild's CPU 463 -> 441 ms;
// `b --version` 42.1 -> 43.6 ms (a 531 kB cache against Node's 130 kB, deserialized at start).
// A cache V8 rejects (another V8, other flags: NODE_OPTIONS with V8 options) only costs the
// compile; `b debug startup` says whether it was accepted.

import { getAsset } from 'node:sea';
import { Script, constants } from 'node:vm';
import { BUNDLE_ASSET, CACHE_ASSET, THREAD_CACHE_ASSET, WRAP_HEAD, WRAP_TAIL } from './sea-assets.ts';

type Wrapped = (exports: unknown, req: NodeJS.Require, mod: unknown, filename: string, dirname: string) => void;

/** An asset's bytes; undefined for a cache an executable for another platform was made without. */
function asset(name: string): Uint8Array | undefined {
  try {
    return new Uint8Array(getAsset(name));
  } catch {
    return undefined;
  }
}

function start(): void {
  let threadCache: { bytes: Uint8Array | undefined } | undefined;
  // Read when the first thread starts (a no-op build starts none).
  (globalThis as { __bThreadCache?: () => Uint8Array | undefined }).__bThreadCache = () => (threadCache ??= { bytes: asset(THREAD_CACHE_ASSET) }).bytes;
  const data = asset(CACHE_ASSET);
  const script = new Script(WRAP_HEAD + getAsset(BUNDLE_ASSET, 'utf8') + WRAP_TAIL, {
    filename: 'b.js',
    ...(data !== undefined ? { cachedData: data } : {}),
    // A Bfile is an ES module: the bundle's import() of it goes to Node's own loader.
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  (globalThis as { __bCodeCache?: string }).__bCodeCache = data === undefined ? 'none' : script.cachedDataRejected === true ? 'rejected' : `accepted (${data.length} bytes)`;
  const fn = script.runInThisContext() as Wrapped;
  const mod = { exports: {} };
  fn(mod.exports, require, mod, __filename, __dirname);
}

start();
