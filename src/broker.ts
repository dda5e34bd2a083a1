// The process broker: the seed design's central thread. A frontend ROUTER serves clients (the
// main thread's client and each worker's own client, over inproc); a second ROUTER, bound with
// `--listen`, serves other machines (CurveZMQ-authenticated unless --insecure); a backend ROUTER
// serves the REQ sockets of this process's workers. Load Balancing Pattern: work is handed only
// to a worker that said it is free; otherwise it goes to another node with free credit
// (peers.ts), or waits in a queue. A free worker takes the newest queued item: work that a
// suspended rule just asked for runs first (depth first), so its rule resumes and finishes
// instead of every rule of a wide build being started and held suspended at once (a 100,000-rule
// build peaked at 2 GB that way, and half the time; see README).
//
// The broker forwards work and result bytes without parsing them. It owns its worker threads
// (broker-workers.ts starts them, tracks which is free, replaces one that dies and joins them;
// the broker picks what a free one takes): it fails the items a dead worker held, so no client
// waits forever, and on stop joins them all before it closes its own sockets.

import { parentPort } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { Channel, ZapHandler, type Frames } from './zmq.ts';
import { T, decode, encode, header, failureOf, isProtocolError, parseHello, typeName, DEFAULT_MAX_MESSAGE_BYTES, PROTOCOL_VERSION, type Failure } from './protocol.ts';
import { resultOrThrow, type RemotePayload, type TaskMeta } from './messages.ts';
import { parseNeed, type NeedOp, type NodeStatus } from './need-messages.ts';
import { admitHello, admitSubmit, mayAsk } from './broker-policy.ts';
import { Fifo } from './fifo.ts';
import { NeedForwards } from './need-forwards.ts';
import { LocalWorkers } from './broker-workers.ts';
import { VERSION } from './version.ts';
import { PeerSet, type PeerResult } from './peers.ts';
import { platform, writeFsToken } from './toolchain.ts';
import { isLoopback } from './keys.ts';
import { fetchVerified } from './remote-output.ts';
import { pullOutputs } from './relay.ts';
import type { BrokerData, ClientState, NeedHandler, Owner, Task, TaskResult, WorkerSlot } from './broker-types.ts';
import { decodeFromWorker, threadBug, type FromBroker, type LogLevel } from './thread-messages.ts';

export type { BrokerData, ClientState, NeedHandler, TaskResult } from './broker-types.ts';

const EMPTY = Buffer.alloc(0);
const NO_META: TaskMeta = {};

export class Broker {
  readonly frontend = new Channel('router', { mandatory: true });
  readonly backend = new Channel('router', { mandatory: true });
  remote: Channel | undefined;
  private zap: ZapHandler | undefined;
  private readonly clients = new Map<string, ClientState>();
  private readonly queue = new Fifo<Task>();
  private readonly retry = new Fifo<Task>();
  private readonly tasks = new Map<number, Task>();
  private readonly forwards = new NeedForwards((reason) => this.drop(reason));
  private nextTask = 1;
  private readonly workers: LocalWorkers;
  /** Worker threads started so far (lazily: none until work is placed here). */
  get workersStarted(): number {
    return this.workers.started;
  }
  private stopping = false;
  private sweeper: NodeJS.Timeout | undefined;
  /** Stop now: no more waiting for running work (a second Ctrl-C). */
  hurry = false;
  readonly peers: PeerSet;
  endpoints: string[] = [];
  needHandler: NeedHandler | undefined;
  /** Counters shown by `b status`. */
  readonly stats = { dropped: 0, submitted: 0, completed: 0, failed: 0, refused: 0, remoteRan: 0 };
  readonly dropReasons = new Map<string, number>();
  readonly data: BrokerData;
  readonly started = Date.now();

