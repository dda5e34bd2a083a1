// Other build nodes, seen from a process broker: the federation half of the broker.
//
// The broker connects one DEALER to each remote node's frontend (CurveZMQ when the node's key is
// pinned) and introduces itself as a `peer`. Flow control is credit-based: a node advertises
// its worker count, and at most that many items (plus a small pipeline to hide the round trip)
// are in flight to it; a result frees a credit. Placement prefers the node with the most free
// credits, so work spreads in proportion to free slots instead of one item at a time. An item
// whose rule waits for answers from us (a NEED not yet answered) is suspended on the node and
// holds no credit until the answer goes back.
//
// Faults: both sides send heartbeats. A node that is silent for `deadMs` (killed, frozen with
// SIGSTOP, network cut) is declared dead: its in-flight items are placed again (elsewhere or
// locally), its socket is closed and replaced (dropping anything still queued for it), and a
// HELLO is retried until it answers and rejoins. Every attempt has its own request id, so a
// late answer from a node declared dead matches nothing and is ignored: work is never applied
// twice. Each item carries the nodes it went through (`via`); a node never hands an item back
// to one of them, so cycles in the peering graph cannot bounce work around.

import { randomBytes } from 'node:crypto';
import { Channel, type Curve, type Frames } from './zmq.ts';
import { Peer, type PeerOptions, type PlacedTask, type PeerResult } from './peer-node.ts';
import {
  T, decode, encode, isProtocolError, parseFailure, parsePong, parseWelcome, PROTOCOL_VERSION, type Failure,
} from './protocol.ts';
import { VERSION } from './version.ts';
import { platform } from './toolchain.ts';
import { parseResult, type ProbeResult, type TaskMeta, type ToolPrint } from './messages.ts';
import { parseNeed, type BlobRequest, type NeedRequest, type PeerStatus } from './need-messages.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from './protocol.ts';
import { sessionId } from './keys.ts';

export type { TaskMeta, PlacedTask, PeerResult, PeerOptions };

export interface PeerHost {
  nodeId: string;
  finish(t: PlacedTask, r: PeerResult): void;
  requeue(t: PlacedTask, reason: string): void;
  pump(): void;
  /** A NEED sent by a rule running on a peer; its `task` is already our task id. */
  need(reply: (body: Frames) => void, peerName: string, reqId: number, op: NeedRequest | BlobRequest): void;
  /** A message from a node that it may not send (counted as a refusal). */
  refused(reason: string): void;
  log(level: 'error' | 'warn' | 'info' | 'debug', message: string): void;
  /** Writes a probe file under a build root: its path and content. */
  fsToken(root: string): { file: string; token: string } | undefined;
}

/** Codes with which a node hands an item back instead of failing it. */
const RETRYABLE = new Set(['node.leaving', 'node.stopping', 'worker.died', 'loop', 'client.gone', 'node.unhealthy']);
/** How long a node whose own system failed (disk full, ...) gets no work: long enough not to fail every item on it. */
const UNHEALTHY_MS = 30_000;
export class PeerSet {
  readonly peers: Peer[] = [];
  private readonly host: PeerHost;
  private nextAttempt = 1;
  private readonly probes = new Map<number, { peer: Peer; done: (r: Buffer | undefined, f?: Failure) => void }>();
  private readonly localTools = new Map<string, ToolPrint | 'pending'>();
  /** Part of our session id on every keyed node: one session per process and node. */
  private readonly nonce = randomBytes(8).toString('hex');
  private timer: NodeJS.Timeout | undefined;
  readonly heartbeatMs: number;
  readonly deadMs: number;

  constructor(host: PeerHost, heartbeatMs: number) {
    this.host = host;
    this.heartbeatMs = heartbeatMs;
    this.deadMs = Math.max(1500, heartbeatMs * 6);
  }

  add(opts: PeerOptions): void {
    const p = new Peer(opts, this.channel(opts));
    this.peers.push(p);
    this.wire(p);
    this.hello(p);
    this.timer ??= setInterval(() => this.tick(), this.heartbeatMs);
  }

