// A worker thread: runs work items handed out by the process broker.
//
// Two sockets, as in the seed design:
// - a REQ socket to the broker's backend, used in lockstep. Every message the worker sends on
//   it (READY, DONE, FAIL, SUSPEND) means "my slot is free"; the broker answers with the next
//   WORK, a RESUME, or STOP. So a worker runs at most one item at a time, and `--workers N`
//   bounds parallelism exactly.
// - a DEALER socket to the broker's frontend: the worker's own *client*, through which a running
//   item asks for more work or for answers (circular connection).
//
// How this avoids the original C design's deadlock (every worker blocked waiting on work that
// no free worker could run): an item that waits on its client is *suspended*: the worker sends
// SUSPEND and takes other work. When all its answers are back the worker sends WAKE (on its
// client), and the broker hands the item back with RESUME as soon as the worker is free. The
// answers are held until RESUME, so a suspended item never runs beside the active one.

import { parentPort } from 'node:worker_threads';
import { Channel, ReqChannel, type Frames } from './zmq.ts';
import { T, decode, encode, header, isProtocolError, parseFailure, typeName, type Failure } from './protocol.ts';
import { killAll, useCommandSlots } from './exec.ts';
import { closeSpawner, startSpawner } from './spawner.ts';
import { handle } from './jobs.ts';
import { WorkerFailure, type TaskContext } from './task-context.ts';

export { WorkerFailure };
import { VERSION } from './version.ts';
import { decodeToWorker, threadBug, type FromWorker, type LogLevel } from './thread-messages.ts';

export interface WorkerData {
  id: string;
  /** The node this worker belongs to: commands see it as $B_NODE. */
  node: string;
  backend: string;
  frontend: string;
  /** Load what running work needs before the first item comes (long-lived `b node`s). */
  warm?: boolean;
  /** The node's command slots (exec.ts), shared by all its workers; absent: unbounded. */
  slots?: SharedArrayBuffer;
}

interface Pending {
  task: number;
  ok: (payload: Buffer) => void;
  fail: (f: Failure) => void;
}

interface TaskState {
  id: number;
  /** Requests on the client socket not yet answered. */
  waiting: number;
  /** Answers received while suspended, delivered on RESUME. */
  held: (() => void)[];
  /** Requests created in the current tick, sent together. */
  batch: Frames[];
  /** Made on first use: most items never look at their signal. */
  abort: AbortController | undefined;
  /** Cancelled before anyone asked for the signal. */
  cancelled: boolean;
  /** Started waiting on something that is no request (a child process): suspend at the flush. */
  park: boolean;
  /** Waits on commands (not on answers): it is suspended with PARK, and keeps its local slot. */
  commands: number;
}

function abortTask(t: TaskState): void {
  t.cancelled = true;
  t.abort?.abort();
}

class WorkerThread {
  private readonly req: ReqChannel;
  private readonly client: Channel;
  private readonly tasks = new Map<number, TaskState>();
  private readonly pending = new Map<number, Pending>();
  private nextReq = 1;
  private active: number | undefined;
  private slotFreed: ((m: Frames) => void) | undefined;
  private flushScheduled = false;
  private stopping = false;

  private readonly data: WorkerData;

  constructor(data: WorkerData) {
    this.data = data;
    this.req = new ReqChannel({ routingId: data.id });
    this.client = new Channel('dealer', { routingId: `${data.id}.c` });
  }

  async run(): Promise<void> {
    this.req.connect(this.data.backend);
    this.client.connect(this.data.frontend);
    this.client.onMessage = (m) => this.onClientMessage(m);
    this.client.start();
    // The worker's client needs no HELLO round trip of its own: the broker knows its workers'
    // clients by routing id. It still introduces itself, so the broker can check versions.
    this.client.send(encode(T.HELLO, 0, { protocol: 1, b: VERSION, role: 'worker-client', name: this.data.id }));
    let msg: Frames = encode(T.READY, 0, { worker: this.data.id });
    try {
      for (;;) {
        const reply = await this.req.request(msg);
        if (reply === undefined) break;
        const d = decode(reply);
        if (isProtocolError(d)) {
          log('error', `worker ${this.data.id}: bad message from broker: ${d.message}`);
          break;
        }
        if (d.type === T.STOP) break;
        if (d.type === T.WORK && d.payload !== undefined) {
          msg = await this.runSlot(() => this.start(d.id, d.payload as Buffer));
        } else if (d.type === T.RESUME) {
          msg = await this.runSlot(() => this.resume(d.id));
        } else {
          log('error', `worker ${this.data.id}: unexpected ${typeName(d.type)} from broker`);
          break;
        }
      }
    } finally {
      this.stopping = true;
      killAll();
      for (const t of this.tasks.values()) abortTask(t);
      this.client.close();
      this.req.close();
    }
  }

