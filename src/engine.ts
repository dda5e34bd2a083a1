// The build engine: answers questions (keys) by running actions, with the database's traces
// deciding what must run. It lives in the process broker (see build-host.ts), which sees every
// request: so a key asked for twice at once is computed once (one promise per key per build),
// and answers come from the database without dispatching anything when a trace verifies.
//
// Shake's model, in B's words:
// - a *key* is a file path or a named question; its *answer* is a digest (file content, or the
//   value a rule returned);
// - an *action* (a Ninja edge, a Bfile rule) produces one or more keys; while it runs it may
//   need more keys (dynamic dependencies), recorded in order in its *trace*;
// - verifying traces: an action is skipped when its fingerprint (command line, rule source) is
//   unchanged, its outputs on disk are the ones it wrote, and every key it depended on still has
//   the recorded answer, checked in the order they were needed. Answers that come out unchanged
//   after a rerun stop the rebuild there (early cutoff).
//
// Cycles: while an action waits on a key another action is producing, that wait is an edge of a
// waits-for graph. Searching the graph on every wait is quadratic on large builds, so it is
// searched only when the build stalls (nothing finished for a moment and every running rule is
// waiting on answers): a loop found then fails the build with the whole chain instead of
// waiting forever. An action needing itself directly is reported at once.

import { type Database, type Trace } from './database.ts';
import { MISSING } from './filestate.ts';
import { digest } from './hash.ts';
import type { Failure } from './protocol.ts';
import type { WorkItem } from './messages.ts';
import {
  BuildError, interrupts, terminationOf, type Action, type Answer, type BuildDescription, type BuildSummary, type Completed, type DirtyReason, type EngineHost,
  type EngineOptions, type RunContext, type BuildEvent,
} from './engine-types.ts';

export * from './engine-types.ts';
import { CACHE_HIT, NO_GROUPS, nodeOf, Semaphore, type ActionState, type Answers } from './engine-state.ts';
import { Slots } from './engine-slots.ts';
import { StallWatch } from './engine-watch.ts';
import { ReadyPlan } from './engine-plan.ts';
import { dependencyFailed, missingInput, prepareFailure } from './engine-errors.ts';
import { dryRun } from './engine-dry.ts';
import { SyncVerify } from './engine-verify.ts';
import { Sources } from './engine-sources.ts';
import { answersFromTrace, cycleError, recordRun, inputChanged, neverBuilt, phonyAnswers, showAction, staticDirty, touchedBy, type Touched } from './engine-trace.ts';
export type { ActionState } from './engine-state.ts';

const LOOKUPS = 32;

type SubmitReply = Awaited<ReturnType<EngineHost['submit']>>;

/** An action's answer for one of its keys (MISSING when it did not make it). */
function answerOf(st: ActionState, key: string): Answer {
  return st.result?.get(key) ?? { key, hash: MISSING };
}

export class Engine {
  private readonly actions = new Map<string, ActionState>();
  /** The ready queue (engine-plan.ts): an action starts when its counted inputs have finished. */
  private readonly plan: ReadyPlan;
  private readonly byTask = new Map<number, ActionState>();
  /** Cache lookups at once (each reads its entry and checks its dependencies' files). */
  private readonly lookups = new Semaphore(LOOKUPS);
  /** Start order, pools, -j and -l (engine-slots.ts). */
  private readonly slots: Slots;
  /** Answers of source keys (engine-sources.ts). */
  private readonly sources: Sources;
  /** The no-op fast path (engine-verify.ts). */
  private readonly verify: SyncVerify;
  /** The stall watchdog's counters (engine-watch.ts). */
  private readonly watch = new StallWatch();
  private stopReason: string | undefined;
  readonly stats = { ran: 0, upToDate: 0, failed: 0, total: 0, done: 0 };
  readonly errors: Failure[] = [];
  /** The answer a phony with no inputs and no file gets: different in every build. */
  private readonly always = digest(`always ${Date.now()} ${Math.random()}`);
  /**
   * Answers that differ in every build: `always` and the phonies computed from it. Only an
   * action that records one in its trace runs again next time (and forbids the no-op
   * snapshot); Meson's `meson-benchmark-prereq: phony` feeding only the phony `all` runs nothing.
   */
  private readonly volatile = new Set<string>([this.always]);

