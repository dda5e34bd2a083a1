// How the engine waits on an action's static inputs, without a process: an in-memory
// description and a fake host. What is checked: inputs answered in their order with their
// producers' answers (order-only ones built first, not recorded), a failed input failing its
// dependents only, a loop through static inputs reported as a cycle (not a hang). Written for a
// reshaped wait (one promise per waiting action) that was measured and not kept: the behaviour
// any such change must keep.
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { suite, tmp } from './helpers.ts';
import { Engine } from '../src/engine.ts';
import { Database } from '../src/database.ts';
import { digest } from '../src/hash.ts';
import type { Action, BuildDescription, EngineHost } from '../src/engine-types.ts';
import type { WorkItem } from '../src/messages.ts';

const test = suite('engine-inputs');

interface Spec {
  inputs?: string[];
  orderOnly?: string[];
  fails?: boolean;
}

function description(specs: Record<string, Spec>): BuildDescription {
  const actions = new Map<string, Action>();
  for (const [name, s] of Object.entries(specs)) {
    actions.set(name, {
      id: name, outputs: [], answers: name, fingerprint: 1, inputs: s.inputs ?? [], orderOnly: s.orderOnly ?? [], validations: [],
      pool: '', phony: false, always: false, generator: false, description: name,
      work: () => ({ k: 'echo', d: name }),
      complete: () => Promise.resolve(s.fails === true
        ? { code: 'failed', message: `${name} failed` }
        : { outputs: new Map(), discovered: [], value: `v-${name}`, output: '', extra: '' }),
    });
  }
  return { root: '/nonexistent', actionFor: (k) => actions.get(k), defaults: () => [], pools: new Map(), show: (k) => k };
}

/** Runs each action after `ms`, logging the order of starts; `onStart` sees the engine mid-build. */
class FakeHost implements EngineHost {
  readonly started: string[] = [];
  onStart: ((name: string) => void) | undefined;
  private next = 1;
  async submit(item: WorkItem, task: (id: number) => void): ReturnType<EngineHost['submit']> {
    const name = item.k === 'echo' ? String(item.d) : item.k;
    task(this.next++);
    this.started.push(name);
    this.onStart?.(name);
    await new Promise((r) => setTimeout(r, 2));
    return { ok: true, payload: Buffer.alloc(0), worker: 'local/w1' };
  }
  event(): void {}
  fetch(): Promise<void> {
    return Promise.reject(new Error('no nodes here'));
  }
}

function engine(specs: Record<string, Spec>, keepGoing = 1): { e: Engine; host: FakeHost; db: Database } {
  const host = new FakeHost();
  const { db } = Database.open(path.join(tmp('b-inputs-'), 'db'), 'test');
  const e = new Engine(description(specs), db, host, { jobs: 2, keepGoing, dryRun: false, explain: false });
  return { e, host, db };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${what}: not done after ${ms} ms (deadlock?)`)), ms))]);
}

test('inputs are answered in their order by their producers; order-only ones run first and are not recorded', async () => {
  // A diamond with a shared input, and an order-only stamp.
  const specs: Record<string, Spec> = {
    top: { inputs: ['l', 'r', 'base'], orderOnly: ['stamp'] },
    l: { inputs: ['base'] }, r: { inputs: ['base'] }, base: {}, stamp: {},
  };
  const { e, host, db } = engine(specs);
  const res = await within(e.build(['top']), 10_000, 'diamond');
  assert.ok(res.ok, JSON.stringify(res.errors));
  assert.is(res.ran, 5);
  assert.is(host.started.at(-1), 'top');
  assert.ok(host.started.indexOf('base') < host.started.indexOf('l') && host.started.indexOf('base') < host.started.indexOf('r'));
  const deps = db.getTrace('top')?.deps[0];
  assert.equal(deps, ['l', 'r', 'base'].map((k) => ({ key: k, hash: digest(`v-${k}`) })));
});

test('an input known before the dependent starts is taken as it is (a second build of the same keys)', async () => {
  const specs: Record<string, Spec> = { a: { inputs: ['b'] }, b: {}, c: { inputs: ['b'] } };
  const { e, db } = engine(specs);
  assert.ok((await within(e.build(['a']), 10_000, 'first')).ok);
  // `b` finished in the build above; `c` asks for it afterwards in the same engine.
  const res = await within(e.build(['c']), 10_000, 'second');
  assert.ok(res.ok, JSON.stringify(res.errors));
  assert.equal(db.getTrace('c')?.deps[0], [{ key: 'b', hash: digest('v-b') }]);
});

test('a failed input fails its dependents, and with -k 0 independent work still runs', async () => {
  const specs: Record<string, Spec> = { all: { inputs: ['bad', 'good'] }, bad: { fails: true }, good: {}, mid: { inputs: ['bad'] } };
  specs.all!.inputs!.push('mid');
  const { e, host } = engine(specs, 0);
  const res = await within(e.build(['all']), 10_000, 'failure');
  assert.not.ok(res.ok);
  assert.ok(host.started.includes('good'), host.started.join(' '));
  assert.not.ok(host.started.includes('mid'));
  assert.not.ok(host.started.includes('all'));
  assert.ok(res.errors.some((f) => f.message === 'bad failed'), JSON.stringify(res.errors));
});

test('a loop through static inputs is a cycle error naming the chain, not a hang', async () => {
  const specs: Record<string, Spec> = { a: { inputs: ['b'] }, b: { inputs: ['c'] }, c: { inputs: ['a'] } };
  const { e, host } = engine(specs);
  const res = await within(e.build(['a']), 10_000, 'cycle');
  assert.not.ok(res.ok);
  assert.equal(host.started, []);
  assert.ok(res.errors.some((f) => f.code === 'cycle' && /a/.test(f.message) && /b/.test(f.message) && /c/.test(f.message)), JSON.stringify(res.errors));
});

test('an action that is its own input is reported at once', async () => {
  const { e } = engine({ a: { inputs: ['a'] } });
  const res = await within(e.build(['a']), 5_000, 'self');
  assert.not.ok(res.ok);
  assert.ok(res.errors.some((f) => f.code === 'cycle'), JSON.stringify(res.errors));
});

test.run();