  /** Stops every running command and signals every task to give up (node stopping). */
  cancelAll(): void {
    killAll();
    for (const t of this.tasks.values()) abortTask(t);
  }

  /** Stops one task (its client went away): its command is killed, it fails, the slot frees. */
  cancel(id: number): void {
    const t = this.tasks.get(id);
    if (t !== undefined) abortTask(t);
  }

  /** Gives the slot to a task and resolves with the message that frees it again. */
  private runSlot(begin: () => void): Promise<Frames> {
    return new Promise<Frames>((resolve) => {
      this.slotFreed = resolve;
      begin();
    });
  }

  private freeSlot(m: Frames): void {
    const f = this.slotFreed;
    this.slotFreed = undefined;
    this.active = undefined;
    f?.(m);
  }

  private start(id: number, payload: Buffer): void {
    const t: TaskState = { id, waiting: 0, held: [], batch: [], abort: undefined, cancelled: false, park: false, commands: 0 };
    this.tasks.set(id, t);
    this.active = id;
    const self = this;
    const ctx: TaskContext = {
      worker: this.data.id,
      task: id,
      get signal(): AbortSignal {
        if (t.abort === undefined) {
          t.abort = new AbortController();
          if (t.cancelled) t.abort.abort();
        }
        return t.abort.signal;
      },
      submit: (work) => self.request(t, T.SUBMIT, [{}, work]),
      need: (q) => self.request(t, T.NEED, q),
      wait: (p) => self.wait(t, p),
    };
    let result: Promise<Buffer>;
    try {
      result = handle(payload, ctx);
    } catch (e) {
      result = Promise.reject(e);
    }
    result.then(
      (out) => this.finish(t, [header(T.DONE, id), out]),
      (e: unknown) => this.finish(t, encode(T.FAIL, id, failureFrom(e, this.data.id))),
    );
  }

  private finish(t: TaskState, m: Frames): void {
    if (this.active !== t.id && t.cancelled) {
      this.tasks.delete(t.id); // run on after its cancel (answered): nobody waits for its result
      return;
    }
    if (this.active !== t.id && this.tasks.get(t.id) === t) {
      // The body settled while suspended (a request it never awaited): it holds no slot, so
      // report it when the broker resumes it, once those requests are answered.
      t.held.push(() => this.finish(t, m));
      return;
    }
    this.tasks.delete(t.id);
    if (this.active === t.id) this.freeSlot(m);
    else if (!this.stopping) log('error', `worker ${this.data.id}: task ${t.id} finished while suspended; its result is lost`);
  }

  private resume(id: number): void {
    const t = this.tasks.get(id);
    if (t === undefined) {
      // The task was cancelled meanwhile; report it so the slot is accounted for.
      this.freeSlot(encode(T.FAIL, id, { code: 'cancelled', message: `task ${id} is gone`, where: this.data.id }));
      return;
    }
    this.active = id;
    const held = t.held;
    t.held = [];
    for (const f of held) f();
  }