  readonly desc: BuildDescription;
  readonly db: Database;
  readonly host: EngineHost;
  readonly opts: EngineOptions;

  constructor(desc: BuildDescription, db: Database, host: EngineHost, opts: EngineOptions) {
    this.desc = desc;
    this.db = db;
    this.host = host;
    this.opts = opts;
    this.sources = new Sources(db, desc.root);
    this.plan = new ReadyPlan(desc, {
      stateOf: (a) => this.stateOf(a),
      settledNow: (st) => this.verify.settle(st) !== undefined,
      start: (st) => void this.doAction(st),
      want: (key) => void this.answer(key, undefined, false).catch(() => {}),
    });
    this.slots = new Slots(desc.pools, opts);
    this.verify = new SyncVerify({
      desc, db, dryRun: opts.dryRun,
      sourceSync: (key) => this.sources.now(key),
      stateOf: (a) => this.stateOf(a),
      existing: (id) => this.actions.get(id),
      phony: (a, inputs) => phonyAnswers(this.desc, this.db, a, inputs, this.always, this.volatile),
      upToDate: (a, trace) => this.upToDate(a, trace, true),
      settled: () => void this.watch.progress++,
    });
  }

  /** Builds the targets (or the defaults) and reports what happened. */
  async build(targets: string[]): Promise<BuildSummary> {
    const wanted = targets.length > 0 ? targets : this.desc.defaults();
    this.slots.order = this.desc.startOrder?.(wanted, this.opts.dryRun ? 0 : (this.opts.jobs ?? 0));
    const unwatch = this.watch.start(this.desc, () => this.actions.values());
    try {
      return await this.buildWanted(wanted);
    } finally {
      unwatch();
    }
  }

  private async buildWanted(wanted: string[]): Promise<BuildSummary> {
    const results = await Promise.allSettled(wanted.map((k) => this.answer(k, undefined, false)));
    // With -k, independent work goes on after a failure: wait until every started action is
    // done, so the build ends only when nothing is running.
    for (;;) {
      const open = [...this.actions.values()].filter((s) => s.demanded && !s.finished);
      if (open.length === 0) break;
      await Promise.all(open.map((s) => this.donePromise(s)));
    }
    for (const r of results) {
      if (r.status === 'rejected') {
        const e = r.reason as unknown;
        if (e instanceof BuildError) {
          if (!e.counted && !this.errors.some((x) => x.message === e.failure.message)) this.errors.push(e.failure);
        } else this.errors.push({ code: 'internal', message: String((e as Error)?.stack ?? e) });
      }
    }
    this.db.flush();
    return { ok: this.errors.length === 0, ran: this.stats.ran, upToDate: this.stats.upToDate, failed: this.stats.failed, errors: this.errors };
  }

  /** Stops starting actions (Ctrl-C, or -k reached); running ones finish. */
  stop(reason: string): void {
    this.stopReason ??= reason;
  }

  /** The action a worker task belongs to (for NEEDs from running Bfile rules). */
  actionOfTask(task: number): ActionState | undefined {
    return this.byTask.get(task);
  }

  /**
   * The answer of a key in this build. `from` is the action waiting for it (for cycle detection
   * and error messages). `optional`: a missing source file is an answer (MISSING), not an error.
   */
  answer(key: string, from: ActionState | undefined, optional: boolean): Promise<Answer> {
    const action = this.desc.actionFor(key);
    if (action !== undefined) {
      const st = this.stateOf(action);
      if (from === st) return Promise.reject(cycleError(this.desc, [st, st], key));
      if (!st.demanded) {
        const r = this.verify.settle(st);
        if (r !== undefined) return Promise.resolve(r.get(key) ?? { key, hash: MISSING });
      }
      return this.runAction(st, from, key);
    }
    return this.sources.promise(key, optional ? undefined : () => missingInput(this.desc, key, from));
  }

