// A client of a broker: the main thread's DEALER. Many requests may be in flight; replies are
// matched by request id. Used by `b exec`, `b build`, `b status` and the benchmarks.

import { Channel, type ChannelOptions, type Frames } from './zmq.ts';
import { sessionId } from './keys.ts';
import {
  T, decode, encode, isProtocolError, parseFailure, parseWelcome, DEFAULT_MAX_MESSAGE_BYTES, PROTOCOL_VERSION,
  type Failure, type Role, type WelcomeInfo,
} from './protocol.ts';
import { VERSION } from './version.ts';
import { RemoteFailure } from './errors.ts';

export { RemoteFailure };

interface Waiter {
  ok: (b: Buffer) => void;
  fail: (f: Failure) => void;
  onEvent?: (b: Buffer) => void;
}

const NO_META = {};
const NO_META_BYTES = Buffer.from('{}');

export class Client {
  private readonly ch: Channel;
  private readonly waiters = new Map<number, Waiter>();
  private nextId = 1;
  private welcome: ((w: WelcomeInfo) => void) | undefined;
  private refused: ((f: Failure) => void) | undefined;
  /** Called for protocol errors not tied to a request. */
  onError: (f: Failure) => void = () => {};

  readonly address: string;

  constructor(address: string, opts: ChannelOptions = {}) {
    this.address = address;
    // On a keyed node the routing id is a session id proving our key (keys.ts), so that no other
    // client can take over this session; nothing larger than the protocol allows is buffered.
    const c = opts.curve;
    const routingId = opts.routingId ?? (c?.serverKey !== undefined ? sessionId(c, c.serverKey) : undefined);
    this.ch = new Channel('dealer', { maxMessageSize: DEFAULT_MAX_MESSAGE_BYTES, ...opts, ...(routingId !== undefined ? { routingId } : {}) });
    this.ch.onMessage = (m) => this.onMessage(m);
    this.ch.connect(address);
    this.ch.start();
  }

  /** Version handshake; rejects with the node's refusal or after `timeoutMs`. */
  hello(name: string, role: Role = 'client', timeoutMs = 10_000): Promise<WelcomeInfo> {
    return new Promise<WelcomeInfo>((resolve, reject) => {
      const timer = setTimeout(() => reject(new RemoteFailure({
        code: 'node.unreachable',
        message: `no answer from ${this.address} within ${timeoutMs} ms`,
        hint: 'is `b node` running there, and reachable (address, port, firewall, keys)?',
      })), timeoutMs);
      this.welcome = (w) => {
        clearTimeout(timer);
        resolve(w);
      };
      this.refused = (f) => {
        clearTimeout(timer);
        reject(new RemoteFailure(f));
      };
      this.ch.send(encode(T.HELLO, 0, { protocol: PROTOCOL_VERSION, b: VERSION, role, name }));
    });
  }

  private request(type: typeof T.SUBMIT | typeof T.NEED, payload: Buffer | object | (Buffer | object)[], onEvent?: (b: Buffer) => void): { id: number; done: Promise<Buffer> } {
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0 || 1;
    const done = new Promise<Buffer>((ok, reject) => {
      this.waiters.set(id, { ok, fail: (f) => reject(new RemoteFailure(f)), ...(onEvent ? { onEvent } : {}) });
    });
    this.ch.send(encode(type, id, payload));
    return { id, done };
  }

  submit(payload: Buffer | object, meta: object = NO_META): Promise<Buffer> {
    return this.request(T.SUBMIT, [meta === NO_META ? NO_META_BYTES : meta, payload]).done;
  }

  need(payload: object, onEvent?: (b: Buffer) => void): { id: number; done: Promise<Buffer> } {
    return this.request(T.NEED, payload, onEvent);
  }

  cancel(id: number): void {
    this.ch.send(encode(T.CANCEL, id));
  }

  get inFlight(): number {
    return this.waiters.size;
  }

  private onMessage(frames: Frames): void {
    const d = decode(frames);
    if (isProtocolError(d)) {
      this.onError({ code: `protocol.${d.error}`, message: d.message });
      return;
    }
    switch (d.type) {
      case T.WELCOME: {
        const w = parseWelcome(d.payload);
        if (isProtocolError(w)) this.refused?.({ code: 'protocol', message: w.message });
        else this.welcome?.(w);
        return;
      }
      case T.ERROR: {
        const f = parseFailure(d.payload);
        const failure = isProtocolError(f) ? { code: 'protocol', message: f.message } : f;
        const w = this.waiters.get(d.id);
        if (d.id !== 0 && w) {
          this.waiters.delete(d.id);
          w.fail(failure);
        } else if (this.refused) this.refused(failure);
        else this.onError(failure);
        return;
      }
      case T.RESULT:
      case T.ANSWER: {
        const w = this.waiters.get(d.id);
        if (w) {
          this.waiters.delete(d.id);
          w.ok(d.payload ?? Buffer.alloc(0));
        }
        return;
      }
      case T.FAILURE: {
        const w = this.waiters.get(d.id);
        if (w) {
          this.waiters.delete(d.id);
          const f = parseFailure(d.payload);
          w.fail(isProtocolError(f) ? { code: 'protocol', message: f.message } : f);
        }
        return;
      }
      case T.EVENT: {
        const w = this.waiters.get(d.id);
        if (w?.onEvent && d.payload) w.onEvent(d.payload);
        return;
      }
      default:
        return;
    }
  }

  /** Fails every request still waiting (used when the node goes away). */
  failAll(f: Failure): void {
    const ws = [...this.waiters.values()];
    this.waiters.clear();
    for (const w of ws) w.fail(f);
  }

  close(): void {
    if (!this.ch.closed) {
      this.ch.send(encode(T.BYE, 0));
    }
    this.ch.close();
  }
}
