// A Ninja build on this machine alone, run in the calling thread: the engine, the database and
// the commands, without the build node (no broker thread, no worker isolate, no ZeroMQ).
//
// Why: what an edit-rebuild loop needs is a stat of every file and one or two commands, and
// ninja does it in ~0.3 s on serd. B's node costs more than that before the first command runs
// (measured on serd, 2 CPUs: loading the zeromq addon ~100 ms, the broker isolate booting and
// compiling its bundle ~150 ms, then a worker isolate the same again). A Ninja edge's command
// needs none of it: it is a child process, started here as a worker would start it
// (ninja-run.ts), while the engine waits on it like on any other answer. Bfiles (rule bodies are
// JavaScript that need answers back) and builds with other nodes still go through the node.

import type { BuildReply, BuildRequest, Loaded } from './build-host.ts';
import type { Engine } from './engine.ts';
import { interrupts, type BuildEvent } from './engine-types.ts';
import type { TaskContext } from './task-context.ts';
import { closeSpawner, startSpawner } from './spawner.ts';

/**
 * Runs one build request here; each event goes to `onEvent` as it happens (no JSON). `preloaded`:
 * the manifest as the caller read it (the Ninja personality reads it first, for its messages):
 * parsed once, not twice (on the 90k-statement manifest that is seconds and ~100 MB).
 */
export async function buildHere(req: BuildRequest, onEvent: (e: BuildEvent) => void, stop: AbortSignal, preloaded?: Loaded): Promise<BuildReply> {
  // The spawn helper boots (~50 ms) while the manifest and database load, so the first command
  // does not wait for it; every command goes through it (none is a child of this big process).
  startSpawner();
  const { runBuildRequest, toFailure } = await import('./build-host.ts');
  const { isBuildWork, runBuildWork } = await import('./jobs.ts');
  const { runCmd } = await import('./ninja-run.ts');
  const engines = new Set<Engine>();
  let nextTask = 1;
  const cancel = new AbortController();
  // Ninja's interrupt: the signal goes on to the running commands (cancel's reason, exec.ts),
  // and every command that ends from then on removes the outputs it modified (ninja-run.ts). A
  // command that exited 130 stops the build too, but the others are left to finish first, as
  // ninja's Cleanup sends them signal 0 and waits for them.
  const interrupted = new AbortController();
  const onStop = (): void => {
    for (const e of engines) e.stop('interrupted');
    interrupted.abort();
    cancel.abort(stop.reason);
  };
  const sink = (e: BuildEvent): void => {
    if (e.event === 'finish' && e.status === 'failed' && interrupts(e.termination)) interrupted.abort();
    onEvent(e);
  };
  if (stop.aborted) onStop();
  else stop.addEventListener('abort', onStop, { once: true });
  const refuse = (): Promise<Buffer> => Promise.reject(new Error('work running in the build process cannot ask the build engine'));
  const wait = <R>(p: Promise<R>): Promise<R> => p;
  try {
    return await runBuildRequest(req, {
      engines,
      submit: async (payload, task) => {
        const id = nextTask++;
        task(id);
        // Waiting on a command here is just awaiting it: this thread's event loop runs the other
        // edges meanwhile, and the engine's tokens bound how many run (-j).
        const ctx: TaskContext = { worker: 'local/main', task: id, signal: cancel.signal, submit: refuse, need: refuse, wait, interrupted: interrupted.signal };
        try {
          if (!isBuildWork(payload)) throw new Error(`a build does not run ${payload.k} work items`);
          // A Ninja edge's command (nearly every item here) without runBuildWork's dispatch: its
          // dynamic import and async frame were three promises and turns more per edge.
          if (payload.k === 'cmd') return { ok: true, payload: { k: 'cmd', r: await runCmd(payload, ctx) }, worker: 'local/main' };
          return { ok: true, payload: await runBuildWork(payload, ctx), worker: 'local/main' };
        } catch (e) {
          return { ok: false, failure: toFailure(e) };
        }
      },
      sink: { event: sink },
      fetch: () => Promise.reject(new Error('a build without nodes fetches nothing from them')),
      offer: () => {},
      local: true,
      ...(preloaded !== undefined ? { preloaded } : {}),
    });
  } finally {
    stop.removeEventListener('abort', onStop);
    await closeSpawner();
  }
}