  /** Front ends answer keys that are not files (environment variables, ...) through this hook. */
  set specialAnswer(f: ((key: string) => Answer | undefined) | undefined) {
    this.sources.special = f;
  }

  private stateOf(action: Action): ActionState {
    let st = this.actions.get(action.id);
    if (st === undefined) {
      st = {
        action, promise: undefined, resolveDone: undefined, waits: undefined, settled: undefined, unsettled: false, demanded: false, pending: 0,
        dependents: undefined, finished: false, result: undefined, error: undefined, running: false, groups: NO_GROUPS,
      };
      this.actions.set(action.id, st);
    }
    return st;
  }


  /**
   * The answer for `key` of an action, started if it was not. A waiting action's wait is
   * recorded (for the stall watchdog's cycle search, which rejects it to break a loop) and not
   * removed when it ends: the search skips finished actions, and the waiter drops the whole list
   * when it finishes. That keeps a wait to one promise and one closure. Inputs of actions are
   * not waited on this way (engine-plan.ts): only the targets, a rule's needs, trace groups and
   * inputs the ready queue could not count (a cycle, a dyndep file's) are.
   */
  private runAction(st: ActionState, from: ActionState | undefined, key: string): Promise<Answer> {
    if (!st.finished) this.plan.demand(st);
    if (st.finished) return st.error !== undefined ? Promise.reject(st.error) : Promise.resolve(answerOf(st, key));
    const p = this.donePromise(st);
    if (from === undefined || from === st) return p.then(() => (st.error !== undefined ? Promise.reject(st.error) : answerOf(st, key)));
    return new Promise((resolve, reject) => {
      (from.waits ??= []).push({ on: st, key, reject });
      p.then(() => (st.error !== undefined ? reject(st.error) : resolve(answerOf(st, key))), reject);
    });
  }

  /** A promise that resolves when the action has finished (made on first request). */
  private donePromise(st: ActionState): Promise<void> {
    if (st.finished) return Promise.resolve();
    return (st.promise ??= new Promise<void>((r) => {
      st.resolveDone = r;
    }));
  }

  /** An action finished: whoever waits on it by promise or by counter goes on. */
  private finish(st: ActionState): void {
    st.finished = true;
    st.waits = undefined;
    this.watch.progress++;
    const done = st.resolveDone;
    st.resolveDone = undefined;
    done?.();
    this.plan.finished(st);
  }

  /**
   * The answers of `keys` now, when each is a source or an action that has finished (the ready
   * queue started this action after its counted inputs); undefined when one is still to come.
   * A failed producer, or a missing source, throws as its wait would have rejected.
   */
  private answersNow(st: ActionState, keys: string[]): Answer[] | undefined {
    const out: Answer[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const pa = this.desc.actionFor(key);
      if (pa === undefined) {
        const a = this.sources.now(key);
        if (a.hash === MISSING) throw missingInput(this.desc, key, st);
        out[i] = a;
        continue;
      }
      const p = this.stateOf(pa);
      if (!p.finished || p === st) return undefined;
      if (p.error !== undefined) throw p.error;
      out[i] = answerOf(p, key);
    }
    return out;
  }



  /** The host's submit, counted for the stall watchdog. */
  private submit(...args: Parameters<EngineHost['submit']>): ReturnType<EngineHost['submit']> {
    return this.watch.counted(() => this.host.submit(...args));
  }

  /** Optional keys' answers now (see optionalNow), or undefined when one is still to come. */
  private optionalAllNow(st: ActionState, keys: string[]): Answer[] | undefined {
    const out: Answer[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const x = this.optionalNow(st, keys[i]!);
      if (x === undefined) return undefined;
      out[i] = x;
    }
    return out;
  }

