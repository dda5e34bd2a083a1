// Dead files: outputs an earlier build wrote that the build no longer produces (a rule or a
// build statement was removed or renamed), like tup's and Ninja's cleandead. Found without
// running anything: the live outputs are those reachable from the default targets through the
// dependencies the database recorded, whose rule still exists; every other recorded output is
// dead. `b build` reports them after a successful build of the defaults; `b clean --dead`
// removes them and forgets them.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Database } from './database.ts';
import type { BuildDescription } from './engine.ts';

export function deadOutputs(desc: BuildDescription, db: Database): string[] {
  const live = new Set<string>();
  const seen = new Set<string>();
  const stack: string[] = [];
  // A key is stacked once, when first seen: the trace dependencies repeat across actions (zstd:
  // 7,717 recorded dependencies, a few hundred distinct files), and stacking every one of them
  // to drop it on the pop was most of this walk.
  const reach = (key: string): void => {
    if (seen.has(key)) return;
    seen.add(key);
    stack.push(key);
  };
  try {
    for (const k of desc.defaults()) reach(k);
  } catch {
    return [];
  }
  const walked = new Set<string>();
  while (stack.length > 0) {
    const a = desc.actionFor(stack.pop()!);
    // An action with several outputs is reached once per output: walked once.
    if (a === undefined || walked.has(a.id)) continue;
    walked.add(a.id);
    for (const o of a.outputs) live.add(o);
    for (const k of a.inputs) reach(k);
    for (const k of a.orderOnly) reach(k);
    for (const k of a.validations) reach(k);
    const t = db.getTrace(a.id);
    if (t !== undefined) for (const g of t.deps) for (const d of g) reach(d.key);
  }
  const dead: string[] = [];
  for (const t of db.allTraces()) {
    for (const o of t.outputs) {
      if (live.has(o)) continue;
      // An output whose rule still exists but was not reached from the defaults (a target only
      // built on request) is not dead.
      const a = desc.actionFor(o);
      if (a !== undefined && a.id === t.action) continue;
      dead.push(o);
    }
  }
  return [...new Set(dead)].sort();
}

/** Removes dead (or, with `all`, every recorded) output and forgets its records. */
export function cleanOutputs(desc: BuildDescription, db: Database, all: boolean): string[] {
  const victims = new Set(all ? [...db.allTraces()].flatMap((t) => t.outputs) : deadOutputs(desc, db));
  const removed: string[] = [];
  for (const t of [...db.allTraces()]) {
    if (!t.outputs.some((o) => victims.has(o))) continue;
    for (const o of t.outputs) {
      const abs = path.resolve(desc.root, o);
      try {
        if (fs.lstatSync(abs).isFile() || fs.lstatSync(abs).isSymbolicLink()) {
          fs.rmSync(abs, { force: true });
          removed.push(o);
        }
      } catch {
        // already gone
      }
      db.deleteFile(o);
    }
    db.deleteTrace(t.action);
  }
  return removed.sort();
}
