// Starting B's threads (the process broker and its workers) in every way B runs:
// - bundled / single executable: the thread bundle's source is embedded in the main bundle
//   (`__B_THREAD_SOURCE__`) and threads are started from it with `eval`, because a single
//   executable has no file to point a Worker at;
// - from sources (Deno, or Node with type stripping): from src/thread.ts.
// Threads inherit the zeromq addon path that the main thread extracted, so they load the same
// file instead of extracting again.

import { Worker, workerData } from 'node:worker_threads';
import { WRAP_HEAD, WRAP_TAIL } from './sea-assets.ts';

declare const __B_THREAD_SOURCE__: string | undefined;

export type ThreadKind = 'broker' | 'worker' | 'probe';

export interface ThreadData {
  kind: ThreadKind;
  [key: string]: unknown;
}

interface Inherited {
  threadSource?: string;
  /** V8's code cache for threadSource (the executable's `b-thread.cache` asset, sea-main.ts). */
  threadCache?: Uint8Array;
  /** Only while the build trains the thread cache (scripts/code-cache.ts): where threads write theirs. */
  threadCacheOut?: string;
  addonPath?: string;
  /** zmq.ts's doorbell (Deno polling mode): one per process, shared by every thread. */
  zmqBell?: SharedArrayBuffer;
}

function inherited(): Inherited {
  const fromParent = (workerData ?? {}) as Inherited;
  const source = typeof __B_THREAD_SOURCE__ === 'string' ? __B_THREAD_SOURCE__ : fromParent.threadSource;
  const cache = fromParent.threadCache ?? (globalThis as { __bThreadCache?: () => Uint8Array | undefined }).__bThreadCache?.();
  const trainOut = fromParent.threadCacheOut ?? (globalThis as { __bThreadTrainOut?: string }).__bThreadTrainOut;
  const addonPath = (globalThis as { __bAddonPath?: string }).__bAddonPath ?? fromParent.addonPath;
  const zmqBell = fromParent.zmqBell ?? ((globalThis as { __bZmqBell?: SharedArrayBuffer }).__bZmqBell ??= new SharedArrayBuffer(4));
  return { ...(source !== undefined ? { threadSource: source } : {}), ...(source !== undefined && cache !== undefined ? { threadCache: cache } : {}), ...(trainOut !== undefined ? { threadCacheOut: trainOut } : {}), ...(addonPath !== undefined ? { addonPath } : {}), zmqBell };
}

/**
 * A thread started with the code cache compiles its source as sea-main.ts does the main bundle:
 * what the build's training compiled arrives compiled. A cache V8 rejects only costs the
 * compile. While the build trains it, each thread writes its cache when it exits.
 */
const WITH_CACHE = `const { workerData } = require('node:worker_threads');
const vm = require('node:vm');
const s = new vm.Script(${JSON.stringify(WRAP_HEAD)} + workerData.threadSource + ${JSON.stringify(WRAP_TAIL)}, { filename: 'b-thread.js', cachedData: workerData.threadCache, importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
globalThis.__bThreadCacheRejected = s.cachedDataRejected === true;
if (workerData.threadCacheOut) process.on('exit', () => require('node:fs').writeFileSync(workerData.threadCacheOut + '.' + workerData.kind + '-' + require('node:worker_threads').threadId, s.createCachedData()));
const m = { exports: {} };
s.runInThisContext()(m.exports, require, m, __filename, __dirname);`;

export function spawnThread(data: ThreadData, name: string): Worker {
  const inh = inherited();
  const wd = { ...data, ...inh };
  if (inh.threadSource !== undefined) {
    return new Worker(inh.threadCache !== undefined ? WITH_CACHE : inh.threadSource, { eval: true, workerData: wd, name });
  }
  return new Worker(new URL('./thread.ts', import.meta.url), { workerData: wd, name });
}
