// dead.ts deadOutputs over a real manifest and database, no build: outputs reached from the
// defaults through inputs, order-only inputs and recorded dependencies are live; an output whose
// rule is gone is dead; one whose rule exists but is not a default is not. Pure: temp files only.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Database, type Trace } from '../src/database.ts';
import { deadOutputs } from '../src/dead.ts';
import { loadNinja } from '../src/ninja-build.ts';
import { suite, tmp } from './helpers.ts';

const test = suite('dead');

const manifest = `rule r
  command = touch $out
build gen.h: r
build a.o a.d: r a.c || dir
build dir: r
build app: r a.o
build extra: r
default app
`;

function trace(action: string, outputs: string[], deps: string[][]): Trace {
  return { action, fingerprint: 1, deps: deps.map((g) => g.map((key) => ({ key, hash: 'h'.repeat(16) }))), outputs, value: undefined, ms: 1, extra: '' };
}

test('live through inputs, order-only inputs and recorded dependencies; dead when the rule is gone', () => {
  const dir = tmp('b-dead-');
  fs.writeFileSync(path.join(dir, 'build.ninja'), manifest);
  const desc = loadNinja(path.join(dir, 'build.ninja'), dir);
  const { db } = Database.open(path.join(dir, '.b', 'db'), 'test');
  // a.o's depfile named gen.h (reached only through the trace), twice, as two compiles would.
  db.putTrace(trace('a.o', ['a.o', 'a.d'], [['a.c'], ['gen.h', 'a.c', 'gen.h']]));
  db.putTrace(trace('app', ['app'], [['a.o']]));
  db.putTrace(trace('gen.h', ['gen.h'], [[]]));
  db.putTrace(trace('dir', ['dir'], [[]]));
  db.putTrace(trace('extra', ['extra'], [[]]));
  db.putTrace(trace('old.o', ['old.o', 'old.d'], [['old.c']])); // its build statement was removed
  assert.equal(deadOutputs(desc, db), ['old.d', 'old.o']);
  db.close();
});

test.run();
