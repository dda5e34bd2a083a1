// What a finished action keeps for the rest of a build (engine-state.ts, engine-trace.ts): its
// answers in the smallest form (one object for the usual single output, not a Map), and a trace
// whose dependencies are the answers it was given, not copies (a shared header's answer is one
// object however many depfiles name it).
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { suite, tmp } from './helpers.ts';
import { Database } from '../src/database.ts';
import { answersOf, OneAnswer } from '../src/engine-state.ts';
import { answersFromTrace, recordRun } from '../src/engine-trace.ts';
import type { Action, Answer, Completed } from '../src/engine-types.ts';
import type { FileState } from '../src/database.ts';

const test = suite('engine-answers');

function fakeAction(outputs: string[], answers?: string): Action {
  // Only what recordRun and answersFromTrace read of an action.
  return { id: outputs[0] ?? answers ?? 'x', outputs, answers, fingerprint: 42 } as unknown as Action;
}

function state(digest: string): FileState {
  return { size: 1, mtime: 1, ctime: 1, ino: 1, digest, racy: false };
}

function openDb(): Database {
  return Database.open(path.join(tmp(), 'db'), 'test').db;
}

test('one answer is one small object; several keys are a map', () => {
  const a: Answer = { key: 'a.o', hash: 'h1' };
  const one = answersOf([a]);
  assert.ok(one instanceof OneAnswer);
  assert.ok(one.get('a.o') === a);
  assert.is(one.get('b.o'), undefined);
  const two = answersOf([a, { key: 'b.o', hash: 'h2' }]);
  assert.ok(two instanceof Map);
  assert.is(two.get('b.o')?.hash, 'h2');
  assert.is(two.get('c.o'), undefined);
}, { timeout: 10_000 });

test('recordRun keeps the answers it was given as the trace, and answers per output', () => {
  const db = openDb();
  const header: Answer = { key: 'h.h', hash: 'hh' };
  const src: Answer = { key: 'a.c', hash: 'cc' };
  const inputs = [src];
  const discovered = [src, header];
  const c: Completed = { outputs: new Map([['a.o', state('d1')]]), discovered: ['a.c', 'h.h'], value: undefined, output: '', extra: '' };
  const res = recordRun(db, fakeAction(['a.o']), c, [inputs, discovered], 5);
  assert.ok(res instanceof OneAnswer);
  assert.is(res.get('a.o')?.hash, 'd1');
  const t = db.getTrace('a.o');
  assert.ok(t !== undefined);
  // The same arrays and objects: no copy per dependency.
  assert.ok(t.deps[0] === inputs);
  assert.ok(t.deps[1] === discovered);
  assert.ok(t.deps[1]![1] === header);
  // An answer with a value (a rule's result) is copied without it.
  const ruled: Answer = { key: 'r', hash: 'rh', value: '"big result text"' };
  recordRun(db, fakeAction(['b.o']), { ...c, outputs: new Map([['b.o', state('d2')]]) }, [[ruled]], 1);
  const t2 = db.getTrace('b.o');
  assert.ok(t2 !== undefined);
  assert.ok(t2.deps[0]![0] !== ruled);
  assert.equal(t2.deps[0]![0], { key: 'r', hash: 'rh' });
  // Two outputs: a map of both.
  const multi = recordRun(db, fakeAction(['x.h', 'x.cc']), { ...c, outputs: new Map([['x.h', state('d3')], ['x.cc', state('d4')]]) }, [inputs], 1);
  assert.ok(multi instanceof Map);
  assert.is(multi.get('x.cc')?.hash, 'd4');
  // Read back from the trace, the same answers.
  const back = answersFromTrace(db, fakeAction(['a.o']), t);
  assert.ok(back instanceof OneAnswer);
  assert.is(back.get('a.o')?.hash, 'd1');
}, { timeout: 10_000 });

test.run();
