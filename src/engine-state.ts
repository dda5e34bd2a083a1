// The engine's bookkeeping per action and the small parts it is built from: the state of an
// action in one build, its waits on other actions (for the stall watchdog's cycle search), and
// the token semaphore that bounds -j and pools for Bfile builds. Kept apart from engine.ts so
// the engine file holds the build's logic only.

import { loadavg } from 'node:os';
import type { Action, Answer } from './engine-types.ts';

/** One wait of an action on another's answer (runAction). */
export interface Wait {
  on: ActionState;
  key: string;
  reject: (e: unknown) => void;
}

export interface ActionState {
  action: Action;
  /**
   * Resolves (never rejects) when the action has finished; made only for those who wait on it
   * with a promise (the targets, a rule's `need`, an action whose inputs were not all gated).
   */
  promise: Promise<void> | undefined;
  resolveDone: (() => void) | undefined;
  /**
   * What this action waits for: the action, the key it asked for, and how to give up. Made on
   * the first wait, and an array, not a Map: an action waits on a few others, and a Map's
   * table is ~550 bytes (5 MB of the heap of a 9k-edge build at its start).
   */
  waits: Wait[] | undefined;
  /** Its answers, when it was settled by the synchronous fast path. */
  settled: Answers | undefined;
  /** The fast path found it dirty (or not its business): only the async path decides it. */
  unsettled: boolean;
  /** Wanted in this build: walked by the ready queue (engine.ts `demand`), or settled. */
  demanded: boolean;
  /**
   * The ready queue's counter, as ninja's Plan keeps one per edge: producers of its inputs that
   * have not finished. At 0 it starts, with every input's answer at hand (no wait per input).
   */
  pending: number;
  /** Actions whose counters wait on this one (dropped when it finishes). */
  dependents: ActionState[] | undefined;
  /** Its promise has settled (answers or failure). */
  finished: boolean;
  /** Its answers once finished well, or why it failed (a BuildError as a rejection carries it). */
  result: Answers | undefined;
  error: unknown;
  running: boolean;
  /** Dependency groups recorded while running (NEEDs from a Bfile rule). */
  groups: Answer[][];
}

/** An action's answers by key: all the engine asks of them is get(). */
export interface Answers {
  get(key: string): Answer | undefined;
}

/**
 * The answers of an action that answers one key (a Ninja edge with one output: most of them).
 * Kept for the whole build by every finished action: a Map of one entry is ~190 bytes (its
 * hash table preallocates), this is 32 (90k-statement build: ~15 MB of live heap).
 */
export class OneAnswer implements Answers {
  private readonly answer: Answer;
  constructor(answer: Answer) {
    this.answer = answer;
  }
  get(key: string): Answer | undefined {
    return key === this.answer.key ? this.answer : undefined;
  }
}

/** Answers for `list` (distinct keys), in the smallest form. */
export function answersOf(list: Answer[]): Answers {
  if (list.length === 1) return new OneAnswer(list[0]!);
  const m = new Map<string, Answer>();
  for (const a of list) m.set(a.key, a);
  return m;
}

export class Semaphore {
  private free: number;
  private readonly waiters: (() => void)[] = [];
  private readonly newestFirst: boolean;
  /**
   * `newestFirst`: a freed token goes to the latest waiter, as the broker hands a free worker the
   * newest item. For -j that is depth first: what a suspended rule just needed runs before its
   * siblings start, so a wide Bfile build does not start every rule and hold them all waiting.
   */
  constructor(n: number, newestFirst = false) {
    this.free = n;
    this.newestFirst = newestFirst;
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiters.push(r));
  }
  release(): void {
    const w = this.newestFirst ? this.waiters.pop() : this.waiters.shift();
    if (w) w();
    else this.free++;
  }
}

/**
 * A loop of waiting actions, if there is one: the stall watchdog's search (engine.ts), run
 * only when nothing moves, so its cost on a large build does not matter.
 */
export function findLoop(actions: Iterable<ActionState>): ActionState[] | undefined {
  const state = new Map<ActionState, 1 | 2>();
  const stack: ActionState[] = [];
  const visit = (a: ActionState): ActionState[] | undefined => {
    state.set(a, 1);
    stack.push(a);
    for (const { on: b } of a.waits ?? []) {
      if (b.finished) continue; // a wait that ended (not removed: see runAction)
      const s = state.get(b);
      if (s === 1) return [...stack.slice(stack.indexOf(b)), b];
      if (s === undefined) {
        const found = visit(b);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(a, 2);
    return undefined;
  };
  for (const a of actions) {
    if (!a.finished && a.waits !== undefined && a.waits.length > 0 && state.get(a) === undefined) {
      const found = visit(a);
      if (found) return found;
    }
  }
  return undefined;
}

/** The groups of an action not running (a running one gets its own array). */
export const NO_GROUPS = Object.freeze([]) as unknown as Answer[][];

/** What `execute` goes on with when the action cache answered: no worker ran anything. */
export const CACHE_HIT: { ok: true; payload: Buffer; worker: string; note?: string } = { ok: true, payload: Buffer.alloc(0), worker: 'local/cache' };

/** `local/w3` for this process's workers, else the id of the node that ran it. */
export function nodeOf(worker: string | undefined): string {
  if (worker === undefined || worker.startsWith('local/')) return 'local';
  return worker;
}

/**
 * Ninja's -l: with the 1-minute load average over the limit, wait for a running action to
 * finish and look again (ninja looks when a command ends); with none running, start anyway.
 * As ninja's CanRunMore: room for trunc(limit - load) running actions.
 */
export class LoadGate {
  /** Actions past their -j token and running. */
  private started = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly limit: number | undefined;

  constructor(limit: number | undefined) {
    this.limit = limit;
  }

  /** Undefined when the action may start now (no extra turn without -l: the start order stays). */
  enter(): Promise<void> | undefined {
    const limit = this.limit;
    if (limit === undefined || !(limit > 0)) {
      this.started++;
      return undefined;
    }
    return (async () => {
      while (this.started > 0 && this.started >= Math.trunc(limit - loadavg()[0]!)) {
        await new Promise<void>((r) => this.waiters.push(r));
      }
      this.started++; // in the same turn as the check: waiters woken together re-check one by one
    })();
  }

  leave(): void {
    this.started--;
    for (const w of this.waiters.splice(0)) w();
  }
}
