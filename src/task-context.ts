// What a running work item may do besides compute: ask the broker for more work or for answers,
// and fail with a structured Failure. A leaf module: the worker-side handlers (bfile-run,
// ninja-run, rexec) import this and messages.ts, never the worker or the dispatcher (jobs.ts), so
// no import cycle runs through them.

import type { Failure } from './protocol.ts';

export interface TaskContext {
  worker: string;
  task: number;
  signal: AbortSignal;
  /** Runs another work item through the broker (any worker, possibly this one) and waits. */
  submit(work: Buffer | object): Promise<Buffer>;
  /** Asks the build engine questions (see engine.ts) and waits for the answers. */
  need(request: object): Promise<Buffer>;
  /**
   * Waits for `p` (a command this task started) suspended: the worker runs other items
   * meanwhile, so running commands hold no thread.
   */
  wait<R>(p: Promise<R>): Promise<R>;
  /**
   * Aborted once the build is interrupted (a signal, or a command that exited 130): a command
   * that ends after it removes the outputs it modified, as ninja's Builder::Cleanup does. Only
   * a build in this process (build-local.ts) sets it.
   */
  interrupted?: AbortSignal;
}

/** A failure a work item reports as it is (not wrapped as "work threw"). */
export class WorkerFailure extends Error {
  readonly failure: Failure;
  constructor(f: Failure) {
    super(f.message);
    this.failure = f;
  }
}