  private channel(o: PeerOptions): Channel {
    let curve: Curve | undefined;
    if (o.serverKey !== undefined && o.clientKey !== undefined) curve = { ...o.clientKey, serverKey: o.serverKey };
    // On a keyed node our routing id proves our key (keys.ts sessionId): nobody else can take
    // over our session there. Without keys (--insecure) the node id is all there is.
    const routingId = curve ? sessionId(o.clientKey!, o.serverKey!, this.nonce) : this.host.nodeId;
    const ch = new Channel('dealer', { routingId, ...(curve ? { curve } : {}), hwm: 10_000, heartbeatMs: this.heartbeatMs, maxMessageSize: DEFAULT_MAX_MESSAGE_BYTES });
    ch.connect(o.address);
    return ch;
  }

  private wire(p: Peer): void {
    const ch = p.ch;
    ch.onMessage = (m) => {
      if (p.ch === ch) this.onMessage(p, m);
    };
    ch.start();
  }

  private hello(p: Peer): void {
    p.lastHello = Date.now();
    p.ch.send(encode(T.HELLO, 0, { protocol: PROTOCOL_VERSION, b: VERSION, role: 'peer', name: this.host.nodeId }));
  }

  private tick(): void {
    const now = Date.now();
    for (const p of this.peers) {
      if (p.alive && now - p.lastHeard > this.deadMs) this.die(p, `no answer for ${((now - p.lastHeard) / 1000).toFixed(1)} s`);
      if (p.alive) p.ch.send(encode(T.PING, 0));
      else if (now - p.lastHello >= Math.max(this.heartbeatMs, 1000)) this.hello(p);
    }
  }

  /** Declares a node dead: its items are placed again and its socket replaced. */
  die(p: Peer, reason: string): void {
    const wasAlive = p.alive;
    p.alive = false;
    p.welcomed = false;
    p.deadSince = Date.now();
    if (wasAlive) p.stats.deaths++;
    const lost = [...p.inflight.values()];
    p.inflight.clear();
    p.waiting = 0;
    for (const t of lost) t.needs = 0;
    for (const [id, pr] of this.probes) {
      if (pr.peer === p) {
        this.probes.delete(id);
        pr.done(undefined);
      }
    }
    for (const [k, v] of p.tools) if (v === 'pending') p.tools.delete(k);
    for (const [k, v] of p.fs) if (v === 'pending') p.fs.delete(k);
    if (wasAlive || lost.length > 0) {
      this.host.log('warn', `node ${p.name} (${p.address}) stopped answering (${reason})${lost.length > 0 ? `; its ${lost.length} running item${lost.length === 1 ? '' : 's'} will run elsewhere` : ''}`);
    }
    // A fresh socket drops whatever was still queued for the dead node, so nothing we gave up
    // on can reach it later and run a second time.
    p.ch.close();
    p.ch = this.channel(p.opts);
    this.wire(p);
    for (const t of lost) {
      p.stats.requeued++;
      t.peer = undefined;
      this.host.requeue(t, `node ${p.name} ${reason}`);
    }
    this.host.pump();
  }

