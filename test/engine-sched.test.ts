// The engine's scheduling without a process: an in-memory build description and a fake host
// that plays the command runner (as Ninja tests its Builder over a FakeCommandRunner). What is
// checked is what -j, pools and suspension promise: how many actions run at once, in which order,
// and that chains of needs deeper than -j finish.
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { suite, tmp } from './helpers.ts';
import { Engine } from '../src/engine.ts';
import { Database } from '../src/database.ts';
import type { Action, BuildDescription, BuildEvent, EngineHost } from '../src/engine-types.ts';
import type { WorkItem } from '../src/messages.ts';

const test = suite('engine-sched');

interface Spec {
  /** Keys needed before it runs. */
  inputs?: string[];
  /** Keys it needs while running (a Bfile rule's `need`), before it finishes. */
  needs?: string[];
  pool?: string;
  /** Its command fails. */
  fail?: boolean;
  /** The action cache has its result: `lookup` answers and nothing is submitted. */
  hit?: boolean;
}

/** Actions that answer a non-file key each (no files, no database entries beyond traces). */
function description(specs: Record<string, Spec>, pools: Record<string, number> = {}): BuildDescription {
  const actions = new Map<string, Action>();
  for (const [name, s] of Object.entries(specs)) {
    actions.set(name, {
      id: name, outputs: [], answers: name, fingerprint: 1, inputs: s.inputs ?? [], orderOnly: [], validations: [],
      pool: s.pool ?? '', phony: false, always: false, generator: false, description: name,
      work: () => ({ k: 'echo', d: name }),
      complete: () => Promise.resolve({ outputs: new Map(), discovered: [], value: `v-${name}`, output: '', extra: '' }),
      ...(s.hit ? { lookup: () => Promise.resolve({ outputs: new Map(), discovered: [], value: `v-${name}`, output: '', extra: '', cache: 'local' as const }) } : {}),
    });
  }
  return { root: '/nonexistent', actionFor: (k) => actions.get(k), defaults: () => [], pools: new Map(Object.entries(pools)), show: (k) => k };
}

/** A fake command runner: each action "runs" for `ms`, logging starts and ends. */
class FakeRunner implements EngineHost {
  engine: Engine | undefined;
  running = 0;
  most = 0;
  readonly byPool = new Map<string, { running: number; most: number }>();
  readonly log: string[] = [];
  private nextTask = 1;
  private readonly specs: Record<string, Spec>;
  private readonly ms: number;

  constructor(specs: Record<string, Spec>, ms = 2) {
    this.specs = specs;
    this.ms = ms;
  }

  async submit(item: WorkItem, task: (id: number) => void): ReturnType<EngineHost['submit']> {
    const name = item.k === 'echo' ? String(item.d) : item.k;
    const id = this.nextTask++;
    task(id);
    const pool = this.specs[name]?.pool ?? '';
    const p = this.byPool.get(pool) ?? { running: 0, most: 0 };
    this.byPool.set(pool, p);
    const enter = (): void => {
      this.running++;
      p.running++;
      this.most = Math.max(this.most, this.running);
      p.most = Math.max(p.most, p.running);
    };
    const leave = (): void => {
      this.running--;
      p.running--;
    };
    enter();
    this.log.push(`start ${name}`);
    // ms 0: a turn of the microtask queue, not a timer (a timer is at least 1 ms).
    await (this.ms > 0 ? new Promise((r) => setTimeout(r, this.ms)) : Promise.resolve());
    const needs = this.specs[name]?.needs ?? [];
    if (needs.length > 0) {
      // Suspended while its needs are built: it runs nowhere and holds no -j token.
      leave();
      await this.engine!.ruleNeed(this.engine!.actionOfTask(id)!, needs);
      enter();
    }
    this.log.push(`end ${name}`);
    leave();
    if (this.specs[name]?.fail) return { ok: false, failure: { code: 'exit-non-zero', message: `${name} failed` } };
    return { ok: true, payload: Buffer.alloc(0), worker: 'local/w1' };
  }

  /** Finish events, with where a cache hit came from: `key` or `key (local)`. */
  readonly finished: string[] = [];

  event(ev: BuildEvent): void {
    if (ev.event === 'finish') this.finished.push(`${ev.key}${ev.cache ? ` (${ev.cache})` : ''}`);
  }

  fetch(): Promise<void> {
    return Promise.reject(new Error('no nodes here'));
  }
}

