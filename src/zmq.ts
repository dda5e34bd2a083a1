// The only module that imports zeromq. Everything else sees sockets through `Channel` (one send
// loop and one receive loop per socket: zeromq.js rejects a second concurrent send with EBUSY)
// and `ReqChannel` (the lockstep REQ socket of a worker).
//
// Pitfalls this module exists to contain (see shared/notes/toolchain.md):
// - inproc:// only works between worker threads through the process-wide default context, so
//   every socket here uses `zmq.context`, and ZMQ_IO_THREADS must be set before the first socket.
// - a thread that ends while it holds an open socket or a pending receive() aborts the process:
//   owners must `close()` every channel before their thread returns; close() is idempotent.

import * as zmq from 'zeromq';
import { workerData } from 'node:worker_threads';
import { Fifo } from './fifo.ts';
import { z85Encode } from './keys.ts';

// ---------------------------------------------------------------------------------------------
// Deno: zeromq.js waits for readiness with libuv (uv_poll on ZMQ_FD, uv_timer for timeouts), and
// Deno's libuv polyfill (ext/napi/uv.rs, Deno 2.9.x) breaks all of it: uv_poll is one-shot (a
// wake-up that finds no message leaves receive() pending forever), a poll callback already
// queued runs after uv_close freed the handle (segfault), and uv_timer_init clears handle->data
// (any send/receive timeout segfaults). So under Deno no socket ever waits in native code:
// sendTimeout = receiveTimeout = 0 makes every send/receive a non-blocking call that completes
// or fails with EAGAIN at once, readiness is checked with the `readable`/`writable` getters
// (ZMQ_EVENTS), and waiting is done in JS by one pump per thread:
// - a process-wide doorbell (a SharedArrayBuffer counter handed to every thread, see
//   threads.ts) is rung after every send; waiting threads sleep on it with Atomics.waitAsync and
//   wake within microseconds when any thread of the process sent something (inproc traffic);
// - a fallback timer (1 ms, doubling up to IDLE_MAX_MS while idle) catches what no thread of
//   this process rang for: messages from other processes (tcp/ipc), connects and disconnects.
const POLLING = process.env['B_ZMQ_POLL'] !== undefined
  ? process.env['B_ZMQ_POLL'] === '1'
  : (globalThis as { Deno?: unknown }).Deno !== undefined;
/** Longest sleep between two readiness checks of an idle thread (ms): bounds tcp latency. */
const IDLE_MAX_MS = Number(process.env['B_ZMQ_POLL_MAX_MS'] ?? 8);
/** Messages handled back to back before a receive loop yields to other macrotasks. */
const STREAK = 256;

const bellBuffer: SharedArrayBuffer =
  ((workerData as { zmqBell?: SharedArrayBuffer } | null)?.zmqBell) ??
  ((globalThis as { __bZmqBell?: SharedArrayBuffer }).__bZmqBell ??= new SharedArrayBuffer(4));
const bell = new Int32Array(bellBuffer);
// Atomics.waitAsync (ES2024; Deno and Node >= 16 have it) is not in this project's TS lib.
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<unknown> | string };
}).waitAsync;

class Pump {
  private waiters: (() => void)[] = [];
  private scheduled = false;
  private round = 0;
  private seen = 0;
  private idleRounds = 0;
  private streak = 0;
  /** The doorbell value being waited for with Atomics.waitAsync (at most one wait pending). */
  private bellValue: number | undefined;
  private onBell: (() => void) | undefined;

  /** After a send: wake the threads waiting for traffic. */
  ring(): void {
    Atomics.add(bell, 0, 1);
    Atomics.notify(bell, 0);
  }

  /** Traffic: the next idle waits start short again. */
  activity(): void {
    this.idleRounds = 0;
  }