  /** Runs a ready action to its end; its outcome goes to its state (never a rejection). */
  private async doAction(st: ActionState): Promise<void> {
    try {
      st.result = await this.actionBody(st);
    } catch (e) {
      st.error = e;
    } finally {
      this.finish(st);
    }
  }

  /**
   * An action's work up to its command, synchronous while every step can complete at once:
   * inputs at hand (the ready queue counted them), a trace decided without waiting on another
   * action. The command's promise is then the only one doAction waits on: each async step on
   * this path was a promise and a microtask turn per edge (4,000 cheap edges: ~12 hops an edge
   * from the ready queue to the command and back before; see execute). A sync throw is
   * doAction's, as a rejection was.
   */
  private actionBody(st: ActionState): Answers | Promise<Answers> {
    const a = st.action;
    if (this.opts.explain || this.detailed) this.host.event({ event: 'start', key: showAction(this.desc, a), action: a.id });
    if (a.prepare === undefined) {
      const inputs = this.inputsNow(st);
      if (inputs !== undefined) return this.decide(st, inputs);
    }
    return this.waitInputs(st);
  }

  /** Inputs and order-only inputs: at hand when the ready queue counted them all, else undefined. */
  private inputsNow(st: ActionState): Answer[] | undefined {
    const a = st.action;
    let inputs: Answer[] | undefined;
    try {
      inputs = this.answersNow(st, a.inputs);
      if (inputs !== undefined && this.answersNow(st, a.orderOnly) === undefined) inputs = undefined;
    } catch (e) {
      throw this.dependencyFailed(a, e);
    }
    const loop = inputs === undefined ? this.plan.loopOf(st) : undefined;
    if (loop !== undefined) throw loop;
    return inputs;
  }

  /** The slow way to the inputs: a dyndep file read first, or inputs waited on (a cycle, a dyndep file's). */
  private async waitInputs(st: ActionState): Promise<Answers> {
    const a = st.action;
    if (a.prepare) {
      try {
        await a.prepare((k) => this.answer(k, st, false));
      } catch (e) {
        throw e instanceof BuildError ? this.dependencyFailed(a, e) : this.prepareFailed(a, e);
      }
    }
    // Inputs and order-only inputs are built first, in parallel.
    const inputs = this.inputsNow(st) ?? (await Promise.all([
      Promise.all(a.inputs.map((k) => this.answer(k, st, false))),
      Promise.all(a.orderOnly.map((k) => this.answer(k, st, false))),
    ]).catch((e: unknown) => {
      throw this.dependencyFailed(a, e);
    }))[0];
    return await this.decide(st, inputs);
  }

  /** With its inputs' answers: up to date (its trace verifies), or it runs. */
  private decide(st: ActionState, inputs: Answer[]): Answers | Promise<Answers> {
    const a = st.action;
    if (a.phony) return phonyAnswers(this.desc, this.db, a, inputs, this.always, this.volatile);
    if (a.always) this.sawAlways = true;
    const trace = this.db.getTrace(a.id);
    const reason = this.dirtyReason(st, trace, inputs);
    if (reason instanceof Promise) return reason.then((r) => this.decided(st, trace, inputs, r, true));
    return this.decided(st, trace, inputs, reason, true);
  }

  /** `reason` undefined: the trace verified (and, `replay`, may yet be replayed). */
  private decided(st: ActionState, trace: Trace | undefined, inputs: Answer[], reason: DirtyReason | undefined, replay: boolean): Answers | Promise<Answers> {
    const a = st.action;
    if (reason === undefined && trace !== undefined) {
      const payload = replay && !this.opts.dryRun ? a.replay?.(trace) : undefined;
      if (payload !== undefined) return this.replay(st, payload, trace, inputs).then((r) => this.decided(st, trace, inputs, r, false));
      return this.upToDate(a, trace, false);
    }
    return this.execute(st, reason ?? neverBuilt(this.desc, a), inputs);
  }

