// The lean V8 heap (heap-mode.ts): chosen by graph size, overridable, and sticky once set.
import * as assert from 'uvu/assert';
import { suite } from './helpers.ts';
import { LEAN_HEAP_EDGES, leanHeapFor } from '../src/heap-mode.ts';

const test = suite('heap-mode');

test('B_LEAN_HEAP=0 keeps the default heap even for a huge graph; small graphs keep it; large ones switch, for good', () => {
  process.env.B_LEAN_HEAP = '0';
  assert.is(leanHeapFor(10 * LEAN_HEAP_EDGES), false);
  delete process.env.B_LEAN_HEAP;
  assert.is(leanHeapFor(LEAN_HEAP_EDGES - 1), false);
  assert.is(leanHeapFor(LEAN_HEAP_EDGES), true);
  // A later, smaller build in the same process cannot undo it (V8 flags are process-wide).
  assert.is(leanHeapFor(1), true);
});

test.run();