  /** Resolves at the next poll round (then the caller checks readiness again). */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const round = ++this.round;
    const run = (): void => {
      if (round !== this.round || !this.scheduled) return;
      this.scheduled = false;
      this.onBell = undefined;
      // Every readiness check after this line sees all sends counted up to `seen`.
      this.seen = Atomics.load(bell, 0);
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    };
    const cur = Atomics.load(bell, 0);
    if (cur !== this.seen) {
      setImmediate(run); // something was sent since the waiters last looked
      return;
    }
    // Fallback: traffic nobody in this process rang for (tcp/ipc peers, connects).
    const timer = setTimeout(run, Math.min(IDLE_MAX_MS, 2 ** Math.min(this.idleRounds++, 6)));
    this.onBell = () => {
      clearTimeout(timer);
      setImmediate(run);
    };
    // One waitAsync per doorbell value, kept across idle rounds (no pile-up of waiters). It may
    // settle spuriously (a notify racing with the wait): that only costs one extra round.
    if (this.bellValue !== cur) {
      this.bellValue = cur;
      const r = waitAsync(bell, 0, cur);
      void (r.async ? (r.value as Promise<unknown>) : Promise.resolve()).then(() => {
        if (this.bellValue !== cur) return; // superseded by a wait for a newer value
        this.bellValue = undefined;
        const f = this.onBell;
        this.onBell = undefined;
        f?.();
      });
    }
  }

  /** Called per message received: every STREAK messages, lets timers and other I/O run. */
  async fair(): Promise<void> {
    if (++this.streak % STREAK === 0) await new Promise<void>((r) => setImmediate(r));
  }
}
const pump = new Pump();

type Sock = zmq.Router | zmq.Dealer | zmq.Request | zmq.Reply;

/** sock.receive(), or under Deno a receive polled from JavaScript (no extra promise under Node). */
function receiveFrames(sock: Sock): Promise<Buffer[]> {
  return POLLING ? pollReceive(sock) : sock.receive();
}

async function pollReceive(sock: Sock): Promise<Buffer[]> {
  for (;;) {
    if (sock.closed) throw Object.assign(new Error('Socket is closed'), { code: 'EBADF' });
    if (sock.readable) {
      try {
        const m = await sock.receive();
        pump.activity();
        await pump.fair();
        return m;
      } catch (e) {
        if ((e as { code?: string }).code !== 'EAGAIN') throw e;
      }
    }
    await pump.wait();
  }
}

function sendFrames(sock: Sock, frames: (Buffer | string)[]): Promise<void> {
  return POLLING ? pollSend(sock, frames) : sock.send(frames);
}

async function pollSend(sock: Sock, frames: (Buffer | string)[]): Promise<void> {
  for (;;) {
    try {
      await sock.send(frames);
      pump.activity();
      pump.ring();
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EAGAIN' || sock.closed) throw e;
    }
    await pump.wait();
  }
}

/** Sets ZMQ_IO_THREADS. Only effective before the first socket of the process is created. */
export function setIoThreads(n: number): void {
  zmq.context.ioThreads = n;
}

export function zmqVersion(): string {
  return zmq.version;
}

export function curveAvailable(): boolean {
  return zmq.capability.curve === true;
}

/** A new CurveZMQ key pair, Z85-encoded (40 characters each). */
export function curveKeyPair(): { publicKey: string; secretKey: string } {
  return zmq.curveKeyPair();
}

export interface Curve {
  /** This socket's own key pair. */
  publicKey: string;
  secretKey: string;
  /** For a connecting (client) socket: the server's public key, pinned. */
  serverKey?: string;
  /** For a binding (server) socket. */
  server?: boolean;
}

export interface ChannelOptions {
  routingId?: string;
  /** ROUTER: fail sends to unknown peers instead of dropping them silently. */
  mandatory?: boolean;
  /** ROUTER: a reconnecting peer with the same routing id takes over the old connection. */
  handover?: boolean;
  /** Send and receive high-water marks (messages). */
  hwm?: number;
  /** Largest inbound message accepted by libzmq itself; larger ones drop the connection. */
  maxMessageSize?: number;
  curve?: Curve;
  zapDomain?: string;
  /** ZMTP heartbeats (ms): detects dead TCP peers below the application protocol. */
  heartbeatMs?: number;
  /** Only queue messages to completed connections (peers that are really there). */
  immediate?: boolean;
}

type Kind = 'router' | 'dealer' | 'req' | 'rep';
type AnySocket = zmq.Router | zmq.Dealer | zmq.Request | zmq.Reply;

