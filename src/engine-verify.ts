// The engine's fast path of a no-op build (engine.ts): settles an action at once, without a
// promise per dependency, when its trace verifies all the way down. Anything else (a dirty or
// running action, a cycle, dyndep, validations, a very deep chain) is left to the async path.
//
// A dirty input does not stop the walk: the other inputs are still settled, so before the
// first command starts every clean action below the targets is known, and what is left is the
// dirty set and what depends on it, as ninja's plan has it (its `%t`: an edit rebuild of serd
// counted [3/12] instead of ninja's [5/5] while B found clean edges one by one). An action
// found unsettled stays so for the build (its inputs change only by running, which is the
// async path's to decide), so no dirty subgraph is walked twice.

import type { Database, Trace } from './database.ts';
import { MISSING } from './filestate.ts';
import type { ActionState, Answers } from './engine-state.ts';
import { staticDirty } from './engine-trace.ts';
import type { Action, Answer, BuildDescription } from './engine-types.ts';

/** What the fast path asks of the engine. */
export interface VerifyHost {
  readonly desc: BuildDescription;
  readonly db: Database;
  readonly dryRun: boolean;
  /** A source key's answer (computed once per build). */
  sourceSync(key: string): Answer;
  stateOf(action: Action): ActionState;
  /** The action's state if it has one yet. */
  existing(id: string): ActionState | undefined;
  /** A phony's answers from its inputs'. */
  phony(a: Action, inputs: Answer[]): Answers;
  /** Counts and reports a verified action, and gives its answers from its trace. */
  upToDate(a: Action, trace: Trace): Answers;
  /** An action was settled (progress, for the stall watchdog). */
  settled(): void;
}

export class SyncVerify {
  private readonly visiting = new Set<ActionState>();
  private depth = 0;
  private readonly host: VerifyHost;

  constructor(host: VerifyHost) {
    this.host = host;
  }

  /** A key's answer now, or undefined when the async path must decide it. */
  answer(key: string, optional: boolean): Answer | undefined {
    const action = this.host.desc.actionFor(key);
    if (action === undefined) {
      const a = this.host.sourceSync(key);
      return a.hash === MISSING && !optional ? undefined : a; // a missing input: the async path reports it
    }
    const r = this.settle(this.host.stateOf(action));
    return r === undefined ? undefined : (r.get(key) ?? { key, hash: MISSING });
  }

  /** The action's answers if it is settled now (clean all the way down), else undefined. */
  settle(st: ActionState): Answers | undefined {
    const done = st.settled;
    if (done !== undefined) return done;
    const a = st.action;
    if (st.demanded || st.unsettled === true || this.visiting.has(st) || this.depth > 500) return undefined;
    if (a.prepare !== undefined || a.validations.length > 0 || a.always) {
      st.unsettled = true;
      return undefined;
    }
    const h = this.host;
    this.visiting.add(st);
    this.depth++;
    let deep = false;
    const unsettled = (): undefined => {
      // A cycle or the depth bound is about this walk, not the action: a later walk may settle it.
      if (!deep) st.unsettled = true;
      return undefined;
    };
    try {
      const inputs: Answer[] = new Array(a.inputs.length);
      let dirty = false;
      for (let i = 0; i < a.inputs.length; i++) {
        const x = this.answer(a.inputs[i]!, false);
        if (x === undefined) {
          dirty = true;
          deep ||= this.transient(a.inputs[i]!);
        } else inputs[i] = x;
      }
      for (const k of a.orderOnly) {
        if (this.answer(k, false) === undefined) {
          dirty = true;
          deep ||= this.transient(k);
        }
      }
      if (dirty) return unsettled();
      let result: Answers;
      if (a.phony) result = h.phony(a, inputs);
      else {
        const trace = h.db.getTrace(a.id);
        if (trace === undefined || staticDirty(h.desc, h.db, a, trace, inputs) !== undefined) return unsettled();
        for (let g = 1; g < trace.deps.length; g++) {
          for (const d of trace.deps[g]!) {
            const x = this.answer(d.key, true);
            if (x === undefined || x.hash !== d.hash) {
              deep ||= x === undefined && this.transient(d.key);
              return unsettled();
            }
          }
        }
        if (!h.dryRun && a.replay?.(trace) !== undefined) return unsettled();
        result = h.upToDate(a, trace);
      }
      st.settled = result;
      st.result = result;
      st.demanded = true;
      st.finished = true;
      h.settled();
      return result;
    } finally {
      this.visiting.delete(st);
      this.depth--;
    }
  }

  /** Whether a key's action was left undecided by this walk only (a cycle in it, or the depth bound). */
  private transient(key: string): boolean {
    const action = this.host.desc.actionFor(key);
    if (action === undefined) return false;
    const st = this.host.existing(action.id);
    return st === undefined || (st.settled === undefined && !st.demanded && st.unsettled !== true);
  }
}
