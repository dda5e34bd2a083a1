// The ready queue of the engine, as ninja's Plan: wanting an action walks the actions its inputs
// come from, once per build, giving each a counter of producers not yet finished and a list of
// who waits on it. An action starts when its counter reaches 0, so every input's answer is at
// hand and nothing is held per pending dependency: a promise and a closure per wait were ~3.4 KB
// an edge of the 9k-statement build's 69 MB heap at its start (heap snapshot; 36 MB with this).
//
// An input whose producer is on the walk's own path (a loop of static inputs) is not counted:
// the loop is recorded with its chain, and the action fails with it when it starts. Actions
// with a dyndep file (`prepare`) count none: their inputs are known only once it is read, so
// they wait on them by promise (engine.ts runAction), where the stall watchdog finds loops.
// Nothing starts while a walk is in progress, so every counter is complete when it is read.

import type { Action, BuildDescription, BuildError } from './engine-types.ts';
import type { ActionState } from './engine-state.ts';
import { cycleError } from './engine-trace.ts';

/** What the plan asks of the engine. */
export interface PlanHost {
  stateOf(action: Action): ActionState;
  /** Settles a not yet wanted action by the synchronous fast path; true when it is clean. */
  settledNow(st: ActionState): boolean;
  /** Runs a ready action to its end (its outcome goes to its state; engine.ts doAction). */
  start(st: ActionState): void;
  /** Wants a validation's key (ninja adds validations to its plan; their failure fails the build). */
  want(key: string): void;
}

export class ReadyPlan {
  /** Actions that close a loop of static inputs, with the error they fail with. */
  private readonly loops = new Map<ActionState, BuildError>();
  /** Walks in progress; nothing starts until they end. */
  private walking = 0;
  private draining = false;
  private readonly ready: ActionState[] = [];
  /** Actions walked whose validations are yet to be wanted. */
  private readonly validating: Action[] = [];

  private readonly desc: BuildDescription;
  private readonly host: PlanHost;

  constructor(desc: BuildDescription, host: PlanHost) {
    this.desc = desc;
    this.host = host;
  }

  /** Wants `root` and, through its static inputs, every action it needs that is not clean. */
  demand(root: ActionState): void {
    if (root.demanded) return;
    root.demanded = true;
    this.walking++;
    const onPath = new Set<ActionState>([root]);
    const stack: { st: ActionState; i: number }[] = [{ st: root, i: 0 }];
    try {
      while (stack.length > 0) {
        const f = stack[stack.length - 1]!;
        const a = f.st.action;
        const n = a.prepare !== undefined ? 0 : a.inputs.length + a.orderOnly.length;
        if (f.i < n) {
          const key = f.i < a.inputs.length ? a.inputs[f.i]! : a.orderOnly[f.i - a.inputs.length]!;
          f.i++;
          const pa = this.desc.actionFor(key);
          if (pa === undefined) continue;
          const p = this.host.stateOf(pa);
          if (p.finished || p === f.st) continue;
          if (onPath.has(p)) {
            // A loop through static inputs: it can never start, so it fails at once with the chain.
            const chain = stack.slice(stack.findIndex((x) => x.st === p)).map((x) => x.st);
            this.loops.set(f.st, cycleError(this.desc, [...chain, p], key));
            continue;
          }
          if (!p.demanded && this.host.settledNow(p)) continue;
          f.st.pending++;
          // A literal holds exactly one element, where `[]` grows to 17 slots on its first push:
          // most actions have one dependent (an object and its archive), so on a 90k-edge build
          // that is ~140 bytes an action of empty slots (209 against 69 bytes an array, measured).
          if (p.dependents === undefined) p.dependents = [f.st];
          else p.dependents.push(f.st);
          if (!p.demanded) {
            p.demanded = true;
            onPath.add(p);
            stack.push({ st: p, i: 0 });
          }
          continue;
        }
        stack.pop();
        onPath.delete(f.st);
        if (a.validations.length > 0) this.validating.push(a);
        if (f.st.pending === 0) this.ready.push(f.st);
      }
    } finally {
      this.walking--;
    }
    this.drain();
  }

  /** The loop `st` closes, if the walk found one (its inputs then never all finish). */
  loopOf(st: ActionState): BuildError | undefined {
    return this.loops.get(st);
  }

  /** `st` finished (well or not): its dependents' counters go down, and what is ready starts. */
  finished(st: ActionState): void {
    const ds = st.dependents;
    st.dependents = undefined;
    if (ds !== undefined) for (const d of ds) if (--d.pending === 0) this.ready.push(d);
    this.drain();
  }

  /** Starts what is ready, in the order it became ready (a loop, not recursion: long chains of phonies finish synchronously). */
  private drain(): void {
    if (this.draining || this.walking > 0) return;
    this.draining = true;
    try {
      for (let i = 0; i < this.ready.length || this.validating.length > 0; i++) {
        const a = this.validating.pop();
        if (a !== undefined) {
          for (const v of a.validations) this.host.want(v);
          i--;
          continue;
        }
        this.host.start(this.ready[i]!);
      }
    } finally {
      this.ready.length = 0;
      this.draining = false;
    }
  }
}
