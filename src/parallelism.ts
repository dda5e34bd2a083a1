// How much runs at once by default: a leaf, so the no-op path can know it without loading the
// runtime.

import { availableParallelism } from 'node:os';

/**
 * Ninja's default -j (its GuessParallelism): CPUs + 2, at least 2, and 3 on two CPUs, so that a
 * command waiting on its disk does not leave a CPU idle.
 */
export function defaultJobs(): number {
  const n = availableParallelism();
  return n <= 1 ? 2 : n === 2 ? 3 : n + 2;
}