  /** A request from a running task through the worker's client socket. */
  private request(t: TaskState, type: typeof T.SUBMIT | typeof T.NEED, body: Buffer | object | (Buffer | object)[]): Promise<Buffer> {
    const id = this.nextReq++;
    t.waiting++;
    t.batch.push(encode(type, id, body));
    this.scheduleFlush();
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, {
        task: t.id,
        ok: resolve,
        fail: (f) => reject(new WorkerFailure(f)),
      });
    });
  }

  /**
   * A task waits on something that is not the broker (a command it started): the same suspension
   * as a request. The worker sends SUSPEND and takes other work while the child runs, and the task
   * is resumed (WAKE, then RESUME when the worker is free) once `p` settles. So a worker thread is
   * busy only while JavaScript runs, and `-j` commands need no more threads than CPUs: at -j200,
   * one isolate per running command cost 2.8 GiB and 84 s for 400 half-second sleeps.
   */
  private wait<R>(t: TaskState, p: Promise<R>): Promise<R> {
    t.waiting++;
    t.commands++;
    t.park = true;
    this.scheduleFlush();
    const done = (): void => {
      t.commands--;
    };
    return new Promise<R>((resolve, reject) => {
      p.then(
        (v) => this.answered(t, () => resolve(v), done),
        (e: unknown) => this.answered(t, () => reject(e), done),
      );
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Sends the tick's requests, and suspends the active task if it is now waiting. */
  private flush(): void {
    this.flushScheduled = false;
    for (const t of this.tasks.values()) {
      if (t.batch.length === 0 && !t.park) continue;
      for (const m of t.batch) this.client.send(m);
      t.batch = [];
      t.park = false;
      // PARK when only commands are awaited: the broker still counts the task against this
      // node's command slots (a task waiting on answers holds none, see broker.ts).
      if (this.active === t.id && t.waiting > 0) this.freeSlot(encode(t.commands === t.waiting ? T.PARK : T.SUSPEND, t.id));
    }
  }

  /** One thing task `t` waited for is here: deliver it now if `t` runs, else when it resumes. */
  private answered(t: TaskState, deliver: () => void, settled?: () => void): void {
    if (this.tasks.get(t.id) !== t) return; // cancelled meanwhile
    settled?.();
    t.held.push(deliver);
    t.waiting--;
    if (t.waiting > 0) return;
    if (this.active === t.id || t.cancelled) {
      // Answered before the task gave up its slot (it was not suspended): deliver now. Or it was
      // cancelled while suspended: the broker forgot it and sends no RESUME, so it is run on to
      // its end now (what it waits for next fails: its signal is aborted, its requests name a
      // task the broker no longer has), its finally blocks run (a fenced attempt's sandbox is
      // removed; before, it stayed until the node restarted) and its result is dropped.
      const held = t.held;
      t.held = [];
      for (const f of held) f();
    } else {
      this.client.send(encode(T.WAKE, t.id));
    }
  }

  private onClientMessage(frames: Frames): void {
    const d = decode(frames);
    if (isProtocolError(d)) {
      log('error', `worker ${this.data.id}: bad reply from broker: ${d.message}`);
      return;
    }
    if (d.type === T.WELCOME) return;
    if (d.type === T.ERROR) {
      const f = parseFailure(d.payload);
      log('error', `worker ${this.data.id}: broker refused its client: ${isProtocolError(f) ? f.message : f.message}`);
      return;
    }
    const p = this.pending.get(d.id);
    if (p === undefined) return; // a reply to a cancelled task
    const t = this.tasks.get(p.task);
    if (t === undefined) return;
    this.pending.delete(d.id);
    if (d.type === T.RESULT || d.type === T.ANSWER) {
      const payload = d.payload ?? Buffer.alloc(0);
      this.answered(t, () => p.ok(payload));
    } else if (d.type === T.FAILURE) {
      const f = parseFailure(d.payload);
      this.answered(t, () => p.fail(isProtocolError(f) ? { code: 'protocol', message: f.message } : f));
    }
  }
}

export function failureFrom(e: unknown, where: string): Failure {
  if (e instanceof WorkerFailure) return e.failure;
  const err = e instanceof Error ? e : new Error(String(e));
  const f: Failure = { code: 'work.threw', message: err.message, where };
  const stack = err.stack?.split('\n').slice(1, 6).join('\n');
  if (stack) f.fields = { stack };
  return f;
}

function log(level: LogLevel, message: string): void {
  parentPort?.postMessage({ type: 'log', level, message } satisfies FromWorker);
}

/**
 * A fresh thread pays ~45 ms of CPU on its first item: compiling the job modules and starting
 * Node's ES module loader (which every Bfile import goes through). A build node starts its
 * workers long before builds come, so it pays that up front, in idle time, instead of on the
 * first build's critical path (32 worker threads on 2 CPUs: 1.4 s of CPU).
 */
async function warmUp(): Promise<void> {
  try {
    await Promise.all([import('./bfile-run.ts'), import('./ninja-run.ts'), import('./toolchain.ts'), import('./rexec.ts')]);
    const tiny: string = 'data:text/javascript,export default 0';
    await import(tiny);
  } catch {
    // Only a head start: the first item loads what it needs anyway.
  }
}

export async function runWorker(data: WorkerData): Promise<void> {
  // Worker threads have their own copy of the environment: commands started here see the node.
  process.env.B_NODE = data.node;
  // An exception escaping a task must not end the thread: a thread that ends with open sockets
  // aborts the whole process. Report it and keep serving.
  process.on('uncaughtException', (e) => log('error', `worker ${data.id}: uncaught: ${(e as Error).stack ?? String(e)}`));
  process.on('unhandledRejection', (e) => log('error', `worker ${data.id}: unhandled rejection: ${String(e)}`));
  useCommandSlots(data.slots);
  // The spawn helper boots (~50 ms) while this thread loads its first item, so the first
  // command does not wait for it.
  startSpawner();
  const w = new WorkerThread(data);
  const onParent = (raw: unknown): void => {
    const m = decodeToWorker(raw);
    if (isProtocolError(m)) return log('error', threadBug(`worker ${data.id}`, m));
    if (m.type === 'cancel') w.cancelAll();
    else w.cancel(m.task);
  };
  parentPort?.on('message', onParent);
  if (data.warm === true) void warmUp();
  try {
    await w.run();
  } catch (e) {
    log('error', `worker ${data.id} failed: ${(e as Error).stack ?? String(e)}`);
  }
  parentPort?.off('message', onParent); // Deno: parentPort.removeAllListeners throws ERR_NOT_IMPLEMENTED
  await closeSpawner();
  parentPort?.unref();
}