  /** A verified action: counted, reported (`start` too when no actionBody did), its trace stamped, its answers. */
  private upToDate(a: Action, trace: Trace, announce: boolean): Answers {
    this.stats.upToDate++;
    if (this.detailed || (announce && this.opts.explain)) {
      const name = showAction(this.desc, a);
      if (announce) this.host.event({ event: 'start', key: name, action: a.id });
      if (this.detailed) this.host.event({ event: 'finish', key: name, action: a.id, status: 'ok', ran: false, ms: 0, node: 'local' });
    }
    const stamped = a.stamp?.(trace);
    if (stamped !== undefined) this.db.putTrace(stamped);
    return answersFromTrace(this.db, a, trace);
  }

  /** Runs an action against its recorded commands; undefined if it did exactly the same. */
  private async replay(st: ActionState, payload: WorkItem, trace: Trace, inputs: Answer[]): Promise<DirtyReason | undefined> {
    st.running = true;
    st.groups = [inputs];
    let taskId = -1;
    try {
      const r = await this.submit(payload, (id) => {
        taskId = id;
        this.byTask.set(id, st);
      });
      if (!r.ok) return { kind: 'rule-changed', detail: r.failure.message };
      const v = st.action.replayed?.(r.payload);
      if (v === undefined || !v.same) return { kind: 'rule-changed', detail: v?.reason ?? '' };
      this.db.putTrace({ ...trace, extra: v.extra });
      return undefined;
    } finally {
      st.running = false;
      if (taskId >= 0) this.byTask.delete(taskId);
    }
  }

  /** An action that always runs, or one whose trace holds a volatile answer, ran in this build. */
  private sawAlways = false;

  /** Actions that ran and left a declared output missing (so they run in every build). */
  private readonly everyBuild: string[] = [];

  /** What the build read and wrote, for the no-op snapshot (fastnoop.ts). */
  touched(): Touched {
    return touchedBy(this.sources.values, this.actions.values(), this.sawAlways, this.everyBuild);
  }

  /** Reports --events detail for every action considered, not only those that ran. */
  detailed = false;

  private dependencyFailed(a: Action, e: unknown): BuildError {
    return dependencyFailed(this.desc, this.errors, a, e);
  }

  /** A bad dyndep file: as in ninja, where loading one fails the whole build, nothing more starts. */
  private prepareFailed(a: Action, e: unknown): BuildError {
    const f = prepareFailure(this.desc, a, e);
    this.errors.push(f);
    this.stop(f.message);
    return new BuildError(f, true);
  }

  /**
   * Why the action must run, or undefined if its trace verifies: at once when every recorded
   * group's keys are sources or finished actions (a depfile's headers), else a promise.
   */
  private dirtyReason(st: ActionState, trace: Trace | undefined, inputs: Answer[]): DirtyReason | undefined | Promise<DirtyReason | undefined> {
    const a = st.action;
    if (trace === undefined) return neverBuilt(this.desc, a);
    if (a.always) return { kind: 'always' };
    const reason = staticDirty(this.desc, this.db, a, trace, inputs);
    if (reason !== undefined) return reason;
    for (let g = 1; g < trace.deps.length; g++) {
      const group = trace.deps[g]!;
      // The whole group first, as the async path builds all of it before comparing.
      const answers: Answer[] = new Array(group.length);
      for (let i = 0; i < group.length; i++) {
        const x = this.optionalNow(st, group[i]!.key);
        if (x === undefined) return this.groupsDirty(st, trace, g);
        answers[i] = x;
      }
      for (let i = 0; i < group.length; i++) {
        if (answers[i]!.hash !== group[i]!.hash) return inputChanged(this.desc, a, group[i]!.key);
      }
    }
    return undefined;
  }

