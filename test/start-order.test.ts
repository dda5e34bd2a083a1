// Ninja 1.13's start order (src/start-order.ts) over in-memory graphs: critical-path weights as
// ninja's ComputeCriticalPath gives them, the queue's choice among ready edges (weight, then
// manifest order), pools that admit by the same priority, -j, and the dry run's one-finish-per-
// turn; then the engine driven with that order and a fake command runner (no process).
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { suite, tmp } from './helpers.ts';
import { criticalPathWeights, StartQueue, type EdgeGraph, type Rank, type Tokens } from '../src/start-order.ts';
import { Engine } from '../src/engine.ts';
import { Database } from '../src/database.ts';
import type { Action, BuildDescription, EngineHost } from '../src/engine-types.ts';
import type { WorkItem } from '../src/messages.ts';

const test = suite('start-order');

interface E {
  id: number;
  out: string;
  ins: string[];
  phony?: boolean;
  validations?: string[];
  pool?: string;
}

/** A graph of edges, each making the key `out`, in manifest order. */
function graph(edges: Omit<E, 'id'>[]): { g: EdgeGraph<E>; byOut: Map<string, E> } {
  const byOut = new Map<string, E>();
  edges.forEach((e, id) => byOut.set(e.out, { ...e, id }));
  return {
    byOut,
    g: { producer: (k) => byOut.get(k), inputs: (e) => e.ins, validations: (e) => e.validations ?? [], phony: (e) => e.phony === true },
  };
}

const weightsOf = (edges: Omit<E, 'id'>[], targets: string[]): Record<string, number> => {
  const { g } = graph(edges);
  return Object.fromEntries([...criticalPathWeights(g, targets)].map(([e, w]) => [e.out, w]));
};

test('critical path: the non-phony edges between an edge and a target, the longest way', () => {
  const w = weightsOf([
    { out: 'a1', ins: ['src'] }, { out: 'a2', ins: ['a1'] }, { out: 'a3', ins: ['a2'] },
    { out: 'b1', ins: [] }, { out: 'c1', ins: [] }, { out: 'c2', ins: ['c1', 'a1'] },
    { out: 'all', ins: ['a3', 'b1', 'c2'], phony: true },
    { out: 'unreached', ins: ['a1'] },
  ], ['all']);
  // a1 feeds a3 through a2 (3 edges) and c2 (2): the longer way counts. The phony weighs 0.
  assert.equal(w, { all: 0, a3: 1, a2: 2, a1: 3, b1: 1, c2: 1, c1: 2 });
});

test('critical path: order-only inputs and validations count as ninja counts them', () => {
  const w = weightsOf([
    { out: 'gen', ins: [] }, { out: 'obj', ins: ['src', 'gen'] }, { out: 'app', ins: ['obj'], validations: ['check'] },
    { out: 'tool', ins: [] }, { out: 'check', ins: ['tool'] },
  ], ['app']);
  assert.equal(w, { app: 1, obj: 2, gen: 3, check: 1, tool: 2 });
});

test('critical path: a 100,000-edge chain (no recursion to overflow)', () => {
  const edges: Omit<E, 'id'>[] = [];
  for (let i = 0; i < 100_000; i++) edges.push({ out: `e${i}`, ins: i > 0 ? [`e${i - 1}`] : [] });
  const w = weightsOf(edges, ['e99999']);
  assert.is(w.e0, 100_000);
  assert.is(w.e99999, 1);
});

