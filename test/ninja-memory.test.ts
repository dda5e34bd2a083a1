// What each edge's action holds for the whole of a large build (ninja-action.ts, ninja-build.ts):
// the 90k-statement Chromium-style build keeps ~90k actions alive, so lists an action does not
// change are the edge's own or shared between edges, not copies.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite, tmp } from './helpers.ts';
import { loadNinja } from '../src/ninja-build.ts';
import { EdgeAction } from '../src/ninja-action.ts';

const test = suite('ninja-memory');

const MANIFEST = [
  'rule cc',
  '  command = cc -c $in -o $out',
  'rule gen',
  '  command = gen $out',
  'rule dd',
  '  command = cc -c $in -o $out',
  '  dyndep = x.dd',
  'build g.h: gen',
  'build s.stamp: gen',
  'build a.o: cc a.c | cc || g.h s.stamp',
  'build b.o: cc b.c | cc || g.h s.stamp',
  'build c.o: cc c.c || s.stamp',
  'build x.dd: gen',
  'build d.o: cc d.c',
  'build y.o: dd y.c || x.dd',
  '',
].join('\n');

function load(): ReturnType<typeof loadNinja> {
  const dir = tmp();
  const file = path.join(dir, 'build.ninja');
  fs.writeFileSync(file, MANIFEST);
  return loadNinja(file, dir);
}

function action(d: ReturnType<typeof loadNinja>, out: string): EdgeAction {
  const a = d.actionFor(out);
  assert.ok(a instanceof EdgeAction, out);
  return a;
}

test('equal order-only lists are one shared, frozen array', () => {
  const d = load();
  const a = action(d, 'a.o');
  const b = action(d, 'b.o');
  assert.equal(a.orderOnly, ['g.h', 's.stamp']);
  assert.ok(a.orderOnly === b.orderOnly, 'a.o and b.o share their order-only list');
  assert.ok(Object.isFrozen(a.orderOnly));
  assert.equal(action(d, 'c.o').orderOnly, ['s.stamp']);
  assert.ok(action(d, 'c.o').orderOnly !== a.orderOnly);
  assert.equal(action(d, 'd.o').orderOnly, []);
  // The other inputs are still the edge's explicit and implicit ones.
  assert.equal(a.inputs, ['a.c', 'cc']);
  assert.equal(b.inputs, ['b.c', 'cc']);
}, { timeout: 10_000 });

test('an action without dyndep reads the edge\'s lists, one with dyndep has its own', () => {
  const d = load();
  const plain = action(d, 'd.o');
  assert.ok(plain.outputs === plain.edge.outs, 'outputs are the edge\'s array');
  assert.ok(plain.inputs === plain.edge.ins, 'inputs (no order-only) are the edge\'s array');
  assert.is(plain.pool, '');
  assert.is(plain.phony, false);
  assert.is(plain.always, false);
  // A dyndep file may add inputs and outputs to the action: those must not reach the edge.
  const dy = action(d, 'y.o');
  assert.ok(dy.outputs !== dy.edge.outs);
  assert.ok(dy.inputs !== dy.edge.ins);
  assert.equal(dy.outputs, ['y.o']);
  assert.equal(dy.inputs, ['y.c']);
  // One action per edge, asked for again.
  assert.ok(d.actionFor('d.o') === plain);
}, { timeout: 10_000 });

test('an action has no fields for the cache, dyndep or remote execution it does not use', () => {
  const d = load();
  const plain = action(d, 'd.o');
  // Not own properties set to undefined: absent (8 bytes each on every one of ~90k actions).
  for (const f of ['lookup', 'prepare', 'hooks', 'sentRoots', 'sentLink']) assert.not.ok(Object.hasOwn(plain, f), f);
  assert.is(plain.lookup, undefined);
  assert.is(plain.prepare, undefined);
  // The dyndep edge's action has its prepare step.
  const dy = action(d, 'y.o');
  assert.ok(Object.hasOwn(dy, 'prepare'));
  assert.type(dy.prepare, 'function');
}, { timeout: 10_000 });

test.run();
