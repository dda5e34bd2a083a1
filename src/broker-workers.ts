// The broker's local worker threads: starting them, knowing which are alive, cancelling their
// commands, replacing one that dies and joining them all on stop. Split from broker.ts because
// thread lifetimes are a responsibility of their own (every thread joined on every path), while
// the broker's is placing work; the broker keeps which worker is free and which task runs where
// (WorkerSlot's fields) and learns of a dead worker through `exited` to fail the items it held.
// It imports no broker: the broker hands it its hooks.

import { spawnThread } from './threads.ts';
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
  log(level: LogLevel, message: string): void;
}

/** How long a worker may take to stop before it is terminated (see join). */
const STOP_GRACE_MS = 10_000;

export class LocalWorkers {
  private readonly slots = new Map<string, WorkerSlot>();
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

  /** The live worker whose backend routing id is `rid`. */
  get(rid: string): WorkerSlot | undefined {
    return this.slots.get(rid);
  }

  /** Workers running an item now (b status). */
  busy(): number {
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
    this.hooks.exited(w);
    if (this.hooks.stopping()) {
      if (this.slots.size === 0) this.allExited?.();
    } else {
      this.hooks.log('warn', `worker ${w.id} exited; starting a replacement`);
      this.spawned--;
      this.spawn();
    }
  }

  /** Kills the commands of task `task`, which runs (or waits) on worker `w`. */
  cancelTask(w: WorkerSlot, task: number): void {
    w.thread.postMessage({ type: 'cancel-task', task } satisfies ToWorker);
  }

  /**
   * Joins every worker, once the node stops (hooks.stopping() is true): their commands are
   * cancelled, `sendStop` hands STOP to the idle ones (the busy ones get it from the broker when
   * they next ask for work), and a worker that has not exited within STOP_GRACE_MS is terminated.
   */
  async join(sendStop: () => void): Promise<void> {
    const allExited = new Promise<void>((resolve) => {
      this.allExited = resolve;
      if (this.slots.size === 0) resolve();
    });
    for (const w of this.slots.values()) w.thread.postMessage({ type: 'cancel' } satisfies ToWorker);
    sendStop();
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