  constructor(data: BrokerData) {
    this.data = data;
    const hb = data.heartbeatMs ?? 500;
    this.peers = new PeerSet({
      nodeId: data.nodeId,
      finish: (t, r) => this.finish(t as Task, r),
      requeue: (t, reason) => this.requeue(t as Task, reason),
      pump: () => this.pump(),
      need: (reply, name, reqId, op) => this.onNeed(this.pseudoClient(name, reply), reqId, op),
      refused: (reason) => this.drop(reason),
      log: (l, m) => this.log(l, m),
      fsToken: (root) => writeFsToken(root),
    }, hb);
    this.workers = new LocalWorkers(data, {
      exited: (w) => this.onWorkerExit(w),
      message: (w, raw) => {
        const m = decodeFromWorker(raw);
        // The only message (FromWorker): a log line, passed on to the main thread's logger.
        if (isProtocolError(m)) this.log('error', threadBug(`the broker (from worker ${w.id})`, m));
        else this.log(m.level, m.message);
      },
      stopping: () => this.stopping,
      send: (frames) => this.backend.send(frames),
      task: (id) => this.tasks.get(id),
      next: () => this.nextLocal(),
      finish: (t, r) => this.finish(t, r),
      drop: (reason) => this.drop(reason),
      slotCount: () => this.slotCount,
      log: (l, m) => this.log(l, m),
    });
  }

  private fallbackWorkers = 0;

  get workerCount(): number {
    return Math.max(this.fallbackWorkers, this.data.workers >= 0 ? this.data.workers : availableParallelism());
  }

  /** Items this node runs at once: its command slots (threads only run JavaScript). */
  get slotCount(): number {
    return this.workerCount === 0 ? 0 : (this.data.jobs ?? this.workerCount);
  }

  async start(): Promise<void> {
    this.frontend.onMessage = (m) => this.onFrontend(m, this.frontend, false);
    this.backend.onMessage = (m) => this.workers.onBackend(m);
    this.frontend.onSendError = (e) => this.log('debug', `frontend send failed: ${e.message}`);
    this.backend.onSendError = (e) => this.log('debug', `backend send failed: ${e.message}`);
    await this.backend.bind(this.data.backend);
    await this.frontend.bind(this.data.frontend);
    this.endpoints = [this.data.frontend];
    if (this.data.listen.length > 0) {
      if (this.data.key !== undefined) {
        const allow = new Set(this.data.allow ?? []);
        this.zap = await ZapHandler.start((k) => allow.has(k));
      }
      // Clients from other machines get their own socket: they can never pose as this node's
      // workers, and only this one is encrypted and authenticated.
      // libzmq drops a connection that sends a frame over the protocol's limit before it is
      // buffered; smaller frames adding up to more are refused (ERROR) by decode().
      const r = new Channel('router', {
        mandatory: true,
        handover: true,
        maxMessageSize: DEFAULT_MAX_MESSAGE_BYTES,
        heartbeatMs: this.data.heartbeatMs ?? 500,
        ...(this.data.key ? { curve: { ...this.data.key, server: true }, zapDomain: 'b' } : {}),
      });
      r.onMessage = (m) => this.onFrontend(m, r, true);
      r.onSendError = (e) => this.log('debug', `remote send failed: ${e.message}`);
      this.remote = r;
      for (const l of this.data.listen) this.endpoints.push(await r.bind(l));
      r.start();
    }
    this.frontend.start();
    this.backend.start();
    for (const p of this.data.peers ?? []) this.peers.add({ address: p.address, serverKey: p.serverKey, clientKey: this.data.clientKey });
    this.sweeper = setInterval(() => this.sweep(), this.peers.heartbeatMs);
    if (!this.data.lazyWorkers) this.ensureWorkers();
  }

  private ensureWorkers(): void {
    this.workers.ensure(this.workerCount);
  }

