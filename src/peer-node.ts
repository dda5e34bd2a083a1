// One other build node as a process broker sees it (peers.ts places work over a set of them):
// its connection, what it said of itself, its credits and in-flight items, and what it was
// probed to be able to run. State and credit accounting only; no messages are sent from here.

import type { Channel } from './zmq.ts';
import type { Failure, WelcomeInfo } from './protocol.ts';
import type { RemotePayload, TaskMeta, ToolPrint } from './messages.ts';

export interface PlacedTask {
  id: number;
  payload: Buffer;
  /** Payloads for other nodes (fenced where they see our files, else self-contained); else `payload` (Bfile rules). */
  remote?: RemotePayload | undefined;
  remotePayload?: Buffer | null;
  fencedPayload?: Buffer | null;
  meta: TaskMeta;
  /** NEEDs of this item's rule, sent from the node it runs on, not answered yet. */
  needs?: number;
  peer: Peer | undefined;
  attempt: number;
}

export type PeerResult = { ok: true; payload: Buffer; worker: string } | { ok: false; failure: Failure };

/**
 * Items sent beyond a node's workers, as a fraction of them: a worker that finishes starts the
 * next item at once instead of waiting a round trip through this broker (which may be busy with
 * other nodes' results); small enough that the tail of a build stays balanced.
 */
const PIPELINE = 0.5;

export interface PeerOptions {
  address: string;
  serverKey: string | undefined;
  clientKey: { publicKey: string; secretKey: string } | undefined;
}

export class Peer {
  readonly address: string;
  readonly opts: PeerOptions;
  ch: Channel;
  nodeId: string | undefined;
  info: (WelcomeInfo & { platform?: string }) | undefined;
  welcomed = false;
  alive = false;
  capacity = 0;
  /** The node's own workers (its capacity may include nodes it uses in turn). */
  localWorkers = 0;
  readonly inflight = new Map<number, PlacedTask>();
  /**
   * In-flight items whose rule waits for answers from us: suspended on that node, they hold
   * no worker there, so they hold no credit here either (else rules waiting on other rules
   * would use up a node's credit and nothing could run: a chain of needs deeper than its
   * workers deadlocked).
   */
  waiting = 0;
  lastHeard = 0;
  lastHello = 0;
  incompatible: string | undefined;
  /** Until then the node gets no work: its own system failed an item (ENOSPC, ...). */
  unhealthyUntil = 0;
  readonly tools = new Map<string, ToolPrint | 'pending'>();
  readonly fs = new Map<string, boolean | 'pending'>();
  readonly stats = { sent: 0, done: 0, failed: 0, requeued: 0, deaths: 0 };
  deadSince: number | undefined;
  readonly added = Date.now();

  constructor(opts: PeerOptions, ch: Channel) {
    this.address = opts.address;
    this.opts = opts;
    this.ch = ch;
  }

  get name(): string {
    return this.nodeId ?? this.address;
  }

  free(): number {
    return this.capacity + Math.max(1, Math.ceil(this.capacity * PIPELINE)) - (this.inflight.size - this.waiting);
  }

  /** Forgets an in-flight item (finished, cancelled, or the node died). */
  drop(attempt: number): PlacedTask | undefined {
    const t = this.inflight.get(attempt);
    if (t === undefined) return undefined;
    this.inflight.delete(attempt);
    if ((t.needs ?? 0) > 0) this.waiting--;
    t.needs = 0;
    return t;
  }
}

