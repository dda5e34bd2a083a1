// The control messages between B's threads, declared once: the main thread (runtime.ts) and the
// process broker's thread (broker-thread.ts), and the broker (broker.ts, broker-workers.ts) and
// its worker threads (worker.ts). Work items and their results do not come here: they travel on
// ZeroMQ sockets and are messages.ts's. One union per direction, tagged by `type`, each decoded
// once at its one receiving point by a strict shape (shape.ts).
//
// Only B's own threads post these, so a message that does not decode is a bug in B, not an
// attack: the receiver reports it loudly (threadBug) instead of dropping it, because a silently
// lost `stop` or `started` shows up much later as a hang.

import type { ProtocolError } from './protocol.ts';
import { NAME, STR, TEXT, U32, arr, checkSpec, int, str, tagged, type Shape, type Spec } from './shape.ts';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** A line for the main thread's logger (logger.ts fromThread), from the broker or a worker. */
export interface LogMessage {
  type: 'log';
  level: LogLevel;
  message: string;
}

// ---------------------------------------------------------------------------------------------
// Main thread -> broker thread.

/** Stop the node; a second one while stopping hurries the drain (runtime.ts LocalNode). */
export interface StopMessage {
  type: 'stop';
  reason: string;
  /** How long running work may go on finishing; absent: 0. */
  drainMs?: number;
}

export type ToBroker = StopMessage;

// ---------------------------------------------------------------------------------------------
// Broker thread -> main thread.

export interface BrokerStarted {
  type: 'started';
  node: string;
  workers: number;
  /** Command slots it advertises. */
  jobs: number;
  endpoints: string[];
}

/** The broker could not start (an address in use...): the message says why. */
export interface BrokerFailed {
  type: 'failed';
  message: string;
}

/** The broker stopped: its workers are joined and its sockets closed; the thread ends next. */
export interface BrokerStopped {
  type: 'stopped';
}

export type FromBroker = BrokerStarted | BrokerFailed | BrokerStopped | LogMessage;

// ---------------------------------------------------------------------------------------------
// Broker -> worker thread.

/** Kill every command the worker runs (the node is stopping). */
export interface CancelAll {
  type: 'cancel';
}

/** Kill the commands of one task (its client cancelled it or went away). */
export interface CancelTask {
  type: 'cancel-task';
  task: number;
}

export type ToWorker = CancelAll | CancelTask;

// ---------------------------------------------------------------------------------------------
// Worker thread -> broker.

export type FromWorker = LogMessage;

// ---------------------------------------------------------------------------------------------
// Shapes and decoders.

const LOG: Shape = { level: str(8, /^(?:error|warn|info|debug)$/), message: str(TEXT) };

const TO_BROKER: Record<ToBroker['type'], Shape> = {
  stop: { reason: str(STR), drainMs: { opt: int(0, 2 ** 31) } },
};
const FROM_BROKER: Record<FromBroker['type'], Shape> = {
  started: { node: str(NAME), workers: int(0, 1 << 20), jobs: int(0, 1 << 20), endpoints: arr(str(STR), 10_000) },
  failed: { message: str(TEXT) },
  stopped: {},
  log: LOG,
};
const TO_WORKER: Record<ToWorker['type'], Shape> = {
  cancel: {},
  'cancel-task': { task: U32 },
};
const FROM_WORKER: Record<FromWorker['type'], Shape> = {
  log: LOG,
};

/** A union as a whole message: shape.ts's `tagged` on `type` (each variant gets its type as a literal). */
function decodeTagged<M>(m: unknown, what: string, union: Spec): M | ProtocolError {
  return checkSpec(m, union, what) ?? (m as M);
}

const TO_BROKER_MSG = tagged('type', TO_BROKER);
const FROM_BROKER_MSG = tagged('type', FROM_BROKER);
const TO_WORKER_MSG = tagged('type', TO_WORKER);
const FROM_WORKER_MSG = tagged('type', FROM_WORKER);

export const decodeToBroker = (m: unknown): ToBroker | ProtocolError => decodeTagged<ToBroker>(m, 'message to the broker thread', TO_BROKER_MSG);
export const decodeFromBroker = (m: unknown): FromBroker | ProtocolError => decodeTagged<FromBroker>(m, 'message from the broker thread', FROM_BROKER_MSG);
export const decodeToWorker = (m: unknown): ToWorker | ProtocolError => decodeTagged<ToWorker>(m, 'message to a worker thread', TO_WORKER_MSG);
export const decodeFromWorker = (m: unknown): FromWorker | ProtocolError => decodeTagged<FromWorker>(m, 'message from a worker thread', FROM_WORKER_MSG);

/** What a receiver reports for a message that did not decode: a bug in B, named as one. */
export function threadBug(where: string, e: ProtocolError): string {
  return `internal error (a bug in B; please report it): ${where} got an invalid message: ${e.message}`;
}