function makeSocket(kind: Kind, o: ChannelOptions): AnySocket {
  const common = {
    linger: 0,
    ...(POLLING ? { sendTimeout: 0, receiveTimeout: 0 } : {}),
    sendHighWaterMark: o.hwm ?? 100_000,
    receiveHighWaterMark: o.hwm ?? 100_000,
    ...(o.maxMessageSize !== undefined ? { maxMessageSize: o.maxMessageSize } : {}),
    ...(o.heartbeatMs !== undefined ? { heartbeatInterval: o.heartbeatMs, heartbeatTimeout: o.heartbeatMs * 3, heartbeatTimeToLive: o.heartbeatMs * 3 } : {}),
    ...(o.zapDomain !== undefined ? { zapDomain: o.zapDomain } : {}),
    ...(o.immediate ? { immediate: true } : {}),
  };
  let s: AnySocket;
  switch (kind) {
    case 'router': {
      const r = new zmq.Router({ ...common, mandatory: o.mandatory ?? true, handover: o.handover ?? false });
      if (o.routingId !== undefined) r.routingId = o.routingId;
      s = r;
      break;
    }
    case 'dealer': {
      const d = new zmq.Dealer(common);
      if (o.routingId !== undefined) d.routingId = o.routingId;
      s = d;
      break;
    }
    case 'req': {
      const q = new zmq.Request(common);
      if (o.routingId !== undefined) q.routingId = o.routingId;
      s = q;
      break;
    }
    case 'rep':
      s = new zmq.Reply(common);
      break;
  }
  if (o.curve) {
    s.curveSecretKey = o.curve.secretKey;
    s.curvePublicKey = o.curve.publicKey;
    if (o.curve.server) s.curveServer = true;
    if (o.curve.serverKey !== undefined) s.curveServerKey = o.curve.serverKey;
  }
  return s;
}

export type Frames = Buffer[];

/**
 * zeromq.js sends a Buffer larger than 128 bytes without copying, keeping a reference that is
 * released through the *sending thread's* addon instance when the receiver drops the message.
 * Over inproc the receiver is another thread, which may drop it after the sender's thread has
 * ended and freed that instance: a use-after-free that corrupted the heap at exit (found with
 * valgrind, see the README). Strings are copied into memory libzmq frees by itself, so large
 * frames are sent as strings. Every payload B sends is UTF-8 text (JSON), so this is exact.
 */
const ZERO_COPY_THRESHOLD = 128;

function detached(frames: Frames): (Buffer | string)[] {
  let out: (Buffer | string)[] | undefined;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    if (f.length > ZERO_COPY_THRESHOLD) {
      out ??= frames.slice();
      out[i] = f.toString('utf8');
    }
  }
  return out ?? frames;
}

/**
 * A ROUTER or DEALER socket with a single sending loop fed by a FIFO, and a receive loop that
 * hands each message to `onMessage`. Sends never throw: a failed send (an unknown peer on a
 * mandatory ROUTER, a closed socket) goes to `onSendError`.
 */
export class Channel {
  private readonly sock: zmq.Router | zmq.Dealer | zmq.Reply;
  private readonly out = new Fifo<Frames>();
  private sending = false;
  private receiving = false;
  private isClosed = false;
  onMessage: (frames: Frames) => void = () => {};
  /** Messages sent and received (benchmarks report messages per action). */
  readonly counts = { sent: 0, received: 0 };
  onSendError: (err: Error & { code?: string }, frames: Frames) => void = () => {};
  onReceiveError: (err: Error) => void = () => {};

  constructor(kind: 'router' | 'dealer' | 'rep', opts: ChannelOptions = {}) {
    this.sock = makeSocket(kind, opts) as zmq.Router | zmq.Dealer | zmq.Reply;
  }

  async bind(address: string): Promise<string> {
    await this.sock.bind(address);
    return this.sock.lastEndpoint ?? address;
  }

  connect(address: string, routingId?: string): void {
    if (routingId !== undefined && this.sock instanceof zmq.Router) this.sock.connect(address, { routingId });
    else this.sock.connect(address);
  }