  /**
   * An optional key's answer now, as `answer(key, st, true)` would give it: a source, or an
   * action that finished well; undefined for anything else (the async path decides those).
   */
  private optionalNow(st: ActionState, key: string): Answer | undefined {
    const action = this.desc.actionFor(key);
    if (action === undefined) return this.sources.now(key);
    const p = this.actions.get(action.id);
    if (p === undefined || !p.finished || p === st || p.error !== undefined) return undefined;
    return answerOf(p, key);
  }

  /** The recorded groups from `from` on, each built and compared in order. */
  private async groupsDirty(st: ActionState, trace: Trace, from: number): Promise<DirtyReason | undefined> {
    const a = st.action;
    for (let g = from; g < trace.deps.length; g++) {
      const group = trace.deps[g]!;
      let answers: Answer[];
      try {
        answers = await Promise.all(group.map((d) => this.answer(d.key, st, true)));
      } catch (e) {
        if (e instanceof BuildError && e.failure.code === 'cycle') throw e;
        return { kind: 'dependency-failed', output: showAction(this.desc, a), input: this.desc.show(group[0]?.key ?? '') };
      }
      for (let i = 0; i < group.length; i++) {
        if (answers[i]!.hash !== group[i]!.hash) return inputChanged(this.desc, a, group[i]!.key);
      }
    }
    return undefined;
  }

  private async execute(st: ActionState, reason: DirtyReason, inputs: Answer[]): Promise<Answers> {
    const a = st.action;
    const name = showAction(this.desc, a);
    if (this.stopReason !== undefined) {
      throw new BuildError({ code: 'stopped', message: `${name} not started: ${this.stopReason}` }, true);
    }
    this.stats.total++;
    if (this.opts.dryRun) return await dryRun(a, name, reason, this.slots, this.stats, (e) => this.host.event(e));
    // The action cache (ninja-cache.ts): a hit writes the outputs and submits nothing, so it
    // takes no turn (engine-slots.ts). Lookups read files: at most LOOKUPS at once.
    let hit: Completed | undefined;
    if (a.lookup !== undefined) {
      await this.lookups.acquire();
      try {
        hit = await a.lookup(inputs, (keys) => this.need(st, keys, true));
      } finally {
        this.lookups.release();
      }
    }
    const held = hit === undefined;
    if (held) {
      const turn = this.slots.acquire(a);
      if (turn !== undefined) await turn;
    }
    const t0 = Date.now();
    let taskId = -1;
    st.running = true;
    st.groups = [inputs];
    try {
      if (this.stopReason !== undefined) {
        throw new BuildError({ code: 'stopped', message: `${name} not started: ${this.stopReason}` }, true);
      }
      this.host.event({ event: 'run', t: Date.now(), key: name, action: a.id, description: a.description || name, reason });
      const onTask = (id: number): void => {
        taskId = id;
        this.byTask.set(id, st);
      };
      let r: SubmitReply;
      if (hit !== undefined) r = CACHE_HIT;
      else {
        // Counted for the stall watchdog in place: a wrapper was an async frame more per edge.
        this.watch.inFlight++;
        try {
          r = await this.host.submit(a.work(), onTask, a.placement, a.remote ? (shared) => a.remote?.(shared) : undefined);
        } finally {
          this.watch.answered();
        }
      }
      let note: string | undefined;
      if (!r.ok) {
        // A rule that failed because something it needed failed is not a failure of its own.
        if (r.failure.code === 'dependency-failed' || r.failure.code === 'cycle') {
          this.stats.done++;
          throw new BuildError({ ...r.failure, code: 'dependency-failed' }, true);
        }
        return this.failed(a, r.failure, Date.now() - t0, (r.failure.fields?.output as string | undefined) ?? '');
      }
      const worker = r.worker;
      const ctx: RunContext = { need: (keys) => this.need(st, keys), fetch: (hex, size, dest) => this.host.fetch(worker, hex, size, dest), node: nodeOf(worker) === 'local' ? undefined : worker };
      let c = hit ?? await a.complete(r.payload, ctx);
      if (!('outputs' in c) && c.fields?.retryLocal === true) {
        // A command that failed in another node's sandbox is run once more here: the sandbox may
        // have lacked a file, and a real error fails again and is reported as usual.
        note = `failed on node ${worker} (${c.message.split('\n')[0]}); ran again here`;
        this.host.event({ event: 'output', key: name, action: a.id, note });
        r = await this.submit(a.work(), onTask, { ...a.placement, remote: false });
        if (!r.ok) return this.failed(a, r.failure, Date.now() - t0, (r.failure.fields?.output as string | undefined) ?? '');
        c = await a.complete(r.payload, { need: (keys) => this.need(st, keys), fetch: () => Promise.reject(new Error('no node to fetch from')) });
      }
      const ms = Date.now() - t0;
      if (!('outputs' in c)) return this.failed(a, c, ms, (c.fields?.output as string | undefined) ?? '', r.worker);
      note ??= r.note;
      if (c.discovered.length > 0) st.groups.push(this.optionalAllNow(st, c.discovered) ?? await this.need(st, c.discovered, true));
      const answers = recordRun(this.db, a, c, st.groups, ms);
      if (st.groups.some((g) => g.some((x) => this.volatile.has(x.hash)))) this.sawAlways = true;
      // An output it did not write is missing next time too: it runs in every build.
      if (a.outputs.some((o) => c.outputs.get(o) === undefined)) this.everyBuild.push(a.id);
      st.groups = NO_GROUPS; // recorded: the answers need not live as long as the build
      this.stats.ran++;
      this.stats.done++;
      // Optional fields set in place: a spread of `{}` per absent one was an object per edge.
      const done: BuildEvent = { event: 'finish', t: Date.now(), key: name, action: a.id, status: 'ok', ran: true, ms, node: nodeOf(r.worker), output: c.output, reason };
      if (note) done.note = note;
      if (c.bytes) done.bytes = c.bytes;
      if (c.cache) {
        done.cache = c.cache;
        done.cacheBytes = c.cacheBytes ?? 0;
      }
      this.host.event(done);
      return answers;
    } finally {
      st.running = false;
      if (taskId >= 0) this.byTask.delete(taskId);
      if (held) this.slots.release(a);
    }
  }

