// The engine's dry run (`-n`): a dirty action "runs" without running anything. Its answers are
// fresh digests, different from any recorded one, so everything that depends on it is dry-run
// too, as ninja's dry run treats every started edge as rebuilt. Kept apart from engine.ts,
// which holds the path of a real build.

import { digest } from './hash.ts';
import type { Slots } from './engine-slots.ts';
import type { Action, Answer, BuildEvent, DirtyReason } from './engine-types.ts';

/**
 * Dry-runs a dirty action. A start order dry-runs as ninja's DryRunCommandRunner: ready edges
 * start in its order, and "finish" one at a time, in the order they started.
 */
export async function dryRun(a: Action, name: string, reason: DirtyReason, slots: Slots, stats: { ran: number; done: number }, event: (e: BuildEvent) => void): Promise<Map<string, Answer>> {
  await slots.order?.acquire(a);
  stats.ran++;
  stats.done++;
  event({ event: 'run', key: name, action: a.id, description: a.description || name, reason });
  await slots.order?.dryFinish?.();
  event({ event: 'finish', key: name, action: a.id, status: 'ok', ran: true, ms: 0, node: 'local', reason });
  slots.order?.release(a);
  const m = new Map<string, Answer>();
  for (const out of a.outputs) m.set(out, { key: out, hash: digest(`dry-run ${out} ${Math.random()}`) });
  if (a.answers !== undefined) m.set(a.answers, { key: a.answers, hash: digest(`dry-run ${Math.random()}`) });
  return m;
}