function engine(specs: Record<string, Spec>, jobs: number, pools: Record<string, number> = {}, ms = 2, keepGoing = 1): { e: Engine; host: FakeRunner } {
  const host = new FakeRunner(specs, ms);
  const { db } = Database.open(path.join(tmp('b-sched-'), 'db'), 'test');
  const e = new Engine(description(specs, pools), db, host, { jobs, keepGoing, dryRun: false, explain: false });
  host.engine = e;
  return { e, host };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${what}: not done after ${ms} ms (deadlock?)`)), ms))]);
}

test('-j N: exactly N actions run at once, and all of them run', async () => {
  const specs: Record<string, Spec> = { all: { inputs: [] } };
  for (let i = 0; i < 40; i++) specs[`x${i}`] = {};
  specs.all!.inputs = Object.keys(specs).filter((k) => k !== 'all');
  for (const j of [1, 3, 8]) {
    const { e, host } = engine(specs, j);
    const r = await within(e.build(['all']), 10_000, `-j ${j}`);
    assert.ok(r.ok, JSON.stringify(r.errors));
    assert.is(r.ran, 41);
    assert.is(host.most, j, `-j ${j}: ${host.most} at once`);
  }
});

test('pools bound their own actions inside -j', async () => {
  const specs: Record<string, Spec> = { all: {} };
  for (let i = 0; i < 12; i++) specs[`p${i}`] = { pool: 'link' };
  for (let i = 0; i < 12; i++) specs[`c${i}`] = {};
  specs.all!.inputs = Object.keys(specs).filter((k) => k !== 'all');
  const { e, host } = engine(specs, 4, { link: 1 });
  const r = await within(e.build(['all']), 10_000, 'pools');
  assert.ok(r.ok);
  assert.is(host.byPool.get('link')?.most, 1);
  assert.is(host.most, 4);
});

test('a rule waiting on needs gives back its token: a chain of needs 12 deep finishes at -j 2', async () => {
  const specs: Record<string, Spec> = {};
  for (let i = 0; i < 12; i++) specs[`c${i}`] = { needs: [`c${i + 1}`] };
  specs.c12 = {};
  const { e } = engine(specs, 2);
  const r = await within(e.build(['c0']), 10_000, 'chain');
  assert.ok(r.ok, JSON.stringify(r.errors));
  assert.is(r.ran, 13);
});

test('newest first: what a suspended rule needs runs before its siblings start (depth first)', async () => {
  const specs: Record<string, Spec> = { all: { inputs: [] } };
  for (let i = 1; i <= 8; i++) {
    specs[`a${i}`] = { needs: [`b${i}`] };
    specs[`b${i}`] = {};
  }
  specs.all!.inputs = Array.from({ length: 8 }, (_, i) => `a${i + 1}`);
  const { e, host } = engine(specs, 1);
  const r = await within(e.build(['all']), 10_000, 'depth first');
  assert.ok(r.ok);
  let open = 0;
  let most = 0;
  for (const l of host.log) {
    if (!/ a\d/.test(l)) continue;
    open += l.startsWith('start') ? 1 : -1;
    most = Math.max(most, open);
  }
  // Oldest first, all eight a_i would start (and wait) before any b_i ran.
  assert.ok(most <= 2, `${most} of the a_i were started and waiting at once:\n${host.log.join('\n')}`);
});

test('-j 0 (no token limit): every ready action starts at once', async () => {
  const specs: Record<string, Spec> = { all: {} };
  for (let i = 0; i < 30; i++) specs[`x${i}`] = {};
  specs.all!.inputs = Object.keys(specs).filter((k) => k !== 'all');
  const { e, host } = engine(specs, 0, {}, 20);
  const r = await within(e.build(['all']), 10_000, '-j 0');
  assert.ok(r.ok);
  assert.is(host.most, 30);
});

// The ready queue (engine-plan.ts): each action starts once, after every producer of its inputs.
test('ready queue: a diamond runs each action once, every producer before its dependents', async () => {
  const specs: Record<string, Spec> = { top: { inputs: ['l', 'r', 'd'] }, l: { inputs: ['d'] }, r: { inputs: ['d'] }, d: {} };
  const { e, host } = engine(specs, 4);
  const r = await within(e.build(['top']), 10_000, 'diamond');
  assert.ok(r.ok, JSON.stringify(r.errors));
  assert.is(r.ran, 4);
  const starts = host.log.filter((l) => l.startsWith('start')).map((l) => l.slice(6));
  assert.equal(starts.sort(), ['d', 'l', 'r', 'top'], 'each submitted exactly once');
  const at = (l: string): number => host.log.indexOf(l);
  for (const [dep, of] of [['d', 'l'], ['d', 'r'], ['l', 'top'], ['r', 'top'], ['d', 'top']] as const) {
    assert.ok(at(`end ${dep}`) < at(`start ${of}`), `${dep} ended before ${of} started:\n${host.log.join('\n')}`);
  }
  // Run again with the same database: every trace verifies, nothing runs.
  const again = new Engine(description(specs), e.db, host, { jobs: 4, keepGoing: 1, dryRun: false, explain: false });
  const r2 = await within(again.build(['top']), 10_000, 'diamond again');
  assert.is(r2.ran, 0);
});

test('ready queue: a chain 20,000 long finishes (no recursion per link)', async () => {
  const specs: Record<string, Spec> = {};
  for (let i = 0; i < 20_000; i++) specs[`c${i}`] = i < 19_999 ? { inputs: [`c${i + 1}`] } : {};
  const { e, host } = engine(specs, 2, {}, 0);
  const r = await within(e.build(['c0']), 60_000, 'long chain');
  assert.ok(r.ok, JSON.stringify(r.errors));
  assert.is(r.ran, 20_000);
  assert.is(host.log[0], 'start c19999', 'the leaf first');
});

test('ready queue: a failed producer starts none of its dependents; with -k 0 the independent work still runs', async () => {
  const specs: Record<string, Spec> = { all: { inputs: ['mid', 'other'] }, mid: { inputs: ['bad'] }, bad: { fail: true }, other: { inputs: ['leaf'] }, leaf: {} };
  const { e, host } = engine(specs, 1, {}, 2, 0);
  const r = await within(e.build(['all']), 10_000, 'failure');
  assert.not.ok(r.ok);
  const started = host.log.filter((l) => l.startsWith('start')).map((l) => l.slice(6)).sort();
  assert.equal(started, ['bad', 'leaf', 'other'], 'mid and all never submitted');
  assert.ok(r.errors.some((x) => x.message.includes('bad failed')), JSON.stringify(r.errors));
});

test('a loop of static inputs fails at once with its chain', async () => {
  const specs: Record<string, Spec> = { a: { inputs: ['b'] }, b: { inputs: ['c'] }, c: { inputs: ['a'] } };
  const { e, host } = engine(specs, 2);
  const r = await within(e.build(['a']), 5_000, 'static loop');
  assert.not.ok(r.ok);
  assert.equal(host.log, [], 'nothing submitted');
  const msg = r.errors.map((x) => x.message).join('\n');
  assert.match(msg, /cycle|depends on itself/i);
  for (const k of ['a', 'b', 'c']) assert.ok(msg.includes(k), msg);
});

test('cache hits take no -j token: at -j 1 they finish while a command holds the only one', async () => {
  const specs: Record<string, Spec> = { all: { inputs: ['slow'] }, slow: {} };
  for (let i = 0; i < 6; i++) specs[`h${i}`] = { hit: true };
  specs.all!.inputs!.push(...Array.from({ length: 6 }, (_, i) => `h${i}`));
  const { e, host } = engine(specs, 1, {}, 200);
  const finished = host.finished;
  const r = await within(e.build(['all']), 10_000, 'hits');
  assert.ok(r.ok, JSON.stringify(r.errors));
  assert.equal(host.log.filter((l) => l.startsWith('start')), ['start slow', 'start all'], 'hits are not submitted');
  const slowAt = finished.indexOf('slow');
  assert.is(finished.slice(0, slowAt).filter((f) => f.endsWith('(local)')).length, 6, `every hit finished before the 200 ms command: ${finished.join(', ')}`);
});

// Per-edge cost: every promise hop between a command's answer and the next command's start is
// a microtask turn and a promise or two, paid per edge: 8 here before the run path was made
// synchronous where a step can complete at once, 4 with it.
test('a ready action is submitted within a few microtask turns of its producer\'s answer', async () => {
  const specs: Record<string, Spec> = { b: { inputs: ['a'] }, a: {} };
  // A start order that grants every turn at once: what is counted is the engine's own hops.
  const desc: BuildDescription = { ...description(specs), startOrder: () => ({ acquire: () => Promise.resolve(), release: () => {} }) };
  let ticks = 0;
  let ticking = false;
  const tick = (): void => {
    ticks++;
    if (ticking && ticks < 1000) queueMicrotask(tick);
  };
  let answerA: (() => void) | undefined;
  let hops: number | undefined;
  const ok = { ok: true as const, payload: Buffer.alloc(0), worker: 'local/w1' };
  let task = 1;
  const host: EngineHost = {
    submit: (item, onTask) => {
      onTask(task++);
      if (item.k === 'echo' && item.d === 'a') {
        return new Promise((resolve) => {
          answerA = () => {
            ticking = true;
            queueMicrotask(tick);
            resolve(ok);
          };
        });
      }
      hops = ticks;
      ticking = false;
      return Promise.resolve(ok);
    },
    event: () => {},
    fetch: () => Promise.reject(new Error('no nodes here')),
  };
  const { db } = Database.open(path.join(tmp('b-sched-'), 'db'), 'test');
  const e = new Engine(desc, db, host, { jobs: 2, keepGoing: 1, dryRun: false, explain: false });
  const built = within(e.build(['b']), 5_000, 'hops');
  while (answerA === undefined) await new Promise((r) => setTimeout(r, 1));
  answerA();
  const r = await built;
  assert.ok(r.ok, JSON.stringify(r.errors));
  assert.is(r.ran, 2);
  assert.ok(hops !== undefined && hops <= 5, `b was submitted ${hops} microtask turns after a's answer`);
});

test.run();
