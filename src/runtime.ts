// The in-process node, seen from the main thread: sets up the ZeroMQ context (I/O threads),
// starts the process broker thread (which starts its workers), and stops it all again.
// Every `b` command that runs work goes through here, so every exit path (end of work, error,
// Ctrl-C, SIGTERM) ends with the same join: broker stopped, workers joined, sockets closed.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { spawnThread } from './threads.ts';
import type { BrokerData, BrokerStarted } from './broker.ts';
import { UserError } from './errors.ts';
import type { Logger } from './logger.ts';

export interface NodeOptions {
  workers?: number;
  ioThreads?: number;
  listen?: string[];
  lazyWorkers?: boolean;
  nodeId?: string;
}

let ioThreadsSet: number | undefined;

/** Loads zeromq (extracting the addon if needed) and sets ZMQ_IO_THREADS before any socket. */
export async function initZmq(ioThreads: number): Promise<typeof import('./zmq.ts')> {
  const z = await import('./zmq.ts');
  if (ioThreadsSet === undefined) {
    z.setIoThreads(ioThreads);
    ioThreadsSet = ioThreads;
  }
  return z;
}

export function defaultNodeId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
}

export class LocalNode {
  private exited: Promise<void>;
  private stopping: Promise<void> | undefined;

  private readonly thread: Worker;
  readonly info: BrokerStarted;
  readonly frontend: string;

  private constructor(thread: Worker, info: BrokerStarted, frontend: string, exited: Promise<void>) {
    this.thread = thread;
    this.info = info;
    this.frontend = frontend;
    this.exited = exited;
  }

  static async start(opts: NodeOptions, log: Logger): Promise<LocalNode> {
    const ioThreads = opts.ioThreads ?? 1;
    if (!Number.isInteger(ioThreads) || ioThreads < 0 || ioThreads > 64) {
      throw new UserError({ code: 'usage', message: `--io-threads must be an integer from 0 to 64, got ${ioThreads}` });
    }
    const workers = opts.workers ?? 0;
    if (!Number.isInteger(workers) || workers < 0 || workers > 4096) {
      throw new UserError({ code: 'usage', message: `--workers must be an integer from 1 to 4096, got ${workers}` });
    }
    await initZmq(ioThreads);
    const nodeId = opts.nodeId ?? defaultNodeId();
    const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const data: BrokerData = {
      nodeId,
      workers,
      lazyWorkers: opts.lazyWorkers ?? false,
      frontend: `inproc://b-${tag}-front`,
      backend: `inproc://b-${tag}-back`,
      listen: opts.listen ?? [],
    };
    const thread = spawnThread({ kind: 'broker', ...data }, 'b-broker');
    let onStarted: (s: BrokerStarted) => void = () => {};
    let onFailed: (e: Error) => void = () => {};
    const started = new Promise<BrokerStarted>((res, rej) => {
      onStarted = res;
      onFailed = rej;
    });
    thread.on('message', (m: { type?: string; level?: string; message?: string; node?: string }) => {
      if (m.type === 'log') log.fromThread(m.level ?? 'info', m.message ?? '');
      else if (m.type === 'started') onStarted(m as unknown as BrokerStarted);
      else if (m.type === 'failed') onFailed(new UserError({ code: 'node.start', message: `node could not start: ${m.message ?? ''}`, hint: 'is another process listening on that address?' }));
    });
    thread.on('error', (e) => {
      log.error(`broker thread crashed: ${e.stack ?? e.message}`);
      onFailed(e);
    });
    const exited = new Promise<void>((res) => thread.on('exit', () => res()));
    exited.then(() => onFailed(new Error('broker thread exited during start')), () => {});
    try {
      const info = await started;
      return new LocalNode(thread, info, data.frontend, exited);
    } catch (e) {
      thread.postMessage({ type: 'stop', reason: 'start failed' });
      await exited;
      throw e;
    }
  }

  /** Stops the node: running commands are killed, workers joined, sockets closed. */
  stop(reason: string): Promise<void> {
    if (this.stopping === undefined) {
      this.thread.postMessage({ type: 'stop', reason });
      this.stopping = this.exited;
    }
    return this.stopping;
  }

  /** Resolves when the broker thread has exited (after a stop, or a crash). */
  get done(): Promise<void> {
    return this.exited;
  }
}
