// The process broker: the seed design's central thread. A frontend ROUTER serves clients (the
// main thread's client, each worker's own client, later other brokers); a backend ROUTER serves
// the REQ sockets of this process's workers. Load Balancing Pattern: work is handed only to a
// worker that said it is free; otherwise it waits in a FIFO queue.
//
// The broker forwards work and result bytes without parsing them. It owns the lifecycle of its
// worker threads: it starts them, restarts one that dies (failing the items it held, so no
// client waits forever), and on stop cancels running commands, sends STOP and joins them all
// before it closes its own sockets.

import { parentPort, type Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { Channel, type Frames } from './zmq.ts';
import {
  T, decode, encode, failureOf, isProtocolError, parseFailure, parseHello, typeName,
  PROTOCOL_VERSION, type Failure, type Role,
} from './protocol.ts';
import { Fifo } from './fifo.ts';
import { spawnThread } from './threads.ts';
import { VERSION } from './version.ts';

export interface BrokerData {
  nodeId: string;
  workers: number;
  /** Start worker threads only when the first item is queued (fast no-op builds). */
  lazyWorkers: boolean;
  frontend: string;
  backend: string;
  /** Extra endpoints the frontend binds (tcp://...), for other machines. */
  listen: string[];
}

export type TaskResult = { ok: true; payload: Buffer; worker: string } | { ok: false; failure: Failure };

type Owner =
  | { kind: 'client'; client: ClientState; reqId: number }
  | { kind: 'local'; done: (r: TaskResult) => void };

interface Task {
  id: number;
  payload: Buffer;
  owner: Owner;
  state: 'queued' | 'running' | 'suspended';
  worker?: WorkerSlot;
  /** A WAKE arrived before the worker's SUSPEND (they travel on different sockets). */
  wakeEarly?: boolean;
}

export interface ClientState {
  rid: Buffer;
  key: string;
  role: Role;
  name: string;
  /** Requests of this client that became tasks, for CANCEL and BYE. */
  tasks: Map<number, Task>;
}

interface WorkerSlot {
  id: string;
  rid: Buffer;
  thread: Worker;
  /** The worker sent READY/DONE/FAIL/SUSPEND and waits for our reply. */
  waiting: boolean;
  current: Task | undefined;
  suspended: Map<number, Task>;
  resumes: Fifo<Task>;
  exited: boolean;
}

/** What the build engine plugs into the broker (see engine.ts). */
export interface NeedHandler {
  need(client: ClientState, reqId: number, payload: Buffer): void;
  clientGone?(client: ClientState): void;
  stop?(): void;
}

const EMPTY = Buffer.alloc(0);

export class Broker {
  readonly frontend = new Channel('router', { mandatory: true });
  readonly backend = new Channel('router', { mandatory: true });
  private readonly clients = new Map<string, ClientState>();
  private readonly workers = new Map<string, WorkerSlot>();
  private readonly ready: WorkerSlot[] = [];
  private readonly queue = new Fifo<Task>();
  private readonly tasks = new Map<number, Task>();
  private nextTask = 1;
  private spawned = 0;
  private stopping = false;
  private stopped: (() => void) | undefined;
  private readonly exits: Promise<void>[] = [];
  endpoints: string[] = [];
  needHandler: NeedHandler | undefined;
  /** Counters shown by `b status`. */
  readonly stats = { dropped: 0, submitted: 0, completed: 0, failed: 0 };

  readonly data: BrokerData;

  constructor(data: BrokerData) {
    this.data = data;
  }

  get workerCount(): number {
    return this.data.workers > 0 ? this.data.workers : availableParallelism();
  }

  async start(): Promise<void> {
    this.frontend.onMessage = (m) => this.onFrontend(m);
    this.backend.onMessage = (m) => this.onBackend(m);
    this.frontend.onSendError = (e) => this.log('debug', `frontend send failed: ${e.message}`);
    this.backend.onSendError = (e) => this.log('debug', `backend send failed: ${e.message}`);
    await this.backend.bind(this.data.backend);
    await this.frontend.bind(this.data.frontend);
    this.endpoints = [this.data.frontend];
    for (const l of this.data.listen) this.endpoints.push(await this.frontend.bind(l));
    this.frontend.start();
    this.backend.start();
    if (!this.data.lazyWorkers) this.ensureWorkers();
  }

  private ensureWorkers(): void {
    while (this.spawned < this.workerCount && !this.stopping) this.spawnWorker();
  }

  private spawnWorker(): void {
    const id = `w${++this.spawned}`;
    const thread = spawnThread({ kind: 'worker', id, backend: this.data.backend, frontend: this.data.frontend }, `b-worker-${id}`);
    const slot: WorkerSlot = {
      id, rid: Buffer.from(id), thread, waiting: false, current: undefined,
      suspended: new Map(), resumes: new Fifo(), exited: false,
    };
    this.workers.set(id, slot);
    thread.on('message', (m: unknown) => parentPort?.postMessage(m));
    thread.on('error', (e) => this.log('error', `worker ${id} crashed: ${e.stack ?? e.message}`));
    this.exits.push(new Promise<void>((resolve) => thread.on('exit', () => {
      slot.exited = true;
      this.onWorkerExit(slot);
      resolve();
    })));
  }

  private onWorkerExit(w: WorkerSlot): void {
    const i = this.ready.indexOf(w);
    if (i >= 0) this.ready.splice(i, 1);
    this.workers.delete(w.id);
    const lost = [...(w.current ? [w.current] : []), ...w.suspended.values()];
    for (const t of lost) {
      this.finish(t, { ok: false, failure: { code: 'worker.died', message: `worker ${w.id} of node ${this.data.nodeId} died while running this item`, where: `${this.data.nodeId}/${w.id}` } });
    }
    if (this.stopping) {
      if (this.workers.size === 0) this.stopped?.();
    } else {
      this.log('warn', `worker ${w.id} exited; starting a replacement`);
      this.spawned--;
      this.spawnWorker();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Frontend: clients.

  private onFrontend(frames: Frames): void {
    const rid = frames[0];
    if (rid === undefined) return;
    const d = decode(frames.slice(1));
    const key = rid.toString('latin1');
    if (isProtocolError(d)) {
      this.stats.dropped++;
      this.frontend.send([rid, ...encode(T.ERROR, 0, failureOf(d))]);
      return;
    }
    let c = this.clients.get(key);
    if (d.type === T.HELLO) {
      const h = parseHello(d.payload);
      if (isProtocolError(h)) {
        this.stats.dropped++;
        this.frontend.send([rid, ...encode(T.ERROR, 0, failureOf(h))]);
        return;
      }
      c = { rid, key, role: h.role, name: h.name, tasks: new Map() };
      this.clients.set(key, c);
      if (h.role !== 'worker-client') {
        this.frontend.send([rid, ...encode(T.WELCOME, 0, { protocol: PROTOCOL_VERSION, b: VERSION, node: this.data.nodeId, workers: this.workerCount })]);
      }
      return;
    }
    if (c === undefined) {
      this.stats.dropped++;
      this.frontend.send([rid, ...encode(T.ERROR, d.id, { code: 'protocol.hello', message: 'send HELLO first', hint: 'client and node run different B releases?' })]);
      return;
    }
    switch (d.type) {
      case T.SUBMIT:
        this.submit({ kind: 'client', client: c, reqId: d.id }, d.payload ?? EMPTY);
        return;
      case T.NEED:
        if (this.needHandler) this.needHandler.need(c, d.id, d.payload ?? EMPTY);
        else this.replyFailure(c, d.id, { code: 'engine.none', message: `node ${this.data.nodeId} has no build loaded` });
        return;
      case T.WAKE:
        this.onWake(c, d.id);
        return;
      case T.CANCEL:
        this.cancel(c, d.id);
        return;
      case T.PING:
        this.frontend.send([rid, ...encode(T.PONG, d.id, { node: this.data.nodeId, free: this.ready.length })]);
        return;
      case T.BYE:
        this.clientGone(c);
        return;
      default:
        this.stats.dropped++;
        this.frontend.send([rid, ...encode(T.ERROR, d.id, { code: 'protocol.direction', message: `${typeName(d.type)} is not a client message` })]);
    }
  }

  replyFailure(c: ClientState, reqId: number, f: Failure): void {
    this.frontend.send([c.rid, ...encode(T.FAILURE, reqId, f)]);
  }

  /** Sends a message body to a client (used by the engine for ANSWER and EVENT). */
  sendTo(c: ClientState, body: Frames): void {
    this.frontend.send([c.rid, ...body]);
  }

  private clientGone(c: ClientState): void {
    this.clients.delete(c.key);
    for (const t of c.tasks.values()) this.dropTask(t);
    this.needHandler?.clientGone?.(c);
  }

  private cancel(c: ClientState, reqId: number): void {
    const t = c.tasks.get(reqId);
    if (t === undefined) return;
    this.dropTask(t);
    this.replyFailure(c, reqId, { code: 'cancelled', message: 'cancelled by the client' });
  }

  /** Forgets a task: queued ones leave the queue; a running one's result will be ignored. */
  private dropTask(t: Task): void {
    this.tasks.delete(t.id);
    if (t.owner.kind === 'client') t.owner.client.tasks.delete(t.owner.reqId);
    if (t.state === 'queued') this.queue.remove((x) => x === t);
  }

  // -------------------------------------------------------------------------------------------
  // Work.

  /** Queues work from inside the broker (the engine): its task id, and its result when done. */
  submitTask(payload: Buffer): { id: number; done: Promise<TaskResult> } {
    let id = 0;
    const done = new Promise<TaskResult>((resolve) => {
      id = this.submit({ kind: 'local', done: resolve }, payload);
    });
    return { id, done };
  }

  private submit(owner: Owner, payload: Buffer): number {
    if (this.stopping) {
      this.complete(owner, { ok: false, failure: { code: 'node.stopping', message: `node ${this.data.nodeId} is stopping` } });
      return 0;
    }
    this.stats.submitted++;
    const t: Task = { id: this.nextTask, payload, owner, state: 'queued' };
    this.nextTask = (this.nextTask + 1) >>> 0 || 1;
    this.tasks.set(t.id, t);
    if (owner.kind === 'client') owner.client.tasks.set(owner.reqId, t);
    const w = this.ready.pop();
    if (w !== undefined) this.give(w, t);
    else {
      this.queue.push(t);
      if (this.spawned < this.workerCount) this.ensureWorkers();
    }
    return t.id;
  }

  private give(w: WorkerSlot, t: Task): void {
    t.state = 'running';
    t.worker = w;
    w.current = t;
    w.waiting = false;
    this.backend.send([w.rid, EMPTY, ...encode(T.WORK, t.id, t.payload)]);
  }

  private onWake(c: ClientState, taskId: number): void {
    const t = this.tasks.get(taskId);
    if (t === undefined) return; // cancelled meanwhile
    const w = t.worker;
    // Only the task's own worker may wake it.
    if (w === undefined || c.role !== 'worker-client' || c.name !== w.id) return;
    if (t.state !== 'suspended') {
      t.wakeEarly = true;
      return;
    }
    this.scheduleResume(w, t);
  }

  private scheduleResume(w: WorkerSlot, t: Task): void {
    if (w.waiting) this.resume(w, t);
    else w.resumes.push(t);
  }

  private resume(w: WorkerSlot, t: Task): void {
    const i = this.ready.indexOf(w);
    if (i >= 0) this.ready.splice(i, 1);
    w.suspended.delete(t.id);
    t.state = 'running';
    w.current = t;
    w.waiting = false;
    this.backend.send([w.rid, EMPTY, ...encode(T.RESUME, t.id)]);
  }

  /** A worker is free: a resume it owes comes first, then queued work, else it waits. */
  private dispatch(w: WorkerSlot): void {
    w.waiting = true;
    w.current = undefined;
    if (this.stopping) {
      this.backend.send([w.rid, EMPTY, ...encode(T.STOP, 0)]);
      w.waiting = false;
      return;
    }
    const r = w.resumes.shift();
    if (r !== undefined) return this.resume(w, r);
    const t = this.queue.shift();
    if (t !== undefined) return this.give(w, t);
    this.ready.push(w);
  }

  // -------------------------------------------------------------------------------------------
  // Backend: workers.

  private onBackend(frames: Frames): void {
    const rid = frames[0];
    if (rid === undefined) return;
    const d = decode(frames.slice(2));
    const w = this.workers.get(rid.toString('latin1'));
    if (w === undefined || isProtocolError(d)) {
      this.stats.dropped++;
      this.log('error', `backend: ${isProtocolError(d) ? d.message : 'message from unknown worker'}`);
      return;
    }
    switch (d.type) {
      case T.READY:
        return this.dispatch(w);
      case T.DONE: {
        const t = this.tasks.get(d.id);
        if (t !== undefined) this.finish(t, { ok: true, payload: d.payload ?? EMPTY, worker: `local/${w.id}` });
        return this.dispatch(w);
      }
      case T.FAIL: {
        const t = this.tasks.get(d.id);
        if (t !== undefined) {
          const f = parseFailure(d.payload);
          this.finish(t, { ok: false, failure: isProtocolError(f) ? { code: 'protocol', message: f.message } : f });
        }
        return this.dispatch(w);
      }
      case T.SUSPEND: {
        const t = this.tasks.get(d.id);
        if (t !== undefined) {
          t.state = 'suspended';
          w.suspended.set(t.id, t);
          if (t.wakeEarly) {
            t.wakeEarly = false;
            w.resumes.push(t);
          }
        }
        return this.dispatch(w);
      }
      default:
        this.stats.dropped++;
        this.log('error', `backend: unexpected ${typeName(d.type)} from worker ${w.id}`);
    }
  }

  private finish(t: Task, r: TaskResult): void {
    if (!this.tasks.delete(t.id)) return; // dropped (cancelled) or already finished
    if (t.worker) {
      t.worker.suspended.delete(t.id);
      if (t.worker.current === t) t.worker.current = undefined;
    }
    if (r.ok) this.stats.completed++;
    else this.stats.failed++;
    if (t.owner.kind === 'client') t.owner.client.tasks.delete(t.owner.reqId);
    this.complete(t.owner, r);
  }

  private complete(owner: Owner, r: TaskResult): void {
    if (owner.kind === 'local') owner.done(r);
    else if (r.ok) this.frontend.send([owner.client.rid, ...encode(T.RESULT, owner.reqId, r.payload)]);
    else this.frontend.send([owner.client.rid, ...encode(T.FAILURE, owner.reqId, r.failure)]);
  }

  // -------------------------------------------------------------------------------------------
  // Stop: cancel, STOP every worker, join them, close sockets.

  async stop(reason: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.needHandler?.stop?.();
    const failure: Failure = { code: 'node.stopping', message: `node ${this.data.nodeId} stopped: ${reason}` };
    for (const t of [...this.tasks.values()]) this.finish(t, { ok: false, failure });
    this.queue.remove(() => true);
    const allExited = new Promise<void>((resolve) => {
      this.stopped = resolve;
      if (this.workers.size === 0) resolve();
    });
    for (const w of this.workers.values()) w.thread.postMessage({ type: 'cancel' });
    for (const w of this.ready.splice(0)) {
      w.waiting = false;
      this.backend.send([w.rid, EMPTY, ...encode(T.STOP, 0)]);
    }
    // A worker stuck in synchronous code cannot read STOP; after a grace period it is
    // terminated (the toolchain notes warn this may abort the process, so it is the last resort).
    const timer = setTimeout(() => {
      for (const w of this.workers.values()) {
        this.log('warn', `worker ${w.id} did not stop within 10 s; terminating it`);
        void w.thread.terminate();
      }
    }, 10_000);
    await allExited;
    await Promise.all(this.exits);
    clearTimeout(timer);
    this.frontend.close();
    this.backend.close();
  }

  log(level: 'error' | 'warn' | 'info' | 'debug', message: string): void {
    parentPort?.postMessage({ type: 'log', level, message });
  }
}

export interface BrokerStarted {
  type: 'started';
  node: string;
  workers: number;
  endpoints: string[];
}

export async function runBroker(data: BrokerData): Promise<void> {
  const b = new Broker(data);
  process.on('uncaughtException', (e) => b.log('error', `broker: uncaught: ${(e as Error).stack ?? String(e)}`));
  process.on('unhandledRejection', (e) => b.log('error', `broker: unhandled rejection: ${String(e)}`));
  let stopReason: string | undefined;
  let wake: (() => void) | undefined;
  parentPort?.on('message', (m: { type?: string; reason?: string }) => {
    if (m.type === 'stop') {
      stopReason = m.reason ?? 'stopped';
      wake?.();
    }
  });
  try {
    // The build engine is loaded with the broker but only does work when a client asks.
    const { BuildHost } = await import('./build-host.ts');
    b.needHandler = new BuildHost(b);
    await b.start();
    parentPort?.postMessage({ type: 'started', node: data.nodeId, workers: b.workerCount, endpoints: b.endpoints } satisfies BrokerStarted);
    if (stopReason === undefined) await new Promise<void>((r) => (wake = r));
  } catch (e) {
    parentPort?.postMessage({ type: 'failed', message: (e as Error).message });
    stopReason = 'start failed';
  }
  await b.stop(stopReason ?? 'stopped');
  parentPort?.postMessage({ type: 'stopped' });
  parentPort?.removeAllListeners('message');
  parentPort?.unref();
}