  private onMessage(p: Peer, frames: Frames): void {
    const d = decode(frames);
    if (isProtocolError(d)) {
      this.host.log('warn', `node ${p.name}: ${d.message}`);
      return;
    }
    p.lastHeard = Date.now();
    switch (d.type) {
      case T.WELCOME: {
        const w = parseWelcome(d.payload);
        if (isProtocolError(w)) return;
        const info = w;
        const rejoined = p.deadSince !== undefined && p.nodeId !== undefined;
        p.info = info;
        p.nodeId = info.node;
        p.capacity = info.workers;
        p.localWorkers = info.local ?? info.workers;
        p.welcomed = true;
        p.alive = true;
        p.deadSince = undefined;
        if (info.platform !== undefined && info.platform !== platform()) {
          if (p.incompatible === undefined) this.host.log('warn', `node ${p.name} runs ${info.platform}, this machine ${platform()}: no work goes there`);
          p.incompatible = `platform ${info.platform}`;
        } else p.incompatible = undefined;
        if (rejoined) this.host.log('info', `node ${p.name} (${p.address}) is back`);
        this.host.pump();
        return;
      }
      case T.PONG: {
        const info = parsePong(d.payload);
        if (isProtocolError(info)) return this.host.refused('pong');
        if (info.workers !== undefined) p.capacity = info.workers;
        if (info.local !== undefined) p.localWorkers = info.local;
        return;
      }
      case T.PING:
        p.ch.send(encode(T.PONG, d.id, { node: this.host.nodeId, free: 0 }));
        return;
      case T.RESULT:
      case T.FAILURE: {
        const probe = this.probes.get(d.id);
        if (probe !== undefined) {
          this.probes.delete(d.id);
          if (d.type === T.RESULT) probe.done(d.payload ?? Buffer.alloc(0));
          else {
            const f = parseFailure(d.payload);
            probe.done(undefined, isProtocolError(f) ? { code: 'protocol', message: f.message } : f);
          }
          return;
        }
        const t = p.drop(d.id);
        if (t === undefined) return; // a late answer for an attempt given up on: ignored
        t.peer = undefined;
        if (d.type === T.RESULT) {
          p.stats.done++;
          this.host.finish(t, { ok: true, payload: d.payload ?? Buffer.alloc(0), worker: p.name });
        } else {
          const f = parseFailure(d.payload);
          const failure: Failure = isProtocolError(f) ? { code: 'protocol', message: f.message } : f;
          if (failure.code === 'node.unhealthy') {
            p.unhealthyUntil = Date.now() + UNHEALTHY_MS;
            this.host.log('warn', `node ${p.name} is unhealthy (${failure.message}): no work goes there for ${UNHEALTHY_MS / 1000} s`);
          }
          if (RETRYABLE.has(failure.code)) {
            p.stats.requeued++;
            this.host.requeue(t, `node ${p.name}: ${failure.message}`);
          } else {
            p.stats.failed++;
            this.host.finish(t, { ok: false, failure: { ...failure, where: failure.where ?? p.name } });
          }
        }
        this.host.pump();
        return;
      }
      case T.NEED: {
        // A rule running on that node needs answers from our build: translate the attempt id it
        // knows into our task id, and answer through the same connection.
        // A node may ask only for the answers and input blobs of an item we gave it, never for
        // a build, a clean or anything else (it once could: see messages.ts).
        const req = parseNeed(d.payload);
        if (isProtocolError(req) || (req.op !== 'need' && req.op !== 'blob')) {
          this.host.refused(isProtocolError(req) ? `need.${req.error}` : 'need.role');
          this.host.log('warn', `node ${p.name} asked what a node may not ask: ${isProtocolError(req) ? req.message : `op "${req.op}"`}`);
          p.ch.send(encode(T.FAILURE, d.id, { code: 'need.refused', message: isProtocolError(req) ? req.message : `a node may not ask for "${req.op}"` }));
          return;
        }
        const t = p.inflight.get(req.task);
        if (t === undefined) {
          p.ch.send(encode(T.FAILURE, d.id, { code: 'need.unknown-task', message: 'that work item is no longer assigned to this node' }));
          return;
        }
        const attempt = req.task;
        if ((t.needs = (t.needs ?? 0) + 1) === 1) p.waiting++;
        this.host.need((body) => {
          // Answered: the rule resumes there and holds a credit again.
          if (p.inflight.get(attempt) === t && t.needs !== undefined && t.needs > 0 && --t.needs === 0) p.waiting--;
          p.ch.send(body);
        }, p.name, d.id, { ...req, task: t.id });
        this.host.pump();
        return;
      }
      case T.ANSWER:
        // We never forward questions to the nodes we use (only to our own clients): an answer
        // from one answers nothing.
        this.host.refused('answer.unasked');
        return;
      case T.ERROR: {
        const f = parseFailure(d.payload);
        const msg = isProtocolError(f) ? f.message : f.message;
        const code = isProtocolError(f) ? '' : f.code;
        if (code === 'protocol.hello') {
          p.welcomed = false; // the node restarted and forgot us
          this.hello(p);
        } else if (code.startsWith('protocol.version')) {
          p.incompatible = msg;
          this.host.log('error', `node ${p.name}: ${msg}`);
        } else {
          this.host.log('warn', `node ${p.name} refused: ${msg}`);
        }
        return;
      }
      default:
        return;
    }
  }

