// Which ready edge of a Ninja manifest starts next, as ninja 1.13.2 decides it (build.cc's
// Plan::ComputeCriticalPath, ScheduleWork, FindWork and Pool::RetrieveReadyEdges): the ready
// edge with the heaviest critical path first (the most non-phony edges between it and a
// target), the one declared first in the manifest among equals. Pools admit an edge when it
// becomes ready (it holds its pool slot while it waits for a -j token, as in ninja), the
// delayed ones by the same priority.
//
// Edges start only after everything the last finished command made ready (or up to date) has
// been decided: ninja finishes a command, updates its plan (restat pruning included), then
// starts what it can. Here that is one deferred turn (setImmediate) after the engine's promise
// chains, which are microtasks, have settled. So the status line of the next start shows the
// total after pruning, and the choice is made among all ready edges, not the first to ask.
//
// Knows no engine and no manifest: the graph comes through EdgeGraph, the items to order
// through a rank function (unit-tested over an in-memory graph in test/start-order.test.ts).

/** What the critical path needs of a build graph. */
export interface EdgeGraph<E> {
  /** The edge that makes a key, if any. */
  producer(key: string): E | undefined;
  /** Every input of the edge (explicit, implicit, order-only), as ninja's `inputs_`. */
  inputs(e: E): readonly string[];
  /** Validations: ninja adds them to the plan as targets of their own. */
  validations(e: E): readonly string[];
  phony(e: E): boolean;
}

/**
 * ninja's ComputeCriticalPath over the edges the targets reach: each edge weighs 1 (a phony 0)
 * plus the heaviest of the edges that use its outputs. Edges the targets do not reach are absent
 * (ninja leaves them at -1, after every reached edge).
 */
export function criticalPathWeights<E>(g: EdgeGraph<E>, targets: readonly string[]): Map<E, number> {
  // Topological order, producers before users (ninja's TopoSort), iteratively: a 100k-edge
  // chain would overflow the stack of a recursive walk.
  const sorted: E[] = [];
  const seen = new Set<E>();
  const roots = [...targets];
  for (let r = 0; r < roots.length; r++) {
    const first = g.producer(roots[r]!);
    if (first === undefined || seen.has(first)) continue;
    seen.add(first);
    const stack: { e: E; next: number }[] = [{ e: first, next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const ins = g.inputs(top.e);
      if (top.next < ins.length) {
        const p = g.producer(ins[top.next++]!);
        if (p !== undefined && !seen.has(p)) {
          seen.add(p);
          stack.push({ e: p, next: 0 });
        }
        continue;
      }
      stack.pop();
      sorted.push(top.e);
      for (const v of g.validations(top.e)) roots.push(v);
    }
  }
  const weight = new Map<E, number>();
  for (const e of sorted) weight.set(e, g.phony(e) ? 0 : 1);
  for (let i = sorted.length - 1; i >= 0; i--) {
    const e = sorted[i]!;
    const w = weight.get(e)!;
    for (const k of g.inputs(e)) {
      const p = g.producer(k);
      if (p === undefined) continue;
      const candidate = w + (g.phony(p) ? 0 : 1);
      if (candidate > weight.get(p)!) weight.set(p, candidate);
    }
  }
  return weight;
}

/** An item's place in the order: heavier first, then lower id (ninja's EdgePriorityLess). */
export interface Rank {
  weight: number;
  id: number;
  /** Its pool, or '' for none. */
  pool: string;
}

const before = (a: Rank, b: Rank): boolean => a.weight !== b.weight ? a.weight > b.weight : a.id < b.id;

/** A binary heap of ranked items, best first. */
class Heap<T> {
  private readonly items: { t: T; r: Rank }[] = [];
  peek(): T | undefined {
    return this.items[0]?.t;
  }
  push(t: T, r: Rank): void {
    const a = this.items;
    a.push({ t, r });
    for (let i = a.length - 1; i > 0;) {
      const up = (i - 1) >> 1;
      if (!before(a[i]!.r, a[up]!.r)) break;
      [a[i], a[up]] = [a[up]!, a[i]!];
      i = up;
    }
  }
  pop(): { t: T; r: Rank } | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    a[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < a.length && before(a[l]!.r, a[best]!.r)) best = l;
      if (r < a.length && before(a[r]!.r, a[best]!.r)) best = r;
      if (best === i) break;
      [a[i], a[best]] = [a[best]!, a[i]!];
      i = best;
    }
    return top;
  }
}

interface PoolState {
  depth: number;
  use: number;
  delayed: Heap<Waiter>;
}

