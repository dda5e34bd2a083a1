// Names shared by the single executable's entry (sea-main.ts), the thread starter (threads.ts)
// and the build that makes and trains the executable (scripts/build.ts, scripts/code-cache.ts):
// a code cache is valid only for the exact source text it was made from, wrapper included.

/** B's main bundle, its V8 code cache, and the thread bundle's code cache. */
export const BUNDLE_ASSET = 'b.js';
export const CACHE_ASSET = 'b.cache';
export const THREAD_CACHE_ASSET = 'b-thread.cache';
/** The bundles' parameters (a CommonJS module's): the same in training and at every start. */
export const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) {';
export const WRAP_TAIL = '\n})';
