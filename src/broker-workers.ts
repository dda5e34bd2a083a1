// The broker's local worker threads: starting them, tracking which is free and which item each
// runs (the backend socket's READY/WORK/DONE/SUSPEND/RESUME with them), counting the command
// slots they hold, cancelling their commands, replacing one that dies and joining them all on
// stop. Split from broker.ts (701 lines) because this half is about this process's threads and
// their lifetimes (every thread joined on every path), while the broker's is deciding where work
// goes (here, another node, or the queue); the broker picks what a free worker takes (`next`),
// owns the tasks (`task`, `finish`) and learns of a dead worker through `exited` to fail the
// items it held. It imports no broker: the broker hands it these hooks.

import { spawnThread } from './threads.ts';
import type { Frames } from './zmq.ts';
import { T, decode, encode, header, isProtocolError, parseFailure } from './protocol.ts';
import type { PeerResult } from './peers.ts';
import { newCommandSlots } from './exec.ts';
import { Fifo } from './fifo.ts';
import type { BrokerData, Task, WorkerSlot } from './broker-types.ts';
import type { LogLevel, ToWorker } from './thread-messages.ts';

export interface WorkerHooks {
  /** A worker thread ended (already forgotten here): the broker fails what it held. */
  exited(w: WorkerSlot): void;
  /** A message a worker thread posted to its parent (the broker), not yet decoded (thread-messages.ts FromWorker). */
  message(w: WorkerSlot, m: unknown): void;
  /** The node is stopping: no worker is started or replaced any more. */
  stopping(): boolean;
  /** Sends on the broker's backend socket (frames start with the worker's routing id). */
  send(frames: Frames): void;
  task(id: number): Task | undefined;
  /** The item a free worker takes (retried, then newest queued), if any; removed from its queue. */
  next(): Task | undefined;
  finish(t: Task, r: PeerResult): void;
  /** Counts a refused message (b status). */
  drop(reason: string): void;
  /** Command slots this node has (--jobs): items that run or wait on commands here at once. */
  slotCount(): number;
  log(level: LogLevel, message: string): void;
}

/** How long a worker may take to stop before it is terminated (see join). */
const STOP_GRACE_MS = 10_000;
const EMPTY = Buffer.alloc(0);

export class LocalWorkers {
  private readonly slots = new Map<string, WorkerSlot>();
  /** Workers that said READY and got nothing: the newest last. */
  private readonly ready: WorkerSlot[] = [];
  /** Local tasks running or parked on their commands, against `slotCount`. */
  private localBusy = 0;
  private spawned = 0;
  private readonly exits: Promise<void>[] = [];
  private allExited: (() => void) | undefined;
  /** Command slots shared by every worker (exec.ts), made with the first worker when --jobs is set. */
  private commandSlots: SharedArrayBuffer | undefined;
  private readonly data: BrokerData;
  private readonly hooks: WorkerHooks;

  constructor(data: BrokerData, hooks: WorkerHooks) {
    this.data = data;
    this.hooks = hooks;
  }

  /** Worker threads started so far (lazily: none until work is placed here). */
  get started(): number {
    return this.spawned;
  }

  /** Workers waiting for work (PONG's `free`). */
  get idle(): number {
    return this.ready.length;
  }

  /** Items running or parked on their commands here (b status). */
  get running(): number {
    return this.localBusy;
  }

  /** Workers running an item now (b status). */
  busyWorkers(): number {
    let n = 0;
    for (const w of this.slots.values()) if (w.current !== undefined) n++;
    return n;
  }

  /** Starts workers until `count` have been started (none once the node stops). */
  ensure(count: number): void {
    while (this.spawned < count && !this.hooks.stopping()) this.spawn();
  }

  private spawn(): void {
    const id = `w${++this.spawned}`;
    if (this.data.jobs !== undefined && this.commandSlots === undefined) this.commandSlots = newCommandSlots(this.data.jobs);
    const thread = spawnThread({ kind: 'worker', id, node: this.data.nodeId, backend: this.data.backend, frontend: this.data.frontend, warm: !this.data.lazyWorkers, ...(this.commandSlots ? { slots: this.commandSlots } : {}) }, `b-worker-${id}`);
    const slot: WorkerSlot = { id, rid: Buffer.from(id), thread, waiting: false, current: undefined, suspended: new Map(), resumes: new Fifo<Task>() };
    this.slots.set(id, slot);
    thread.on('message', (m: unknown) => this.hooks.message(slot, m));
    thread.on('error', (e) => this.hooks.log('error', `worker ${id} crashed: ${e.stack ?? e.message}`));
    this.exits.push(new Promise<void>((resolve) => thread.on('exit', () => {
      this.onExit(slot);
      resolve();
    })));
  }

  private onExit(w: WorkerSlot): void {
    this.slots.delete(w.id);
    const i = this.ready.indexOf(w);
    if (i >= 0) this.ready.splice(i, 1);
    this.hooks.exited(w);
    if (this.hooks.stopping()) {
      if (this.slots.size === 0) this.allExited?.();
    } else {
      this.hooks.log('warn', `worker ${w.id} exited; starting a replacement`);
      this.spawned--;
      this.spawn();
    }
  }

  private localFree(): boolean {
    return this.data.jobs === undefined || this.localBusy < Math.max(this.hooks.slotCount(), 1);
  }