  /** A worker thread ended (broker-workers.ts replaces it unless stopping): its items fail. */
  private onWorkerExit(w: WorkerSlot): void {
    for (const t of [...(w.current ? [w.current] : []), ...w.suspended.values()]) {
      this.finish(t, { ok: false, failure: { code: 'worker.died', message: `worker ${w.id} of node ${this.data.nodeId} died while running this item`, where: `${this.data.nodeId}/${w.id}` } });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Clients.

  private drop(reason: string): void {
    this.stats.dropped++;
    this.dropReasons.set(reason, (this.dropReasons.get(reason) ?? 0) + 1);
  }

  /** Refuses a message: counted (b status) and answered, so the peer learns why. */
  private refuse(send: (body: Frames) => void, type: typeof T.ERROR | typeof T.FAILURE, id: number, reason: string, f: Failure): void {
    this.drop(reason);
    send(encode(type, id, f));
  }

  private onFrontend(frames: Frames, ch: Channel, remote: boolean): void {
    const rid = frames[0];
    if (rid === undefined) return;
    const d = decode(frames, undefined, 1);
    const key = (remote ? 'r:' : 'l:') + rid.toString('latin1');
    let c = this.clients.get(key);
    if (c !== undefined && !isProtocolError(d) && d.type === T.SUBMIT) {
      // The hot path (every work item), first and without allocations beyond the task.
      if (remote) c.lastSeen = Date.now();
      return this.onSubmit(c, d.id, d.payload ?? EMPTY, d.payload2 ?? EMPTY);
    }
    const send = (body: Frames): void => ch.send([rid, ...body]);
    if (isProtocolError(d)) return this.refuse(send, T.ERROR, 0, d.error, failureOf(d));
    if (c !== undefined) c.lastSeen = Date.now();
    if (d.type === T.HELLO) {
      const h = parseHello(d.payload);
      if (isProtocolError(h)) return this.refuse(send, T.ERROR, 0, h.error, failureOf(h));
      const admitted = admitHello(h.role, remote, rid, this.data);
      if ('reason' in admitted) {
        this.log('debug', `HELLO from ${h.name} refused: ${admitted.failure.message}`);
        return this.refuse(send, T.ERROR, 0, admitted.reason, admitted.failure);
      }
      const { identity } = admitted;
      // A reconnect: the same session id, so the same key (and process): it replaces its own
      // session, never another key's.
      if (c !== undefined) this.clientGone(c, true);
      c = { key, identity, role: h.role, name: h.name, via: remote ? 'remote' : 'inproc', remote, bytes: 0, send, lastSeen: Date.now(), tasks: new Map() };
      this.clients.set(key, c);
      if (h.role !== 'worker-client') send(encode(T.WELCOME, 0, this.welcome()));
      return;
    }
    if (c === undefined) {
      return this.refuse(send, T.ERROR, d.id, 'no-hello', { code: 'protocol.hello', message: 'send HELLO first', hint: 'client and node run different B releases, or the node restarted' });
    }
    switch (d.type) {
      case T.SUBMIT:
        return this.onSubmit(c, d.id, d.payload ?? EMPTY, d.payload2 ?? EMPTY);
      case T.NEED: {
        const op = parseNeed(d.payload);
        if (isProtocolError(op)) return this.refuse(c.send, T.FAILURE, d.id, `need.${op.error}`, failureOf(op));
        return this.onNeed(c, d.id, op);
      }
      case T.ANSWER:
      case T.FAILURE:
        return this.forwards.answer(c, d.type, d.id, d.payload);
      case T.WAKE:
        if (!remote) this.onWake(c, d.id);
        else this.drop('direction');
        return;
      case T.CANCEL:
        return this.cancel(c, d.id);
      case T.PING:
        send(encode(T.PONG, d.id, { node: this.data.nodeId, free: this.workers.idle, workers: this.slotCount + this.peers.capacity(), local: this.slotCount }));
        return;
      case T.PONG:
        return;
      case T.BYE:
        return this.clientGone(c, true);
      default:
        return this.refuse(send, T.ERROR, d.id, 'direction', { code: 'protocol.direction', message: `${typeName(d.type)} is not a client message` });
    }
  }

  private welcome(): object {
    return {
      protocol: PROTOCOL_VERSION, b: VERSION, node: this.data.nodeId, workers: this.slotCount + this.peers.capacity(), local: this.slotCount, platform: platform(),
    };
  }

  private onSubmit(c: ClientState, reqId: number, metaBuf: Buffer, work: Buffer): void {
    const ok = admitSubmit(c, reqId, metaBuf, work, { nodeId: this.data.nodeId, cacheWriters: this.data.cacheWriters ?? [] });
    if ('reason' in ok) return this.refuse(c.send, T.FAILURE, reqId, ok.reason, ok.failure);
    const { meta, pull } = ok;
    if (meta.via?.includes(this.data.nodeId)) {
      c.send(encode(T.FAILURE, reqId, { code: 'loop', message: `node ${this.data.nodeId} already handled this item` }));
      return;
    }
    this.submit({ kind: 'client', client: c, reqId, ...(pull ? { pull } : {}) }, work, meta);
  }

  /** A NEED, decoded: the broker's status, or the engine's (build, a rule's need, a blob). */
  private onNeed(c: ClientState, reqId: number, op: NeedOp): void {
    const no = mayAsk(c, op, (task) => this.tasks.get(task)?.worker?.id);
    if (no !== undefined) return this.refuse(c.send, T.FAILURE, reqId, 'need.role', { code: 'need.role', message: no, where: this.data.nodeId });
    if (op.op === 'status') {
      c.send(encode(T.ANSWER, reqId, this.status()));
      return;
    }
    if (this.needHandler) this.needHandler.need(c, reqId, op);
    else c.send(encode(T.FAILURE, reqId, { code: 'engine.none', message: `node ${this.data.nodeId} has no build loaded` }));
  }

  /** A client standing for a peer connection (answers go back through our DEALER to it). */
  private pseudoClient(name: string, reply: (body: Frames) => void): ClientState {
    return { key: `p:${name}`, identity: `node:${name}`, role: 'peer', name, via: 'node', remote: true, bytes: 0, send: reply, lastSeen: Date.now(), tasks: new Map() };
  }

  /**
   * A rule running here, on work that came from another node, needs answers: they come from the
   * build's origin, so the question goes back to the client that gave us the item.
   */
  forwardNeed(from: ClientState, reqId: number, req: NeedOp & { op: 'need' | 'blob' }): boolean {
    const t = this.tasks.get(req.task);
    if (t === undefined || t.owner.kind !== 'client') return false;
    this.forwards.send(t.owner.client, { ...req, task: t.owner.reqId }, from.send, reqId);
    return true;
  }

  replyFailure(c: ClientState, reqId: number, f: Failure): void {
    c.send(encode(T.FAILURE, reqId, f));
  }

  sendTo(c: ClientState, body: Frames): void {
    c.send(body);
  }

  private clientGone(c: ClientState, said: boolean): void {
    if (this.clients.get(c.key) === c) this.clients.delete(c.key);
    for (const t of c.tasks.values()) this.dropTask(t);
    // Questions waiting for this client's answers will get none.
    this.forwards.clientGone(c);
    this.needHandler?.clientGone?.(c);
    if (!said && c.remote) this.log('info', `client ${c.name} went away; its work was cancelled`);
  }

  /** Remote clients that stopped sending (dead machine, cut network) lose their work. */
  private sweep(): void {
    this.pump();
    const now = Date.now();
    for (const c of this.clients.values()) {
      if (c.remote && now - c.lastSeen > this.peers.deadMs * 2) this.clientGone(c, false);
    }
  }

  private cancel(c: ClientState, reqId: number): void {
    const t = c.tasks.get(reqId);
    if (t === undefined) return;
    this.dropTask(t);
  }

  /** Forgets a task: queued ones leave the queue, running ones are cancelled where they run. */
  private dropTask(t: Task): void {
    this.tasks.delete(t.id);
    if (t.owner.kind === 'client') this.release(t.owner.client, t);
    if (t.state === 'queued') {
      this.queue.remove((x) => x === t);
      this.retry.remove((x) => x === t);
    } else if (t.state === 'remote') this.peers.cancel(t);
    else if (t.worker !== undefined) {
      this.workers.cancelTask(t.worker, t.id);
      if (t.busy) {
        this.workers.unbusy(t);
        this.pump();
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Work.

  /**
   * Queues work from inside the broker (the engine): its task id, and its result when done.
   * `remote` gives the self-contained payload for nodes that do not share this machine's files.
   */
  submitTask(payload: Buffer, meta: TaskMeta = NO_META, remote?: RemotePayload): { id: number; done: Promise<TaskResult> } {
    let id = 0;
    const done = new Promise<TaskResult>((resolve) => {
      id = this.submit({ kind: 'local', done: resolve }, payload, meta, remote);
    });
    return { id, done };
  }

  /**
   * Copies a blob from a node's store into `dest` (a new temp file), chunk by chunk, verified
   * against its digest and size while it arrives (remote execution outputs; see fetchVerified).
   */
  async fetchBlob(node: string, hex: string, size: number, dest: string): Promise<void> {
    await fetchVerified(node, hex, size, dest, async (offset, length) => {
      const r = resultOrThrow('cas-get', await this.peers.call(node, { k: 'cas-get', digest: hex, offset, length }), `node ${node}`);
      return Buffer.from(r.data, 'base64');
    });
  }

  private submit(owner: Owner, payload: Buffer, meta: TaskMeta, remote?: RemotePayload): number {
    if (this.stopping) {
      this.complete(owner, { ok: false, failure: { code: 'node.leaving', message: `node ${this.data.nodeId} is stopping` } });
      return 0;
    }
    this.stats.submitted++;
    const t: Task = { id: this.nextTask, payload, remote, meta, owner, state: 'queued', peer: undefined, attempt: 0 };
    this.nextTask = (this.nextTask + 1) >>> 0 || 1;
    this.tasks.set(t.id, t);
    if (owner.kind === 'client') {
      owner.client.tasks.set(owner.reqId, t);
      owner.client.bytes += payload.length;
    }
    this.place(t, this.queue);
    return t.id;
  }

  /**
   * With --local 0 this machine's workers exist only as a fallback: they run what no node can
   * (links that need the local files, a tool no node has), never what a node could take.
   */
  private localMayRun(t: Task): boolean {
    return this.data.workers !== 0 || this.peers.noneCanRun(t);
  }

  /** Local slots first; then the node with the most free credit; else wait. */
  private place(t: Task, q: Fifo<Task>): void {
    if (this.workers.canTake() && this.localMayRun(t)) return this.workers.give(t);
    const p = this.peers.pick(t);
    if (p !== undefined) {
      t.state = 'remote';
      this.peers.send(p, t);
      return;
    }
    t.state = 'queued';
    t.queuedAt = Date.now();
    q.push(t);
    this.checkFallback();
    if (this.workers.started < this.workerCount) this.ensureWorkers();
  }

  /**
   * Configured to send everything to other nodes (--local 0), with work waiting and no node that
   * can take it: run it here rather than wait forever, and say so.
   */
  private checkFallback(): void {
    if (this.workerCount > 0 || this.queue.length + this.retry.length === 0) return;
    const availability = this.peers.availability();
    // Nodes are up but none takes the oldest waiting item (it needs this machine's files, or a
    // tool they lack; or their probes never answer) for a while: it can only run here. Work
    // that waits for a credit on a node that can run it is not stuck: it waits its turn.
    const oldest = this.retry.peek() ?? this.queue.peek();
    const stuck = availability === 'alive' && oldest !== undefined && this.peers.pick(oldest) === undefined &&
      (this.peers.noneCanRun(oldest) ||
        (!this.peers.couldRun(oldest) && oldest.queuedAt !== undefined && Date.now() - oldest.queuedAt > this.peers.deadMs));
    if (availability !== 'none' && !stuck) return;
    this.fallbackWorkers = availableParallelism();
    this.log('warn', stuck
      ? 'work waits that no node can run (it needs this machine\'s files or tools); running it on this machine'
      : `no other node can take work now (${this.peers.peers.length === 0 ? 'none configured' : 'none reachable'}); running it on this machine`);
    this.ensureWorkers();
  }

  private requeue(t: Task, reason: string): void {
    if (!this.tasks.has(t.id)) return;
    t.note = reason;
    this.place(t, this.retry);
  }

  /** Nodes have free credit again: hand them queued work they can run. */
  private pump(): void {
    this.checkFallback();
    for (const q of [this.retry, this.queue]) {
      if (q.length === 0 || this.peers.freeSlots() <= 0) continue;
      // Scan past items no node can take (they wait for this machine's workers): one of them
      // at the head must not hold back the rest.
      const sent = new Set<Task>();
      let budget = 512;
      for (const t of q) {
        if (budget-- <= 0 || this.peers.freeSlots() <= 0) break;
        const p = this.peers.pick(t);
        if (p === undefined) continue;
        sent.add(t);
        t.state = 'remote';
        this.peers.send(p, t);
      }
      if (sent.size > 0) q.remove((x) => sent.has(x));
    }
    // Idle local workers may now run what no node can take (a probe just said so).
    if (this.queue.length + this.retry.length > 0) this.workers.offerIdle();
  }

  private onWake(c: ClientState, taskId: number): void {
    const t = this.tasks.get(taskId);
    if (t === undefined) return; // cancelled meanwhile
    const w = t.worker;
    if (w === undefined || c.role !== 'worker-client' || c.name !== w.id) return;
    if (t.state !== 'suspended' && t.state !== 'parked') {
      t.wakeEarly = true;
      return;
    }
    this.workers.wake(w, t);
  }

  /** What a free local worker (with a free command slot) takes: retried work, then the newest queued. */
  private nextLocal(): Task | undefined {
    if (this.data.workers !== 0) return this.retry.shift() ?? this.queue.pop();
    // --local 0: only what no node can run.
    let t: Task | undefined;
    for (const q of [this.retry, this.queue]) {
      const [first] = q.remove((x) => t === undefined && this.peers.noneCanRun(x) && (t = x) !== undefined);
      if (first !== undefined) break;
    }
    return t;
  }

  private finish(t: Task, r: PeerResult): void {
    if (!this.tasks.delete(t.id)) return; // dropped (cancelled) or already finished
    this.workers.unbusy(t);
    if (t.worker) {
      t.worker.suspended.delete(t.id);
      if (t.worker.current === t) t.worker.current = undefined;
    }
    if (r.ok) {
      this.stats.completed++;
      if (!r.worker.startsWith('local/')) this.stats.remoteRan++;
    } else this.stats.failed++;
    if (t.owner.kind === 'client') this.release(t.owner.client, t);
    const done: TaskResult = r.ok && t.note !== undefined ? { ...r, note: t.note } : r;
    const owner = t.owner;
    if (done.ok && owner.kind === 'client' && owner.pull !== undefined && !done.worker.startsWith('local/')) {
      // Another node ran it: its outputs come here first, verified, for the client to fetch (relay.ts).
      const from = done.worker;
      void pullOutputs(owner.pull, done.payload, from, (hex, size, dest) => this.fetchBlob(from, hex, size, dest)).then((f) => {
        if (f?.fields?.farNode === true) this.peers.unhealthy(from, f.message);
        this.complete(owner, f === undefined ? done : { ok: false, failure: { ...f, where: this.data.nodeId } });
      });
      return;
    }
    this.complete(owner, done);
  }

  /** The client's item left this node: it no longer counts against the client's bytes. */
  private release(c: ClientState, t: Task): void {
    if (t.owner.kind !== 'client' || c.tasks.get(t.owner.reqId) !== t) return;
    c.tasks.delete(t.owner.reqId);
    c.bytes -= t.payload.length;
  }

  private complete(owner: Owner, r: TaskResult): void {
    if (owner.kind === 'local') owner.done(r);
    else if (r.ok) owner.client.send([header(T.RESULT, owner.reqId), r.payload]);
    else owner.client.send(encode(T.FAILURE, owner.reqId, r.failure));
  }

  /** Messages this broker sent and received on all its sockets (benchmarks). */
  messages(): { sent: number; received: number } {
    const all = [this.frontend, this.backend, ...(this.remote ? [this.remote] : []), ...this.peers.peers.map((p) => p.ch)];
    return all.reduce((a, c) => ({ sent: a.sent + c.counts.sent, received: a.received + c.counts.received }), { sent: 0, received: 0 });
  }

  status(): NodeStatus {
    const busy = this.workers.busyWorkers();
    return {
      node: this.data.nodeId,
      b: VERSION,
      protocol: PROTOCOL_VERSION,
      platform: platform(),
      pid: process.pid,
      uptime: Math.round((Date.now() - this.started) / 1000),
      workers: this.workerCount,
      jobs: this.slotCount,
      running: this.workers.running,
      busy,
      queued: this.queue.length + this.retry.length,
      endpoints: this.endpoints,
      secure: this.data.key !== undefined,
      insecure: this.data.key === undefined && this.data.listen.some((l) => !isLoopback(l)),
      files: 'shared: commands run on the client\'s paths, which this node must see (same machine or network filesystem)',
      // Names and keys only: routing ids are credentials on keyed sockets and stay here.
      clients: [...this.clients.values()].filter((c) => c.role !== 'worker-client').map((c) => ({ name: c.name, role: c.role, remote: c.remote, key: c.identity.slice(0, 12), tasks: c.tasks.size })),
      peers: this.peers.status(),
      stats: { ...this.stats, refused: this.zap?.refused ?? 0 },
      messages: this.messages(),
      dropped: Object.fromEntries(this.dropReasons),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Stop: hand back queued work, let running work finish (drain), STOP workers, close sockets.

  async stop(reason: string, drainMs = 0): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.needHandler?.stop?.();
    const leaving: Failure = { code: 'node.leaving', message: `node ${this.data.nodeId} is leaving (${reason}); run this elsewhere` };
    for (const q of [this.retry, this.queue]) for (const t of q.remove(() => true)) this.finish(t, { ok: false, failure: leaving });
    if (drainMs > 0) {
      const t0 = Date.now();
      while (!this.hurry && Date.now() - t0 < drainMs && [...this.tasks.values()].some((t) => t.state === 'running' || t.state === 'suspended')) {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    for (const t of [...this.tasks.values()]) this.finish(t, { ok: false, failure: leaving });
    await this.workers.join();
    if (this.sweeper) clearInterval(this.sweeper);
    // Clients on other machines hear that we leave, so they stop waiting for heartbeats.
    for (const c of this.clients.values()) if (c.remote) c.send(encode(T.ERROR, 0, { code: 'node.leaving', message: `node ${this.data.nodeId} stopped` }));
    this.peers.close();
    await new Promise((r) => setTimeout(r, this.clients.size > 0 ? 50 : 0));
    this.zap?.close();
    this.remote?.close();
    this.frontend.close();
    this.backend.close();
  }

  log(level: LogLevel, message: string): void {
    parentPort?.postMessage({ type: 'log', level, message } satisfies FromBroker);
  }
}
