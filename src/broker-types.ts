// The broker's vocabulary: how it is configured (BrokerData), what it keeps about work items
// (Task, Owner), clients (ClientState) and its worker threads (WorkerSlot), and what the build
// engine plugs into it (NeedHandler). broker.ts runs it; broker-thread.ts starts it.

import type { Worker } from 'node:worker_threads';
import type { Frames } from './zmq.ts';
import type { Failure, Role } from './protocol.ts';
import type { Fifo } from './fifo.ts';
import type { PlacedTask } from './peers.ts';
import type { KeyPair } from './keys.ts';
import type { StoredKind } from './relay.ts';
import type { BlobRequest, BuildRequest, NeedRequest, RunRequest } from './need-messages.ts';

export interface BrokerData {
  nodeId: string;
  /** Worker threads (JavaScript: rule bodies, hashing); -1: one per CPU. */
  workers: number;
  /**
   * Command slots: how many items may run or wait on their commands here at once (`b node
   * --jobs`, the local share of `b build -j`); what this node advertises. Absent: unbounded.
   */
  jobs?: number;
  /** Start worker threads only when the first item is queued (fast no-op builds). */
  lazyWorkers: boolean;
  frontend: string;
  backend: string;
  /** Endpoints for other machines (tcp://...). */
  listen: string[];
  /** This node's key pair: its remote endpoint is a CurveZMQ server. */
  key?: KeyPair;
  /** Public keys of clients allowed to connect. */
  allow?: string[];
  /** Public keys that may upload results into this node's action cache (`--cache-writers`). */
  cacheWriters?: string[];
  insecure?: boolean;
  /** Other nodes to use, and our key pair for them. */
  peers?: { address: string; serverKey?: string }[];
  clientKey?: KeyPair;
  heartbeatMs?: number;
}

export type TaskResult = { ok: true; payload: Buffer; worker: string; note?: string } | { ok: false; failure: Failure };

export type Owner = {
  kind: 'client'; client: ClientState; reqId: number;
  /** Its result names outputs in the store of the node that ran it: copied here before it goes back (relay.ts). */
  pull?: StoredKind;
} | { kind: 'local'; done: (r: TaskResult) => void };

export interface Task extends PlacedTask {
  owner: Owner;
  /** `suspended`: waits on answers (holds no slot); `parked`: waits on its commands (holds one). */
  state: 'queued' | 'running' | 'suspended' | 'parked' | 'remote';
  /** Counted in the broker's local slots (running or parked on a local worker). */
  busy?: boolean;
  worker?: WorkerSlot;
  /** A WAKE arrived before the worker's SUSPEND or PARK (they travel on different sockets). */
  wakeEarly?: boolean;
  /** Why it did not run where it was first placed (shown to the user). */
  note?: string;
  /** When it was last put in a queue. */
  queuedAt?: number;
}

/**
 * Where a client's messages come from, which decides what it may ask (broker.ts `mayAsk`):
 * - 'inproc': this process (the main thread's client, a worker's client);
 * - 'remote': another machine on the --listen socket, identified by its key (keys.ts sessionId);
 * - 'node': a node we gave work to, asking back for its answers (peers.ts).
 */
export type ClientVia = 'inproc' | 'remote' | 'node';

export interface ClientState {
  /** Session key: socket and routing id (a routing id on a keyed socket proves the key). */
  key: string;
  /** Who it is: the authenticated public key, or 'local', or 'insecure:<routing id>'. */
  identity: string;
  role: Role;
  name: string;
  via: ClientVia;
  /** Connected over the network (untrusted: no worker role, liveness by heartbeat). */
  remote: boolean;
  /** Payload bytes of this client's items queued or running here (capped: MAX_CLIENT_BYTES). */
  bytes: number;
  send: (body: Frames) => void;
  lastSeen: number;
  /** Requests of this client that became tasks, for CANCEL and BYE. */
  tasks: Map<number, Task>;
}

export interface WorkerSlot {
  id: string;
  rid: Buffer;
  thread: Worker;
  waiting: boolean;
  current: Task | undefined;
  suspended: Map<number, Task>;
  resumes: Fifo<Task>;
}

/** What the build engine plugs into the broker (see build-host.ts). */
export interface NeedHandler {
  /** A validated NEED the client's role allows (the broker answers `status` itself). */
  need(client: ClientState, reqId: number, op: BuildRequest | NeedRequest | BlobRequest | RunRequest): void;
  clientGone?(client: ClientState): void;
  stop?(): void;
}
