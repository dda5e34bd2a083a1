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
import { NAME, STR, TEXT, U32, arr, checkShape, int, lit, refuse, str, type Shape } from './shape.ts';

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

function decodeTagged<M>(m: unknown, what: string, variants: Record<string, Shape>): M | ProtocolError {
  const type = typeof m === 'object' && m !== null && !Array.isArray(m) ? (m as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || !Object.hasOwn(variants, type)) {
    return refuse(`${what}: unknown type ${JSON.stringify(type)?.slice(0, 64) ?? 'undefined'} (expected ${Object.keys(variants).join(', ')})`);
  }
  const e = checkShape(m, { ...variants[type]!, type: lit(type) }, `${what} "${type}"`);
  return e ?? (m as M);
}

export const decodeToBroker = (m: unknown): ToBroker | ProtocolError => decodeTagged<ToBroker>(m, 'message to the broker thread', TO_BROKER);
export const decodeFromBroker = (m: unknown): FromBroker | ProtocolError => decodeTagged<FromBroker>(m, 'message from the broker thread', FROM_BROKER);
export const decodeToWorker = (m: unknown): ToWorker | ProtocolError => decodeTagged<ToWorker>(m, 'message to a worker thread', TO_WORKER);
export const decodeFromWorker = (m: unknown): FromWorker | ProtocolError => decodeTagged<FromWorker>(m, 'message from a worker thread', FROM_WORKER);

/** What a receiver reports for a message that did not decode: a bug in B, named as one. */
export function threadBug(where: string, e: ProtocolError): string {
  return `internal error (a bug in B; please report it): ${where} got an invalid message: ${e.message}`;
}
