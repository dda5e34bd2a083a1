// Starting B's threads (the process broker and its workers) in every way B runs:
// - bundled / single executable: the thread bundle's source is embedded in the main bundle
//   (`__B_THREAD_SOURCE__`) and threads are started from it with `eval`, because a single
//   executable has no file to point a Worker at;
// - from sources (Deno, or Node with type stripping): from src/thread.ts.
// Threads inherit the zeromq addon path that the main thread extracted, so they load the same
// file instead of extracting again.

import { Worker, workerData } from 'node:worker_threads';

declare const __B_THREAD_SOURCE__: string | undefined;

export type ThreadKind = 'broker' | 'worker';

export interface ThreadData {
  kind: ThreadKind;
  [key: string]: unknown;
}

interface Inherited {
  threadSource?: string;
  addonPath?: string;
  /** zmq.ts's doorbell (Deno polling mode): one per process, shared by every thread. */
  zmqBell?: SharedArrayBuffer;
}

function inherited(): Inherited {
  const fromParent = (workerData ?? {}) as Inherited;
  const source = typeof __B_THREAD_SOURCE__ === 'string' ? __B_THREAD_SOURCE__ : fromParent.threadSource;
  const addonPath = (globalThis as { __bAddonPath?: string }).__bAddonPath ?? fromParent.addonPath;
  const zmqBell = fromParent.zmqBell ?? ((globalThis as { __bZmqBell?: SharedArrayBuffer }).__bZmqBell ??= new SharedArrayBuffer(4));
  return { ...(source !== undefined ? { threadSource: source } : {}), ...(addonPath !== undefined ? { addonPath } : {}), zmqBell };
}

export function spawnThread(data: ThreadData, name: string): Worker {
  const inh = inherited();
  const wd = { ...data, ...inh };
  if (inh.threadSource !== undefined) {
    return new Worker(inh.threadSource, { eval: true, workerData: wd, name });
  }
  return new Worker(new URL('./thread.ts', import.meta.url), { workerData: wd, name });
}