  disconnect(address: string): void {
    try {
      this.sock.disconnect(address);
    } catch {
      // already disconnected: nothing to undo
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Messages waiting in the send queue (not yet handed to libzmq). */
  get backlog(): number {
    return this.out.length;
  }

  send(frames: Frames): void {
    if (this.isClosed) return;
    this.out.push(frames);
    if (!this.sending) void this.flush();
  }

  private async flush(): Promise<void> {
    this.sending = true;
    try {
      for (let m = this.out.shift(); m !== undefined && !this.isClosed; m = this.out.shift()) {
        try {
          await sendFrames(this.sock, detached(m));
          this.counts.sent++;
        } catch (e) {
          if (!this.isClosed) this.onSendError(e as Error, m);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  /** Starts the receive loop; messages are delivered to `onMessage` in arrival order. */
  start(): void {
    if (this.receiving) return;
    this.receiving = true;
    void this.receiveLoop();
  }

  private async receiveLoop(): Promise<void> {
    while (!this.isClosed) {
      let msg: Frames;
      try {
        msg = await receiveFrames(this.sock);
      } catch (e) {
        if (this.isClosed) break;
        this.onReceiveError(e as Error);
        continue;
      }
      this.counts.received++;
      this.onMessage(msg);
    }
  }

  /** Closes the socket now (linger 0): queued and pending messages are dropped. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.sock.close();
  }

  /** Monitor: calls `f` when a peer connects or disconnects (tcp only; not for inproc). */
  watch(f: (event: 'connect' | 'disconnect' | 'accept' | 'handshake-fail', address: string) => void): void {
    // zeromq.js's monitor socket always waits with uv_poll: not usable under Deno.
    if (POLLING) return;
    const events = this.sock.events;
    void (async () => {
      while (!this.isClosed && !events.closed) {
        let ev: zmq.Event;
        try {
          ev = await events.receive();
        } catch {
          break;
        }
        if (ev.type === 'end') break;
        const address = 'address' in ev ? ev.address : '';
        if (ev.type === 'connect') f('connect', address);
        else if (ev.type === 'disconnect') f('disconnect', address);
        else if (ev.type === 'accept') f('accept', address);
        else if (ev.type.startsWith('handshake:error')) f('handshake-fail', address);
      }
    })();
  }
}

/** A REQ socket used in lockstep: `request()` sends one message and waits for its reply. */
export class ReqChannel {
  private readonly sock: zmq.Request;
  private isClosed = false;

  constructor(opts: ChannelOptions = {}) {
    this.sock = makeSocket('req', opts) as zmq.Request;
  }

  connect(address: string): void {
    this.sock.connect(address);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Sends and waits for the reply; resolves undefined if the channel was closed meanwhile. */
  async request(frames: Frames): Promise<Frames | undefined> {
    if (this.isClosed) return undefined;
    try {
      await sendFrames(this.sock, detached(frames));
      return await receiveFrames(this.sock);
    } catch (e) {
      if (this.isClosed) return undefined;
      throw e;
    }
  }

  /** Sends without waiting for a reply (the last message of a worker before it leaves). */
  async sendOnly(frames: Frames): Promise<void> {
    if (this.isClosed) return;
    await sendFrames(this.sock, detached(frames));
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.sock.close();
  }
}

/**
 * ZeroMQ's authentication protocol (ZAP, RFC 27) for CurveZMQ servers: libzmq asks this handler
 * about every new connection; it accepts a client only when `allow` accepts its public key.
 * One per process (the endpoint is process-wide); run by the process broker.
 */
export class ZapHandler {
  private readonly sock = new zmq.Reply({ linger: 0, ...(POLLING ? { sendTimeout: 0, receiveTimeout: 0 } : {}) });
  private closed = false;
  /** Connections refused (shown by `b status`). */
  refused = 0;

  private constructor() {}

  static async start(allow: (publicKey: string, address: string) => boolean): Promise<ZapHandler> {
    const z = new ZapHandler();
    await z.sock.bind('inproc://zeromq.zap.01');
    void z.loop(allow);
    return z;
  }

  private async loop(allow: (publicKey: string, address: string) => boolean): Promise<void> {
    while (!this.closed) {
      let req: Buffer[];
      try {
        req = await receiveFrames(this.sock);
      } catch {
        break;
      }
      const [version, requestId, , address, , mechanism, key] = req;
      let ok = false;
      let text = 'not allowed';
      if (version?.toString() === '1.0' && mechanism?.toString() === 'CURVE' && key?.length === 32) {
        const pub = z85Encode(key);
        ok = allow(pub, address?.toString() ?? '');
        if (!ok) text = `client key ${pub} is not in the allow list`;
      }
      if (!ok) this.refused++;
      try {
        await sendFrames(this.sock, ['1.0', requestId ?? '', ok ? '200' : '400', ok ? 'OK' : text, ok ? 'client' : '', '']);
      } catch {
        break;
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }
}