  /** Task `t` holds a command slot (running, or parked on its commands). */
  private busy(t: Task): void {
    if (t.busy) return;
    t.busy = true;
    this.localBusy++;
  }

  /** Task `t` gives its command slot back (finished, cancelled, or suspended on answers). */
  unbusy(t: Task): void {
    if (!t.busy) return;
    t.busy = false;
    this.localBusy--;
  }

  /** A worker is free and so is a command slot: `give` would run an item now. */
  canTake(): boolean {
    return this.ready.length > 0 && this.localFree();
  }

  /** Runs `t` on the newest free worker (only after canTake()). */
  give(t: Task): void {
    this.run(this.ready.pop()!, t);
  }

  private run(w: WorkerSlot, t: Task): void {
    this.busy(t);
    t.state = 'running';
    t.worker = w;
    w.current = t;
    w.waiting = false;
    this.hooks.send([w.rid, EMPTY, header(T.WORK, t.id), t.payload]);
  }

  /** Free workers look again for work (the broker's queues changed, or a probe answered). */
  offerIdle(): void {
    for (let n = this.ready.length; n > 0; n--) {
      const w = this.ready.pop()!;
      this.dispatch(w);
      if (this.ready[this.ready.length - 1] === w) break; // nothing for it
    }
  }

  /** Task `t`'s answers arrived (WAKE): it resumes on its worker, now or when that is free. */
  wake(w: WorkerSlot, t: Task): void {
    if (w.waiting) this.resume(w, t);
    else w.resumes.push(t);
  }

  private resume(w: WorkerSlot, t: Task): void {
    const i = this.ready.indexOf(w);
    if (i >= 0) this.ready.splice(i, 1);
    w.suspended.delete(t.id);
    this.busy(t);
    t.state = 'running';
    w.current = t;
    w.waiting = false;
    this.hooks.send([w.rid, EMPTY, ...encode(T.RESUME, t.id)]);
  }

  /** A worker is free: a resume it owes comes first, then what the broker gives it. */
  private dispatch(w: WorkerSlot): void {
    w.waiting = true;
    w.current = undefined;
    if (this.hooks.stopping()) {
      this.hooks.send([w.rid, EMPTY, ...encode(T.STOP, 0)]);
      w.waiting = false;
      return;
    }
    const r = w.resumes.shift();
    if (r !== undefined) return this.resume(w, r);
    // Every slot runs a command: the worker waits.
    const t = this.localFree() ? this.hooks.next() : undefined;
    if (t !== undefined) return this.run(w, t);
    this.ready.push(w);
  }

  /** A message from a worker's REQ socket on the broker's backend ROUTER. */
  onBackend(frames: Frames): void {
    const rid = frames[0];
    if (rid === undefined) return;
    const d = decode(frames, undefined, 2);
    const w = this.slots.get(rid.toString('latin1'));
    if (w === undefined || isProtocolError(d)) {
      this.hooks.drop('backend');
      return;
    }
    const t = d.id !== 0 ? this.hooks.task(d.id) : undefined;
    switch (d.type) {
      case T.READY:
        return this.dispatch(w);
      case T.DONE:
        if (t !== undefined) this.hooks.finish(t, { ok: true, payload: d.payload ?? EMPTY, worker: `local/${w.id}` });
        return this.dispatch(w);
      case T.FAIL: {
        if (t !== undefined) {
          const f = parseFailure(d.payload);
          this.hooks.finish(t, { ok: false, failure: isProtocolError(f) ? { code: 'protocol', message: f.message } : f });
        }
        return this.dispatch(w);
      }
      case T.SUSPEND:
      case T.PARK:
        if (t !== undefined) {
          t.state = d.type === T.PARK ? 'parked' : 'suspended';
          if (d.type === T.SUSPEND) this.unbusy(t);
          w.suspended.set(t.id, t);
          if (t.wakeEarly) {
            t.wakeEarly = false;
            w.resumes.push(t);
          }
        }
        return this.dispatch(w);
      default:
        this.hooks.drop('backend');
    }
  }

  /** Kills the commands of task `task`, which runs (or waits) on worker `w`. */
  cancelTask(w: WorkerSlot, task: number): void {
    w.thread.postMessage({ type: 'cancel-task', task } satisfies ToWorker);
  }

  /**
   * Joins every worker, once the node stops (hooks.stopping() is true): their commands are
   * cancelled, the idle ones get STOP now (the busy ones when they next ask for work, dispatch),
   * and a worker that has not exited within STOP_GRACE_MS is terminated.
   */
  async join(): Promise<void> {
    const allExited = new Promise<void>((resolve) => {
      this.allExited = resolve;
      if (this.slots.size === 0) resolve();
    });
    for (const w of this.slots.values()) w.thread.postMessage({ type: 'cancel' } satisfies ToWorker);
    for (const w of this.ready.splice(0)) {
      w.waiting = false;
      this.hooks.send([w.rid, EMPTY, ...encode(T.STOP, 0)]);
    }
    // A worker stuck in synchronous code cannot read STOP; after a grace period it is
    // terminated (the toolchain notes warn this may abort the process: the last resort).
    const timer = setTimeout(() => {
      for (const w of this.slots.values()) {
        this.hooks.log('warn', `worker ${w.id} did not stop within ${STOP_GRACE_MS / 1000} s; terminating it`);
        void w.thread.terminate();
      }
    }, STOP_GRACE_MS);
    await allExited;
    await Promise.all(this.exits);
    clearTimeout(timer);
  }
}
