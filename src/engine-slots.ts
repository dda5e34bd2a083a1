// Where a ready action waits for its turn to run: the front end's start order (a Ninja
// manifest: ninja's order, so status lines come as ninja's), or else its pool's slot and a -j
// token; then Ninja's -l gate. A cache hit writes its outputs and submits nothing, so it waits
// for none of them (a warm zstd build at -j4 queued its 8 always-run commands behind 55 hits).

import { LoadGate, Semaphore } from './engine-state.ts';
import type { Action, EngineOptions, StartOrder } from './engine-types.ts';

export class Slots {
  private readonly pools = new Map<string, Semaphore>();
  private readonly jobs: Semaphore | undefined;
  /** Ninja's -l (engine-state.ts). */
  private readonly load: LoadGate;
  /** Whether -l was given (LoadGate's own test: a limit above 0). */
  private readonly limited: boolean;
  /**
   * The front end's start order, set per build. Bfiles keep the newest-first -j tokens: a
   * Bfile rule's needs are discovered as it runs, so there is no graph to weigh up front, and
   * depth first keeps a wide build from starting every rule and holding them all suspended.
   */
  order: StartOrder | undefined;

  constructor(pools: Iterable<[string, number]>, opts: EngineOptions) {
    this.load = new LoadGate(opts.loadLimit);
    this.limited = opts.loadLimit !== undefined && opts.loadLimit > 0;
    for (const [name, depth] of pools) if (depth > 0) this.pools.set(name, new Semaphore(depth));
    if (opts.jobs !== undefined && opts.jobs > 0) this.jobs = new Semaphore(opts.jobs, true);
  }

  /**
   * Waits for the action's turn (undefined: none to wait for); `release` gives it back on every
   * path. A start order without -l is its own promise, not an async frame around it: one
   * promise and one microtask turn fewer per edge.
   */
  acquire(a: Action): Promise<void> | undefined {
    const order = this.order;
    if (order !== undefined && !this.limited) {
      // Without -l the gate only counts (enter() returns undefined), so it may count now.
      void this.load.enter();
      return order.acquire(a);
    }
    return this.acquireGated(a);
  }

  private async acquireGated(a: Action): Promise<void> {
    const order = this.order;
    if (order !== undefined) await order.acquire(a);
    else {
      await this.pool(a)?.acquire();
      await this.jobs?.acquire();
    }
    const gate = this.load.enter();
    if (gate !== undefined) await gate; // no extra turn without -l: the start order stays as it was
  }

  release(a: Action): void {
    this.load.leave();
    if (this.order !== undefined) this.order.release(a);
    else {
      this.jobs?.release();
      this.pool(a)?.release();
    }
  }

  /**
   * A running rule's `need`: while it waits it is suspended and runs nowhere, so it gives back
   * its -j token (else a rule waiting on many others would hold a slot idle for the whole
   * build, and a chain of needs deeper than -j would deadlock), and takes one again before it
   * resumes.
   */
  async suspended<T>(wait: () => Promise<T>): Promise<T> {
    this.jobs?.release();
    try {
      return await wait();
    } finally {
      await this.jobs?.acquire();
    }
  }

  private pool(a: Action): Semaphore | undefined {
    return a.pool ? this.pools.get(a.pool) : undefined;
  }
}
