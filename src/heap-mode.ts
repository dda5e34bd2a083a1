// V8's heap tuning for large graphs. A build's engine state lives for the whole build, and V8 by
// default lets its old space grow to about twice the live heap before a full collection: on the
// generated 9k-statement Chromium-style build, 66 MB live became 220 MB of peak RSS.
// `--optimize-for-size` (smaller young generation, slower heap growth, a keener memory reducer)
// cut that to 156 MB, and the 4,000-cheap-edge build from 125 to 99 MB, for 6-10% more CPU on
// cheap edges. So B switches it on only for graphs where memory is the constraint: from 20,000
// edges on (below that the peak stays under ~300 MB). `B_LEAN_HEAP=0|1` overrides the choice.
// V8 reads these heap limits when it sizes the heap, so setting the flag after start-up takes
// effect from the next collection (the measured figures above are with it set that way).

import * as v8 from 'node:v8';

export const LEAN_HEAP_EDGES = 20_000;

let lean = false;

/** Switches V8 to its memory-lean heap for a graph of `edges` edges, when that pays. */
export function leanHeapFor(edges: number): boolean {
  const forced = process.env.B_LEAN_HEAP;
  const want = forced === '1' || (forced !== '0' && edges >= LEAN_HEAP_EDGES);
  if (!want || lean) return lean;
  try {
    v8.setFlagsFromString('--optimize-for-size');
    lean = true;
  } catch {
    // A runtime without V8 flags (some Deno versions): the default heap, nothing else changes.
  }
  return lean;
}
