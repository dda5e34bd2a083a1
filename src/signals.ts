// Ctrl-C, SIGTERM and SIGHUP. The first signal asks for a clean stop (the caller stops its node,
// which kills running commands and joins every thread). A second one means the user is not
// waiting: exit at once with the conventional status.
//
// main.ts installs a fallback handler first thing, so that a signal arriving while B is still
// starting (loading modules, reading a manifest: 100-300 ms) ends it with status 130, as ninja
// ends an interrupted build, instead of killing it by the signal (a shell sees -2 then, and
// CMake reports a crash). The fallback acts only when nobody else listens: a build's
// onInterrupt, or `b node`'s own handlers, take precedence. Between holdSignals() and the
// build's onInterrupt (the node is starting), a signal is kept and handed to the build.

declare const __B_MAIN_THREAD__: boolean | undefined;

/**
 * Whether this is the process's main thread. The bundles know it at build time (scripts/build.ts
 * defines it): loading `node:worker_threads` only to ask costs ~7 ms of every start-up, more than
 * half of B's own (measured: `require('worker_threads')` 7.3 ms on the embedded Node 22).
 */
export function mainThread(): boolean {
  if (typeof __B_MAIN_THREAD__ === 'boolean') return __B_MAIN_THREAD__;
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  return typeof get === 'function' ? (get('node:worker_threads') as { isMainThread: boolean }).isMainThread : true;
}

type Sig = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

const SIGS: Sig[] = process.platform === 'win32' ? ['SIGINT'] : ['SIGINT', 'SIGTERM', 'SIGHUP'];

let pending: Sig | undefined;
let holders = 0;
let installed = false;

function fallback(sig: Sig): void {
  if (process.listenerCount(sig) > 1) return; // someone else handles it
  if (holders > 0) {
    pending ??= sig;
    return;
  }
  process.exit(130);
}

/** The fallback handlers (main.ts, before anything slow). */
export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const s of SIGS) process.on(s, fallback);
}

/**
 * Keeps a signal that arrives from now until the build's onInterrupt takes over (which then
 * stops at once); the returned function ends the hold (exiting if a signal is still unclaimed).
 */
export function holdSignals(): () => void {
  holders++;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    holders--;
    if (holders === 0 && pending !== undefined) process.exit(130);
  };
}

export function onInterrupt(stop: (sig: Sig) => void): () => void {
  let count = 0;
  const handler = (sig: Sig): void => {
    count++;
    if (count === 1) stop(sig);
    else process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  for (const s of SIGS) process.on(s, handler);
  const early = pending;
  pending = undefined;
  if (early !== undefined) queueMicrotask(() => handler(early));
  return () => {
    for (const s of SIGS) process.off(s, handler);
  };
}

// As this module is evaluated: main.ts imports it first, so the fallback is in place before the
// rest of the bundle is evaluated (measured: JS handlers ~180 ms after exec on a loaded 2-CPU
// machine, most of it Node's own start). Not in the spawn helper, which keeps commands running
// until B closes its stdin, nor in worker threads (signals go to the main thread).
if (mainThread() && process.env.B_SPAWNER !== '1') installSignalHandlers();
