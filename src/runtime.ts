// The in-process node, seen from the main thread: sets up the ZeroMQ context (I/O threads),
// starts the process broker thread (which starts its workers), and stops it all again.
// Every `b` command that runs work goes through here, so every exit path (end of work, error,
// Ctrl-C, SIGTERM) ends with the same join: broker stopped, workers joined, sockets closed.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { spawnThread } from './threads.ts';
import type { BrokerData } from './broker-types.ts';
import { decodeFromBroker, threadBug, type BrokerStarted, type ToBroker } from './thread-messages.ts';
import { isProtocolError } from './protocol.ts';
import { UserError } from './errors.ts';
export { defaultJobs } from './parallelism.ts';
import type { Logger } from './logger.ts';
import { clientKeyPair, isLoopback, parseNodeAddress, readAllowList, readKeyPair, type KeyPair } from './keys.ts';

export interface NodeOptions {
  /** Local worker threads; undefined: one per CPU; 0: none (work goes to other nodes). */
  workers?: number;
  /** Command slots (items running or waiting on their commands here); undefined: unbounded. */
  jobs?: number;
  ioThreads?: number;
  listen?: string[];
  lazyWorkers?: boolean;
  nodeId?: string;
  /** This node's key pair file (CurveZMQ server on --listen addresses). */
  keyFile?: string;
  /** Allowed client public keys (files or keys). */
  allow?: string[];
  /** Keys that may upload results into this node's action cache (files or keys). */
  cacheWriters?: string[];
  insecure?: boolean;
  /** Other nodes to use: tcp://host:port[#public-key]. */
  peers?: string[];
  /** Our key pair when connecting to nodes (default ~/.config/b/client.key). */
  clientKeyFile?: string;
  /** Use nodes without a pinned key, in plaintext (clients' --insecure). */
  insecureNodes?: boolean;
  heartbeatMs?: number;
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

/**
 * Keys and allow lists for listening, pinned keys for peers; refuses an open door.
 *
 * A node is authenticated everywhere, loopback included: on a shared machine any local user can
 * connect to 127.0.0.1, so "loopback only" is no protection (distcc's CVE-2004-2687, for local
 * users). We chose keys over an ipc socket in a 0700 directory with peer-uid checks: the same
 * CurveZMQ path as remote nodes (one mechanism to get right, tested everywhere), it works over
 * tcp and on every platform, and zeromq.js exposes no peer credentials (SO_PEERCRED) to check.
 * - `--key` and `--allow`: the node's key pair and the clients allowed (as before).
 * - no `--key`, loopback addresses only: the node uses the user's own client key pair
 *   (~/.config/b/client.key, 0600) as its server key and allows only that public key. The
 *   user's own clients connect with it (they assume an unpinned loopback node has their key);
 *   another user has another key (and cannot read this one), and the ZAP handler refuses it.
 * - `--insecure`: no keys at all (plaintext, anyone who can connect may run commands), loudly.
 * Clients refuse a non-loopback node without a pinned key unless --insecure (B_INSECURE=1).
 */
function security(opts: NodeOptions, generate: () => KeyPair, log: Logger): Partial<BrokerData> {
  const out: Partial<BrokerData> = {};
  const listen = opts.listen ?? [];
  let own: KeyPair | undefined;
  const ownKey = (): KeyPair => (own ??= clientKeyPair(opts.clientKeyFile, generate));
  if (opts.keyFile !== undefined) {
    out.key = readKeyPair(opts.keyFile);
    const allow = readAllowList(opts.allow ?? []);
    if (allow.size === 0) {
      throw new UserError({ code: 'usage', message: '--key needs --allow: the public keys of the clients that may use this node', hint: 'on each client run `b keygen --show` (or `b keygen NAME`) and list the public keys in a file passed to --allow' });
    }
    out.allow = [...allow];
  } else if ((opts.allow ?? []).length > 0) {
    throw new UserError({ code: 'usage', message: '--allow needs --key (this node\'s key pair)', hint: 'create one with `b keygen node`' });
  }
  const open = listen.filter((l) => !isLoopback(l));
  if (open.length > 0 && out.key === undefined) {
    if (!opts.insecure) {
      throw new UserError({
        code: 'insecure',
        message: `refusing to listen on ${open.join(', ')} without keys: anyone who can reach it could run commands on this machine`,
        hint: 'create keys with `b keygen node` and start with --key node.key --allow clients.pub, or pass --insecure on a trusted network',
      });
    }
    log.warn(`INSECURE: listening on ${open.join(', ')} without encryption or authentication (--insecure): anyone who can reach this port can run commands as ${process.env.USER ?? 'this user'}`);
  } else if (listen.length > 0 && out.key === undefined) {
    if (opts.insecure) {
      log.warn(`INSECURE: listening on ${listen.join(', ')} without keys (--insecure): every user of this machine can run commands as ${process.env.USER ?? 'this user'}`);
    } else {
      out.key = ownKey();
      out.allow = [out.key.publicKey];
    }
  }
  if ((opts.cacheWriters ?? []).length > 0) {
    if (out.key === undefined) {
      throw new UserError({ code: 'usage', message: '--cache-writers needs keys: without them a client has no identity to check', hint: 'start the node with --key node.key --allow clients.pub (or on loopback without --insecure)' });
    }
    out.cacheWriters = [...readAllowList(opts.cacheWriters ?? [])];
  }
  out.insecure = opts.insecure === true;
  const insecurePeers = opts.insecure === true || opts.insecureNodes === true || process.env.B_INSECURE === '1';
  const peers = (opts.peers ?? []).map(parseNodeAddress);
  if (peers.length > 0) {
    out.peers = peers.map((p) => {
      if (p.serverKey !== undefined) return { address: p.address, serverKey: p.serverKey };
      if (insecurePeers) {
        if (!isLoopback(p.address)) log.warn(`node ${p.address} is used without a pinned key (--insecure): traffic is not encrypted and the node is not authenticated`);
        return { address: p.address };
      }
      if (!isLoopback(p.address)) {
        throw new UserError({
          code: 'insecure',
          message: `node ${p.address} has no pinned key: its traffic would be neither encrypted nor authenticated`,
          hint: 'append #NODE_PUBLIC_KEY (or #node.pub) to the address, list it in ~/.config/b/nodes, or pass --insecure on a trusted network',
        });
      }
      // A node on this machine started without --key uses this user's own key (see above).
      return { address: p.address, serverKey: ownKey().publicKey };
    });
    if (out.peers.some((p) => p.serverKey !== undefined)) out.clientKey = ownKey();
  }
  return out;
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
    const workers = opts.workers ?? -1;
    if (!Number.isInteger(workers) || workers < -1 || workers > 4096) {
      throw new UserError({ code: 'usage', message: `--workers must be an integer from 0 to 4096, got ${workers}` });
    }
    if (opts.jobs !== undefined && (!Number.isInteger(opts.jobs) || opts.jobs < 1 || opts.jobs > 65536)) {
      throw new UserError({ code: 'usage', message: `--jobs must be an integer from 1 to 65536, got ${opts.jobs}` });
    }
    const z = await initZmq(ioThreads);
    const nodeId = opts.nodeId ?? defaultNodeId();
    const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const data: BrokerData = {
      nodeId,
      workers,
      ...(opts.jobs !== undefined ? { jobs: opts.jobs } : {}),
      lazyWorkers: opts.lazyWorkers ?? false,
      frontend: `inproc://b-${tag}-front`,
      backend: `inproc://b-${tag}-back`,
      listen: opts.listen ?? [],
      ...security(opts, z.curveKeyPair, log),
      ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}),
    };
    const thread = spawnThread({ kind: 'broker', ...data }, 'b-broker');
    let onStarted: (s: BrokerStarted) => void = () => {};
    let onFailed: (e: Error) => void = () => {};
    const started = new Promise<BrokerStarted>((res, rej) => {
      onStarted = res;
      onFailed = rej;
    });
    thread.on('message', (raw: unknown) => {
      const m = decodeFromBroker(raw);
      if (isProtocolError(m)) return log.error(threadBug('the main thread', m));
      switch (m.type) {
        case 'log':
          return log.fromThread(m.level, m.message);
        case 'started':
          return onStarted(m);
        case 'failed':
          return onFailed(new UserError({ code: 'node.start', message: `node could not start: ${m.message}`, hint: 'is another process listening on that address?' }));
        case 'stopped':
          return; // the thread's exit follows (exited)
      }
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
      thread.postMessage({ type: 'stop', reason: 'start failed' } satisfies ToBroker);
      await exited;
      throw e;
    }
  }

  /**
   * Stops the node: queued work is handed back to its clients, running work may finish for
   * `drainMs`, then commands are killed, workers joined, sockets closed.
   */
  stop(reason: string, drainMs = 0): Promise<void> {
    if (this.stopping === undefined) {
      this.thread.postMessage({ type: 'stop', reason, drainMs } satisfies ToBroker);
      this.stopping = this.exited;
    }
    return this.stopping;
  }

  /** A stop in progress stops waiting for running work. */
  hurry(): void {
    this.thread.postMessage({ type: 'stop', reason: 'hurry', drainMs: 0 } satisfies ToBroker);
  }

  /** Resolves when the broker thread has exited (after a stop, or a crash). */
  get done(): Promise<void> {
    return this.exited;
  }
}