  private failed(a: Action, f: Failure, ms: number, output: string, worker?: string): never {
    this.stats.failed++;
    this.stats.done++;
    const name = showAction(this.desc, a);
    const failure: Failure = { ...f, where: f.where ?? name };
    this.errors.push(failure);
    const termination = terminationOf(f);
    this.host.event({ event: 'finish', key: name, action: a.id, status: 'failed', ran: true, ms, node: nodeOf(worker), output, error: failure, ...(termination ? { termination } : {}) });
    if (interrupts(termination)) this.stop('interrupted by user');
    if (this.opts.keepGoing > 0 && this.stats.failed >= this.opts.keepGoing) this.stop('cannot make progress due to previous errors');
    throw new BuildError(failure, true);
  }

  /** Records an error that reached a rule through a NEED (so it is reported once). */
  noteError(e: unknown): void {
    if (e instanceof BuildError && !e.counted && !this.errors.some((x) => x.message === e.failure.message)) this.errors.push(e.failure);
  }

  /** A running rule's `need`: it gives back its -j token while it waits (engine-slots.ts). */
  ruleNeed(st: ActionState, keys: string[]): Promise<Answer[]> {
    return this.slots.suspended(() => this.need(st, keys));
  }

  /** Keys needed by a running action: built, recorded as one dependency group, answered. */
  async need(st: ActionState, keys: string[], optional = false): Promise<Answer[]> {
    this.watch.needing++;
    let answers: Answer[];
    try {
      answers = await Promise.all(keys.map((k) => this.answer(k, st, optional)));
    } finally {
      this.watch.needing--;
    }
    if (!optional) {
      if (st.groups === NO_GROUPS) st.groups = [];
      st.groups.push(answers);
    }
    return answers;
  }
}