/** A queue whose deferred turns the test runs by hand. */
function queue(jobs: number, pools: Record<string, number>, ranks: Record<string, Rank>, tokens?: Tokens<unknown>): { q: StartQueue<string>; turn: () => void; pending: () => number } {
  const turns: (() => void)[] = [];
  const q = new StartQueue<string>(jobs, new Map(Object.entries(pools)), (t) => ranks[t]!, { defer: (f) => turns.push(f), ...(tokens !== undefined ? { tokens } : {}) });
  return { q, turn: () => turns.shift()?.(), pending: () => turns.length };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

test('the queue starts nothing until the turn ends, then the heaviest first, then manifest order', async () => {
  const ranks: Record<string, Rank> = { x: { weight: 1, id: 0, pool: '' }, y: { weight: 3, id: 5, pool: '' }, z: { weight: 3, id: 2, pool: '' }, w: { weight: -1, id: 1, pool: '' } };
  const { q, turn } = queue(2, {}, ranks);
  const started: string[] = [];
  for (const t of ['x', 'y', 'z', 'w']) void q.acquire(t).then(() => started.push(t));
  await flush();
  assert.equal(started, [], 'nothing before the turn');
  turn();
  await flush();
  assert.equal(started, ['z', 'y'], '-j2: the two heaviest, the earlier declared first');
  q.release('z');
  turn();
  await flush();
  assert.equal(started, ['z', 'y', 'x']);
  q.release('y');
  turn();
  await flush();
  assert.equal(started, ['z', 'y', 'x', 'w'], 'unreached edges (-1) last');
});

test('a freed token goes to the best edge made ready before the turn ends, not the first to ask', async () => {
  const ranks: Record<string, Rank> = { a: { weight: 1, id: 0, pool: '' }, low: { weight: 1, id: 9, pool: '' }, high: { weight: 4, id: 8, pool: '' } };
  const { q, turn } = queue(1, {}, ranks);
  const started: string[] = [];
  void q.acquire('a').then(() => started.push('a'));
  turn();
  await flush();
  q.release('a');
  void q.acquire('low').then(() => started.push('low'));
  void q.acquire('high').then(() => started.push('high'));
  turn();
  await flush();
  assert.equal(started, ['a', 'high']);
});

test('pools: ready edges are admitted by priority at the start, and hold their slot while they wait for -j', async () => {
  const ranks: Record<string, Rank> = {
    p1: { weight: 1, id: 1, pool: 'link' }, p2: { weight: 2, id: 2, pool: 'link' }, p3: { weight: 1, id: 0, pool: 'link' }, c: { weight: 5, id: 3, pool: '' },
  };
  const { q, turn } = queue(1, { link: 2 }, ranks);
  const started: string[] = [];
  for (const t of ['p1', 'p2', 'p3', 'c']) void q.acquire(t).then(() => started.push(t));
  turn();
  await flush();
  assert.equal(started, ['c']);
  q.release('c');
  turn();
  await flush();
  // p2 and p3 took the pool's two slots at the start (p2 heavier, p3 declared before p1).
  assert.equal(started, ['c', 'p2']);
  q.release('p2');
  turn();
  await flush();
  assert.equal(started, ['c', 'p2', 'p3']);
  q.release('p3');
  turn();
  await flush();
  assert.equal(started, ['c', 'p2', 'p3', 'p1']);
});

test('a dry run: every ready edge starts, then they finish one per turn, oldest first', async () => {
  const ranks: Record<string, Rank> = { a: { weight: 2, id: 0, pool: '' }, b: { weight: 1, id: 1, pool: '' } };
  const { q, turn, pending } = queue(0, {}, ranks);
  const log: string[] = [];
  const run = async (t: string): Promise<void> => {
    await q.acquire(t);
    log.push(`start ${t}`);
    await q.dryFinish();
    log.push(`finish ${t}`);
    q.release(t);
  };
  const all = Promise.all([run('b'), run('a')]);
  while (pending() > 0) {
    turn();
    await flush();
  }
  await all;
  assert.equal(log, ['start a', 'start b', 'finish a', 'finish b']);
});

test('a jobserver: each start takes a slot (none free: wait for a release), each release gives it back', async () => {
  const ranks: Record<string, Rank> = { a: { weight: 3, id: 0, pool: '' }, b: { weight: 2, id: 1, pool: '' }, c: { weight: 1, id: 2, pool: '' } };
  let free = 2;
  const taken: number[] = [];
  const tokens: Tokens<unknown> = {
    tryAcquire: () => (free > 0 ? free-- : undefined),
    release: (s) => {
      taken.push(s as number);
      free++;
    },
  };
  const { q, turn } = queue(0, {}, ranks, tokens);
  const started: string[] = [];
  for (const t of ['c', 'b', 'a']) void q.acquire(t).then(() => started.push(t));
  turn();
  await flush();
  assert.equal(started, ['a', 'b'], 'two slots, -j unbounded');
  q.release('a');
  assert.equal(taken, [2], "a's slot went back");
  turn();
  await flush();
  assert.equal(started, ['a', 'b', 'c']);
});

// ---------------------------------------------------------------------------------------------
// The engine with the order: which command starts when (a fake runner, no process)

/** Actions answering non-file keys, with ninja's order over the same graph. */
function description(edges: Omit<E, 'id'>[], jobs: number): BuildDescription {
  const { g, byOut } = graph(edges);
  const actions = new Map<string, Action>();
  const edgeOf = new Map<Action, E>();
  for (const e of byOut.values()) {
    const a: Action = {
      id: e.out, outputs: [], answers: e.out, fingerprint: 1, inputs: e.ins, orderOnly: [], validations: [], pool: e.pool ?? '',
      phony: false, always: false, generator: false, description: e.out,
      work: () => ({ k: 'echo', d: e.out }),
      complete: () => Promise.resolve({ outputs: new Map(), discovered: [], value: `v-${e.out}`, output: '', extra: '' }),
    };
    actions.set(e.out, a);
    edgeOf.set(a, e);
  }
  return {
    root: '/nonexistent', actionFor: (k) => actions.get(k), defaults: () => [], pools: new Map(), show: (k) => k,
    startOrder: (targets) => {
      const w = criticalPathWeights(g, targets);
      return new StartQueue<Action>(jobs, new Map(), (a) => ({ weight: w.get(edgeOf.get(a)!) ?? -1, id: edgeOf.get(a)!.id, pool: a.pool }));
    },
  };
}

class Runner implements EngineHost {
  readonly log: string[] = [];
  async submit(item: WorkItem, task: (id: number) => void): ReturnType<EngineHost['submit']> {
    const name = item.k === 'echo' ? String(item.d) : item.k;
    task(this.log.length);
    this.log.push(name);
    await new Promise((r) => setTimeout(r, 2));
    return { ok: true, payload: Buffer.alloc(0), worker: 'local/w1' };
  }
  event(): void {}
  fetch(): Promise<void> {
    return Promise.reject(new Error('no nodes here'));
  }
}

test('the engine with ninja\'s order: -j1 starts the longest chain first, as ninja 1.13.2 does', async () => {
  // The manifest of a cross-check in ninja-fidelity-run.test.ts (with `all` a command, not a
  // phony): ninja 1.13.2 runs a1 a2 c1 a3 b1 c2 d1 at -j1; newest-first tokens gave b1 d1 a1 c1 ...
  const edges = [
    { out: 'a1', ins: [] }, { out: 'a2', ins: ['a1'] }, { out: 'a3', ins: ['a2'] }, { out: 'b1', ins: [] },
    { out: 'c1', ins: [] }, { out: 'c2', ins: ['c1'] }, { out: 'd1', ins: [] }, { out: 'all', ins: ['a3', 'b1', 'c2', 'd1'] },
  ];
  const host = new Runner();
  const { db } = Database.open(path.join(tmp('b-order-'), 'db'), 'test');
  const e = new Engine(description(edges, 1), db, host, { jobs: 1, keepGoing: 1, dryRun: false, explain: false });
  const r = await e.build(['all']);
  assert.ok(r.ok, JSON.stringify(r.errors));
  assert.equal(host.log, ['a1', 'a2', 'c1', 'a3', 'b1', 'c2', 'd1', 'all']);
});

test.run();