  /** The best node for a task, or undefined (it then runs locally or waits). */
  pick(t: PlacedTask): Peer | undefined {
    if (t.meta.remote === false) return undefined;
    let best: Peer | undefined;
    let bestFree = 0;
    for (const p of this.peers) {
      if (!p.alive || !p.welcomed || p.incompatible !== undefined || p.unhealthyUntil > Date.now()) continue;
      if (p.nodeId !== undefined && t.meta.via?.includes(p.nodeId)) continue;
      const free = p.free();
      if (free <= bestFree) continue;
      if (!this.canRun(p, t)) continue;
      best = p;
      bestFree = free;
    }
    return best;
  }

  /**
   * Whether some usable node could run the task once it has a free credit (pick, without the
   * credits): work queued behind full nodes is waiting its turn, not stuck.
   */
  couldRun(t: PlacedTask): boolean {
    if (t.meta.remote === false) return false;
    for (const p of this.peers) {
      if (!p.alive || !p.welcomed || p.incompatible !== undefined || p.unhealthyUntil > Date.now()) continue;
      if (p.nodeId !== undefined && t.meta.via?.includes(p.nodeId)) continue;
      if (this.canRun(p, t)) return true;
    }
    return false;
  }

  /** The self-contained payload of a task (computed once), or null if it has none. */
  private remotePayload(t: PlacedTask): Buffer | null {
    if (t.remotePayload === undefined) t.remotePayload = t.remote?.(false) ?? null;
    return t.remotePayload;
  }

  /**
   * What a node that sees this machine's files gets (computed once): the fenced item, never the
   * local one (its command could write our files after we gave it up); null if it cannot be fenced.
   */
  private sharedPayload(t: PlacedTask): Buffer | null {
    if (t.remote === undefined) return t.payload;
    if (t.fencedPayload === undefined) t.fencedPayload = t.remote(true) ?? null;
    return t.fencedPayload;
  }

  /** Whether a node with (`true`) or without this machine's files can take the task. */
  private fits(t: PlacedTask, shared: boolean): boolean {
    return (shared ? this.sharedPayload(t) : this.remotePayload(t)) !== null;
  }

  /** True when every live node is known to be unable to run the task (nothing pending). */
  noneCanRun(t: PlacedTask): boolean {
    if (t.meta.remote === false) return true;
    for (const p of this.peers) {
      if (!p.alive || !p.welcomed || p.incompatible !== undefined || p.unhealthyUntil > Date.now()) continue;
      if (p.nodeId !== undefined && t.meta.via?.includes(p.nodeId)) continue;
      if (t.meta.root !== undefined) {
        const shared = p.fs.get(t.meta.root);
        if (shared === undefined || shared === 'pending') return false;
        if (!this.fits(t, shared)) continue;
      }
      if (t.meta.tool !== undefined) {
        const mine = this.localTools.get(t.meta.tool);
        const theirs = p.tools.get(t.meta.tool);
        if (mine === undefined || mine === 'pending' || theirs === undefined || theirs === 'pending') return false;
        if (mine.hash !== theirs.hash) continue;
      }
      return false;
    }
    return true;
  }

  private canRun(p: Peer, t: PlacedTask): boolean {
    if (t.meta.root !== undefined) {
      const shared = p.fs.get(t.meta.root);
      if (shared === undefined) this.probeFs(p, t.meta.root);
      if (shared === 'pending' || shared === undefined) return false;
      // Without this machine's files a node can only take a self-contained item; with them, a fenced one.
      if (!this.fits(t, shared)) return false;
    }
    if (t.meta.tool !== undefined) {
      const mine = this.local(t.meta.tool);
      const theirs = p.tools.get(t.meta.tool);
      if (theirs === undefined) this.probeTool(p, t.meta.tool);
      if (mine === 'pending' || theirs === undefined || theirs === 'pending') return false;
      if (mine.hash !== theirs.hash) {
        this.warnTool(p, t.meta.tool);
        return false;
      }
    }
    return true;
  }

  private readonly warned = new Set<string>();

