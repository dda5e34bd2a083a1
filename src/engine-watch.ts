// The engine's stall watchdog. Searching the waits-for graph on every wait is quadratic on large
// builds, so it is searched only when nothing moves: no work finished since the last tick and
// every item in flight is itself waiting on answers. A loop found then is broken by rejecting
// one wait with the whole chain, instead of the build waiting forever.

import { findLoop, type ActionState } from './engine-state.ts';
import { cycleError } from './engine-trace.ts';
import type { BuildDescription } from './engine-types.ts';

const TICK_MS = 100;

export class StallWatch {
  /** Finished work (any kind): compared between ticks. */
  progress = 0;
  /** Work items submitted and not answered. */
  inFlight = 0;
  /** `need`s of running rules not answered. */
  needing = 0;

  /** Starts ticking; the returned function stops it (call it on every path). */
  start(desc: BuildDescription, actions: () => Iterable<ActionState>): () => void {
    let last = -1;
    const timer = setInterval(() => {
      if (this.progress !== last || this.inFlight > this.needing) {
        last = this.progress;
        return;
      }
      const loop = findLoop(actions());
      if (loop === undefined) return;
      const [from, to] = [loop[0]!, loop[1]!];
      const w = from.waits?.find((x) => x.on === to && !to.finished);
      w?.reject(cycleError(desc, loop, w.key));
    }, TICK_MS);
    return () => clearInterval(timer);
  }

  /** Counts a submitted work item in flight until it is answered. */
  async counted<T>(submit: () => Promise<T>): Promise<T> {
    this.inFlight++;
    try {
      return await submit();
    } finally {
      this.answered();
    }
  }

  /** A work item counted in flight (`inFlight++`) was answered. */
  answered(): void {
    this.inFlight--;
    this.progress++;
  }
}