interface Waiter {
  r: Rank;
  go: () => void;
  /** What it stands for (whose jobserver slot is kept until it is released). */
  t: unknown;
}

/** Job slots from outside (a GNU make jobserver, jobserver.ts): taken before a start, given back after. */
export interface Tokens<S> {
  /** A slot now, or undefined: try again when a job ends. */
  tryAcquire(): S | undefined;
  release(slot: S): void;
}

/**
 * The -j tokens and the pools' slots, handed out in ninja's order. `jobs`: Infinity for `-j 0`.
 * `defer` runs a function after the current turn (setImmediate; tests pass their own); `tokens`:
 * a jobserver's slots, which each start needs as well (ninja's FindWork).
 */
export class StartQueue<T> {
  private readonly ready = new Heap<Waiter>();
  private readonly pools = new Map<string, PoolState>();
  private running = 0;
  private scheduled = false;
  /** Arrivals before the first start: admitted to their pools together, by priority. */
  private initial: Waiter[] | undefined = [];
  private readonly jobs: number;
  private readonly rank: (t: T) => Rank;
  private readonly defer: (f: () => void) => void;
  private readonly tokens: Tokens<unknown> | undefined;
  private readonly slots = new Map<T, unknown>();

  constructor(jobs: number, pools: ReadonlyMap<string, number>, rank: (t: T) => Rank, opts: { defer?: (f: () => void) => void; tokens?: Tokens<unknown> } = {}) {
    this.jobs = jobs > 0 ? jobs : Infinity;
    this.rank = rank;
    this.defer = opts.defer ?? setImmediate;
    this.tokens = opts.tokens;
    for (const [name, depth] of pools) if (depth > 0) this.pools.set(name, { depth, use: 0, delayed: new Heap() });
  }

  /** Resolves when `t` may start: its pool admitted it and a -j token is free. */
  acquire(t: T): Promise<void> {
    return new Promise<void>((go) => {
      const w: Waiter = { r: this.rank(t), go: () => go(), t };
      if (this.initial !== undefined) this.initial.push(w);
      else this.admit(w, true);
      this.schedule();
    });
  }

  /**
   * A dry run's "command" finishing: ninja's DryRunCommandRunner reports the started edges as
   * finished one per turn of its loop, oldest first, and starts what each made ready before
   * the next one finishes.
   */
  dryFinish(): Promise<void> {
    return new Promise<void>((done) => {
      this.finishing.push(done);
      this.schedule();
    });
  }

  private readonly finishing: (() => void)[] = [];

  /** `t` finished: its token and pool slot go to the best waiting edges, in the next turn. */
  release(t: T): void {
    this.running--;
    if (this.slots.has(t)) {
      this.tokens?.release(this.slots.get(t));
      this.slots.delete(t);
    }
    const pool = this.pools.get(this.rank(t).pool);
    if (pool !== undefined) {
      pool.use--;
      this.retrieve(pool);
    }
    this.schedule();
  }

  /** ninja's ScheduleWork: into its pool's delayed set (then out by priority) or straight to ready. */
  private admit(w: Waiter, retrieve: boolean): void {
    const pool = this.pools.get(w.r.pool);
    if (pool === undefined) return this.ready.push(w, w.r);
    pool.delayed.push(w, w.r);
    if (retrieve) this.retrieve(pool);
  }

  /** ninja's Pool::RetrieveReadyEdges. */
  private retrieve(pool: PoolState): void {
    while (pool.use < pool.depth) {
      const next = pool.delayed.pop();
      if (next === undefined) return;
      pool.use++;
      this.ready.push(next.t, next.r);
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.defer(() => this.dispatch());
  }

  private dispatch(): void {
    this.scheduled = false;
    const initial = this.initial;
    if (initial !== undefined) {
      // ninja's ScheduleInitialEdges: every ready edge delayed first, then each pool retrieves
      // its best ones (not the first in the map).
      this.initial = undefined;
      for (const w of initial) this.admit(w, false);
      for (const p of this.pools.values()) this.retrieve(p);
    }
    let started = false;
    while (this.running < this.jobs) {
      const best = this.ready.peek();
      if (best === undefined) break;
      if (this.tokens !== undefined) {
        const slot = this.tokens.tryAcquire();
        if (slot === undefined) break; // ninja looks again when a command ends
        this.slots.set(best.t as T, slot);
      }
      this.ready.pop();
      this.running++;
      best.go();
      started = true;
    }
    // The edges just started ask for their turn to finish as they run; one finishes per turn.
    if (!started) this.finishing.shift()?.();
  }
}