  /**
   * Says once per node and tool that they differ, as soon as both sides are known (not only if
   * an item happens to be turned away: a local worker may take it first).
   */
  private warnTool(p: Peer, tool: string): void {
    const mine = this.localTools.get(tool);
    const theirs = p.tools.get(tool);
    if (mine === undefined || mine === 'pending' || theirs === undefined || theirs === 'pending' || mine.hash === theirs.hash) return;
    const key = `${p.address} ${tool}`;
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.host.log('warn', `node ${p.name} has a different ${tool} (${theirs.path ? theirs.version || 'unknown version' : 'not installed'}; here: ${mine.version || 'unknown'}): work running ${tool} stays off it`);
  }

  private local(tool: string): ToolPrint | 'pending' {
    const v = this.localTools.get(tool);
    if (v !== undefined) return v;
    this.localTools.set(tool, 'pending');
    void import('./toolchain.ts').then((m) => m.toolPrint(tool)).then((tp) => {
      this.localTools.set(tool, tp);
      for (const p of this.peers) this.warnTool(p, tool);
      this.host.pump();
    });
    return 'pending';
  }

  private probe(p: Peer, work: object, done: (r: ProbeResult | undefined) => void): void {
    this.callRaw(p, { k: 'probe', ...work }, (b) => {
      const r = b === undefined ? undefined : parseResult('probe', b);
      if (r !== undefined && isProtocolError(r)) {
        this.host.refused('probe');
        this.host.log('warn', `node ${p.name}: malformed probe result: ${r.message}`);
        return done(undefined);
      }
      done(r);
    });
  }

  private callRaw(p: Peer, work: object, done: (r: Buffer | undefined, f?: Failure) => void): void {
    const id = this.nextAttempt;
    this.nextAttempt = (this.nextAttempt + 1) >>> 0 || 1;
    this.probes.set(id, { peer: p, done });
    p.ch.send(encode(T.SUBMIT, id, [Buffer.from('{"remote":false}'), Buffer.from(JSON.stringify(work))]));
  }

  /**
   * Nodes whose action cache may answer for work running `tool`: usable, this platform, the
   * same program as here (a hit across compiler fingerprints would be another compiler's
   * output); `pending` while a node is still connecting or being probed.
   */
  cacheNodes(tool: string): { nodes: string[]; pending: boolean } {
    const nodes: string[] = [];
    let pending = this.availability() === 'connecting';
    for (const p of this.peers) {
      if (!p.alive || !p.welcomed || p.incompatible !== undefined || p.unhealthyUntil > Date.now() || p.nodeId === undefined || p.info?.platform !== platform()) continue;
      const mine = this.local(tool);
      const theirs = p.tools.get(tool);
      if (theirs === undefined) this.probeTool(p, tool);
      if (mine === 'pending' || theirs === undefined || theirs === 'pending') pending = true;
      else if (mine.hash === theirs.hash) nodes.push(p.nodeId);
    }
    return { nodes, pending };
  }

  /** Runs a work item on one given node (not load-balanced): probes, blob reads. */
  call(nodeName: string, work: object): Promise<Buffer> {
    const p = this.peers.find((x) => x.nodeId === nodeName || x.address === nodeName);
    if (p === undefined || !p.alive) return Promise.reject(new Error(`node ${nodeName} is not available`));
    // A refusal keeps its code (cache-upload.ts tells `cache.writer` from a node that is gone).
    return new Promise((resolve, reject) => this.callRaw(p, work, (b, f) => (b === undefined ? reject(Object.assign(new Error(f?.message ?? `node ${nodeName} did not answer`), { code: f?.code })) : resolve(b))));
  }

  private probeTool(p: Peer, tool: string): void {
    p.tools.set(tool, 'pending');
    this.probe(p, { tools: [tool] }, (r) => {
      const tp = r?.tools[tool];
      if (tp === undefined) {
        p.tools.delete(tool);
        return;
      }
      p.tools.set(tool, tp);
      this.warnTool(p, tool);
      this.host.pump();
    });
  }

