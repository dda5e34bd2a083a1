// The engine's scheduling without a process: an in-memory build description and a fake host
// that plays the command runner (as Ninja tests its Builder over a FakeCommandRunner). What is
// checked is what -j, pools and suspension promise: how many actions run at once, in which order,
// and that chains of needs deeper than -j finish.
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { suite, tmp } from './helpers.ts';
import { Engine } from '../src/engine.ts';
import { Database } from '../src/database.ts';
import type { Action, BuildDescription, EngineHost } from '../src/engine-types.ts';
import type { WorkItem } from '../src/messages.ts';

const test = suite('engine-sched');

interface Spec {
  /** Keys needed before it runs. */
  inputs?: string[];
  /** Keys it needs while running (a Bfile rule's `need`), before it finishes. */
  needs?: string[];
  pool?: string;
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
    await new Promise((r) => setTimeout(r, this.ms));
    const needs = this.specs[name]?.needs ?? [];
    if (needs.length > 0) {
      // Suspended while its needs are built: it runs nowhere and holds no -j token.
      leave();
      await this.engine!.ruleNeed(this.engine!.actionOfTask(id)!, needs);
      enter();
    }
    this.log.push(`end ${name}`);
    leave();
    return { ok: true, payload: Buffer.alloc(0), worker: 'local/w1' };
  }

  event(): void {}

  fetch(): Promise<void> {
    return Promise.reject(new Error('no nodes here'));
  }
}

function engine(specs: Record<string, Spec>, jobs: number, pools: Record<string, number> = {}, ms = 2): { e: Engine; host: FakeRunner } {
  const host = new FakeRunner(specs, ms);
  const { db } = Database.open(path.join(tmp('b-sched-'), 'db'), 'test');
  const e = new Engine(description(specs, pools), db, host, { jobs, keepGoing: 1, dryRun: false, explain: false });
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

test.run();
