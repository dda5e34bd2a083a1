// The engine's side of the action cache without a process: an action whose `lookup` answers is
// not submitted, its outputs and discovered dependencies are recorded as a run's would be (the
// next build is a no-op, an edited dependency reruns it), and its finish event says `cache`.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite, tmp } from './helpers.ts';
import { Engine } from '../src/engine.ts';
import { Database } from '../src/database.ts';
import { writtenState } from '../src/filestate.ts';
import { digestFile } from '../src/hash.ts';
import type { Action, BuildDescription, BuildEvent, Completed, EngineHost } from '../src/engine-types.ts';

const test = suite('engine-cache');

test('a cache hit runs nothing and is recorded like a run', async () => {
  const root = tmp('b-ecache-');
  fs.writeFileSync(path.join(root, 'in.txt'), 'in');
  fs.writeFileSync(path.join(root, 'dep.h'), 'one');
  let hit = true;
  const seen: string[] = [];
  const action: Action = {
    id: 'out.txt', outputs: ['out.txt'], fingerprint: 7, inputs: ['in.txt'], orderOnly: [], validations: [], pool: '',
    phony: false, always: false, generator: false, description: 'make out.txt',
    work: () => ({ k: 'echo', d: 'out.txt' }),
    complete: () => {
      fs.writeFileSync(path.join(root, 'out.txt'), 'ran');
      return Promise.resolve({ outputs: new Map([['out.txt', writtenState(path.join(root, 'out.txt'))]]), discovered: ['dep.h'], value: undefined, output: '', extra: '', cache: 'miss' });
    },
    lookup: async (inputs, answer): Promise<Completed | undefined> => {
      assert.equal(inputs.map((i) => i.key), ['in.txt']);
      const [dep] = await answer(['dep.h']);
      seen.push(dep!.hash === digestFile(path.join(root, 'dep.h')) ? 'dep answered' : 'dep wrong');
      if (!hit) return undefined;
      fs.writeFileSync(path.join(root, 'out.txt'), 'cached');
      return { outputs: new Map([['out.txt', writtenState(path.join(root, 'out.txt'))]]), discovered: ['dep.h'], value: undefined, output: 'replayed\n', extra: '', cache: 'local', cacheBytes: 6 };
    },
  };
  const desc: BuildDescription = { root, actionFor: (k) => (k === 'out.txt' ? action : undefined), defaults: () => ['out.txt'], pools: new Map(), show: (k) => k };
  const submitted: string[] = [];
  const events: BuildEvent[] = [];
  const host: EngineHost = {
    submit: (payload) => {
      submitted.push(payload.k === 'echo' ? String(payload.d) : payload.k);
      return Promise.resolve({ ok: true, payload: Buffer.alloc(0), worker: 'local/w1' });
    },
    event: (e) => events.push(e),
    fetch: () => Promise.reject(new Error('no nodes')),
  };
  const { db } = Database.open(path.join(root, '.b', 'db'), 'test');
  const opts = { keepGoing: 1, dryRun: false, explain: false };
  try {
    let s = await new Engine(desc, db, host, opts).build([]);
    assert.ok(s.ok);
    assert.equal(submitted, [], 'nothing submitted');
    assert.is(fs.readFileSync(path.join(root, 'out.txt'), 'utf8'), 'cached');
    const fin = events.find((e) => e.event === 'finish');
    assert.equal([fin?.ran, fin?.cache, fin?.cacheBytes, fin?.output, fin?.node], [true, 'local', 6, 'replayed\n', 'local']);
    assert.equal(db.getTrace('out.txt')?.deps.map((g) => g.map((d) => d.key)), [['in.txt'], ['dep.h']], 'inputs and discovered deps recorded');
    // Recorded as if it had run: the next build does nothing and asks no cache.
    seen.length = 0;
    s = await new Engine(desc, db, host, opts).build([]);
    assert.is(s.ran, 0);
    assert.equal(seen, []);
    // An edited discovered dependency reruns it; a miss is submitted.
    fs.writeFileSync(path.join(root, 'dep.h'), 'two');
    hit = false;
    events.length = 0;
    s = await new Engine(desc, db, host, opts).build([]);
    assert.is(s.ran, 1);
    assert.equal(seen, ['dep answered']);
    assert.equal(submitted, ['out.txt']);
    assert.is(events.find((e) => e.event === 'finish')?.cache, 'miss');
  } finally {
    db.close();
  }
});

test.run();