  private probeFs(p: Peer, root: string): void {
    const token = this.host.fsToken(root);
    if (token === undefined) {
      p.fs.set(root, false);
      return;
    }
    p.fs.set(root, 'pending');
    this.probe(p, { file: token.file, expect: token.token }, (r) => {
      // A node that sees the files but cannot fence commands on them is used as one that does not.
      p.fs.set(root, r?.sharedFs === true && r.fence === true);
      if (r !== undefined && r.sharedFs !== true) this.host.log('warn', `node ${p.name} does not see this build's files at ${root}: work that needs them stays off it`);
      else if (r !== undefined && r.fence !== true) this.host.log('warn', `node ${p.name} sees this build's files at ${root} but cannot fence commands on them: it gets only self-contained compiles (fencing needs Linux user namespaces and overlayfs; its start-up warning says why)`);
      this.host.pump();
    });
  }

  send(p: Peer, t: PlacedTask): void {
    const attempt = this.nextAttempt;
    this.nextAttempt = (this.nextAttempt + 1) >>> 0 || 1;
    t.peer = p;
    t.attempt = attempt;
    p.inflight.set(attempt, t);
    p.stats.sent++;
    const meta: TaskMeta = { ...t.meta, via: [...(t.meta.via ?? []), this.host.nodeId] };
    const shared = t.meta.root === undefined || p.fs.get(t.meta.root) === true;
    const payload = t.meta.root === undefined ? t.payload : shared ? (this.sharedPayload(t) ?? t.payload) : (this.remotePayload(t) ?? t.payload);
    if (!shared) delete meta.root; // self-contained: the next node needs no shared files either
    p.ch.send(encode(T.SUBMIT, attempt, [Buffer.from(JSON.stringify(meta)), payload]));
  }

  /** A node whose part of an item failed on its side (its outputs could not be copied): no work for a while. */
  unhealthy(nodeName: string, why: string): void {
    const p = this.peers.find((x) => x.nodeId === nodeName || x.address === nodeName);
    if (p === undefined) return;
    p.unhealthyUntil = Date.now() + UNHEALTHY_MS;
    this.host.log('warn', `node ${p.name} is unhealthy (${why}): no work goes there for ${UNHEALTHY_MS / 1000} s`);
  }

  /** Takes a task back from wherever it was placed (cancelled by its owner). */
  cancel(t: PlacedTask): void {
    if (t.peer === undefined) return;
    t.peer.drop(t.attempt);
    t.peer.ch.send(encode(T.CANCEL, t.attempt));
    t.peer = undefined;
  }

  /**
   * Whether any node can take work: 'alive', 'connecting' (not answered yet, but it has not
   * had `deadMs` to do so), or 'none'.
   */
  availability(): 'alive' | 'connecting' | 'none' {
    if (this.peers.some((p) => p.alive && p.welcomed && p.incompatible === undefined)) return 'alive';
    const now = Date.now();
    if (this.peers.some((p) => p.incompatible === undefined && !p.alive && now - p.added < this.deadMs)) return 'connecting';
    return 'none';
  }

  /** Workers of the nodes this node uses (one hop only: a cycle of nodes cannot inflate it). */
  capacity(): number {
    let n = 0;
    for (const p of this.peers) if (p.alive && p.welcomed && p.incompatible === undefined) n += p.localWorkers;
    return n;
  }

  /** Items the nodes can take now, pipeline included (as `pick` counts them). */
  freeSlots(): number {
    let n = 0;
    for (const p of this.peers) if (p.alive && p.welcomed && p.incompatible === undefined && p.unhealthyUntil <= Date.now()) n += Math.max(0, p.free());
    return n;
  }

  status(): PeerStatus[] {
    return this.peers.map((p) => ({
      address: p.address,
      node: p.nodeId ?? null,
      alive: p.alive,
      workers: p.capacity,
      inflight: p.inflight.size,
      incompatible: p.incompatible ?? null,
      unhealthy: p.unhealthyUntil > Date.now(),
      secure: p.opts.serverKey !== undefined,
      tools: Object.fromEntries([...p.tools].filter(([, v]) => v !== 'pending').map(([k, v]) => [k, (v as ToolPrint).version])),
      ...p.stats,
    }));
  }

  /** Leaves every node: BYE, then close. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const p of this.peers) {
      p.ch.send(encode(T.BYE, 0));
      p.ch.close();
    }
  }
}
