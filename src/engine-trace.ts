// Reading an action's trace against the state of this build: why it must run (as data, for
// every renderer to word), or the answers it had. Pure over the description and the database;
// the engine (engine.ts) decides what to do with the result.

import * as path from 'node:path';
import { existsSync } from 'node:fs';
import type { Database, Trace } from './database.ts';
import { absPath, currentState, MISSING, outputState } from './filestate.ts';
import { digest } from './hash.ts';
import { BuildError, envName, ORACLE, type Action, type Answer, type BuildDescription, type Completed, type DirtyReason } from './engine-types.ts';
import { answersOf, type ActionState, type Answers } from './engine-state.ts';

/** The name of an action in messages: its first output, or what it answers. */
export function showAction(desc: BuildDescription, a: Action): string {
  return desc.show(a.outputs[0] ?? a.answers ?? a.id);
}

export function neverBuilt(desc: BuildDescription, a: Action): DirtyReason {
  const out = a.outputs[0];
  return { kind: 'never-built', output: showAction(desc, a), exists: out !== undefined && existsSync(path.resolve(desc.root, out)) };
}

/** The checks of a trace that need no other action: command, outputs, the inputs' answers. */
export function staticDirty(desc: BuildDescription, db: Database, a: Action, trace: Trace, inputs: Answer[]): DirtyReason | undefined {
  const name = showAction(desc, a);
  if (!a.generator && a.trustsFingerprint?.(trace) !== true && trace.fingerprint !== a.fingerprint) return { kind: 'command-changed', output: name };
  for (const out of trace.outputs) {
    const known = db.getFile(out);
    const now = outputState(db, out, absPath(desc.root, out));
    if (now === undefined) return { kind: 'output-missing', output: desc.show(out) };
    if (known === undefined || known.digest !== now.digest) return { kind: 'output-modified', output: desc.show(out) };
  }
  for (const out of a.outputs) {
    if (!trace.outputs.includes(out)) return { kind: 'output-new', output: desc.show(out), exists: existsSync(path.resolve(desc.root, out)) };
  }
  // The first group must be exactly the current inputs (the manifest may have changed).
  const first = trace.deps[0] ?? [];
  if (first.length !== inputs.length) return { kind: 'inputs-changed', output: name };
  for (let i = 0; i < inputs.length; i++) {
    const rec = first[i]!;
    const cur = inputs[i]!;
    if (rec.key !== cur.key) return { kind: 'inputs-changed', output: name };
    if (rec.hash !== cur.hash) return inputChanged(desc, a, cur.key);
  }
  return undefined;
}

export function inputChanged(desc: BuildDescription, a: Action, key: string): DirtyReason {
  return { kind: 'input-changed', output: showAction(desc, a), input: desc.show(key), generated: desc.actionFor(key) !== undefined };
}

export function answersFromTrace(db: Database, a: Action, trace: Trace): Answers {
  const m: Answer[] = [];
  for (const out of a.outputs) {
    const s = db.getFile(out);
    m.push({ key: out, hash: s ? s.digest : MISSING });
  }
  if (a.answers !== undefined) {
    m.push({ key: a.answers, hash: digest(trace.value ?? ''), ...(trace.value !== undefined ? { value: trace.value } : {}) });
  }
  return answersOf(m);
}

/** A loop of actions waiting on each other, for the user: the whole chain, and who closes it. */
export function cycleError(desc: BuildDescription, loop: ActionState[], key: string): BuildError {
  const names = loop.map((s) => desc.show(s.action.outputs[0] ?? s.action.answers ?? s.action.id));
  return new BuildError({
    code: 'cycle',
    message: `dependency cycle: ${names.join(' -> ')}`,
    hint: `'${desc.show(key)}' depends on itself through the chain above`,
  });
}

/**
 * A phony's answers: a phony with no inputs stands for a file if there is one; otherwise it is
 * always out of date (`always`, a different answer in every build), and so is everything that
 * depends on it (Ninja semantics). One with inputs combines theirs, volatile if any of them is.
 */
export function phonyAnswers(desc: BuildDescription, db: Database, a: Action, inputs: Answer[], always: string, volatile: Set<string>): Answers {
  const m: Answer[] = [];
  for (const out of a.outputs) {
    let hash: string;
    if (inputs.length === 0) {
      const s = currentState(db, out, absPath(desc.root, out));
      hash = s ? s.digest : always;
    } else {
      hash = digest(inputs.map((i) => i.hash).join(''));
      if (inputs.some((i) => volatile.has(i.hash))) volatile.add(hash);
    }
    m.push({ key: out, hash });
  }
  return answersOf(m);
}

/** What a build read and wrote, for the no-op snapshot (fastnoop.ts). */
export interface Touched {
  sources: string[];
  outputs: string[];
  env: [string, string | null][];
  always: boolean;
  everyBuild: string[];
}

export function touchedBy(sourceValues: Map<string, Answer>, actions: Iterable<ActionState>, always: boolean, everyBuild: string[]): Touched {
  const sources: string[] = [];
  const env: [string, string | null][] = [];
  for (const [k, a] of sourceValues) {
    const name = envName(k);
    if (name !== undefined) env.push([name, a.value !== undefined ? (JSON.parse(a.value) as string | null) : null]);
    else if (!k.startsWith(ORACLE)) sources.push(k);
  }
  const outputs: string[] = [];
  for (const st of actions) {
    // A phony with inputs answers from them, not from a file of its name (CMake's
    // `programs/zstdcat: phony ...` names the symlink that a custom command makes).
    if (st.action.phony && st.action.inputs.length > 0) continue;
    for (const o of st.action.outputs) outputs.push(o);
  }
  return { sources, outputs, env, always, everyBuild };
}

/**
 * What an action that ran leaves: its outputs' states and its trace in the database (the
 * dependency groups in the order they were needed), and its answers for this build.
 */
export function recordRun(db: Database, a: Action, c: Completed, groups: Answer[][], ms: number): Answers {
  const answers: Answer[] = [];
  for (const out of a.outputs) {
    const s = c.outputs.get(out);
    if (s !== undefined) db.putFile(out, s);
    else db.deleteFile(out);
    answers.push({ key: out, hash: s ? s.digest : MISSING });
  }
  if (a.answers !== undefined) {
    answers.push({ key: a.answers, hash: digest(c.value ?? ''), ...(c.value !== undefined ? { value: c.value } : {}) });
  }
  db.putTrace({
    action: a.id,
    fingerprint: a.fingerprint,
    // The answers themselves, not copies: a source's answer is one object for the whole build
    // (a header named by 80k depfiles), so copying cost 40 bytes per dependency (90k-statement
    // build: ~11 per edge, ~40 MB). Only answers with a value (a rule's result) are copied, so
    // a trace does not keep that text alive.
    deps: groups.map((g) => (g.some((x) => x.value !== undefined) ? g.map((x) => ({ key: x.key, hash: x.hash })) : g)),
    outputs: a.outputs,
    value: c.value,
    ms,
    extra: c.extra,
  });
  return answersOf(answers);
}
