// What each kind of client may do on this node: which work items it may submit and which NEED
// operations it may ask. The broker (broker.ts) decodes a message once and asks here; a refusal
// is a value (the reason counted in the node's status, and the Failure sent back), so every rule
// of the trust boundary is in one place and the broker only routes.

import { failureOf, isProtocolError, DEFAULT_MAX_MESSAGE_BYTES, type Failure } from './protocol.ts';
import { BUILD_KINDS, CACHE_KINDS, CACHE_WRITE_KINDS, parseMeta, parseWork, type TaskMeta } from './messages.ts';
import { type NeedOp } from './need-messages.ts';
import type { StoredKind } from './relay.ts';
import type { ClientState } from './broker-types.ts';
import { verifySessionId, type KeyPair } from './keys.ts';
import type { Role } from './protocol.ts';

/**
 * Most payload bytes one client may have queued or running on this node. A build keeps at most
 * a node's credits in flight (workers x 1.5), each a few kB to a few MB (a remote compile with
 * its inputs listed): 256 MiB is far above that and bounds what one client can make a node hold.
 * (B_MAX_CLIENT_BYTES changes it, for tests.)
 */
export const MAX_CLIENT_BYTES = Number(process.env.B_MAX_CLIENT_BYTES ?? 256 * 1024 * 1024);

const NO_META: TaskMeta = {};

/** A refusal: the reason counted in the node's status, and what the client is told. */
export interface Refusal {
  reason: string;
  failure: Failure;
}

export interface Admitted {
  meta: TaskMeta;
  /** The item's outputs are to be copied into this node's store before its result leaves (relay.ts). */
  pull: StoredKind | undefined;
}

/** What the broker knows that the checks need. */
export interface NodeFacts {
  nodeId: string;
  /** Public keys allowed to write this node's action cache (`b node --cache-writers`). */
  cacheWriters: readonly string[];
}

/** Whether `c` may submit this work item (SUBMIT), and with what meta. */
export function admitSubmit(c: ClientState, reqId: number, metaBuf: Buffer, work: Buffer, node: NodeFacts): Admitted | Refusal {
  let meta: TaskMeta = NO_META;
  if (metaBuf.length > 2) {
    const m = parseMeta(metaBuf);
    if (isProtocolError(m)) return { reason: `meta.${m.error}`, failure: failureOf(m) };
    meta = m;
  }
  let pull: StoredKind | undefined;
  if (c.via === 'remote') {
    // Another machine may submit only what a build sends (rules, commands, compiles, probes,
    // blob reads), fully validated here; the kinds that test the runtime (exec, fib, sleep,
    // throw, echo) exist only inside this process.
    const w = parseWork(work, DEFAULT_MAX_MESSAGE_BYTES);
    if (isProtocolError(w)) return { reason: `work.${w.error}`, failure: failureOf(w) };
    if (!BUILD_KINDS.has(w.k)) {
      return { reason: 'work.kind', failure: { code: 'work.kind', message: `work of kind "${w.k}" is not accepted from other machines`, where: node.nodeId } };
    }
    if (w.k === 'rexec' || w.k === 'fenced' || (w.k === 'rule' && w.fenced === true)) pull = w.k;
    // The node's action cache (node-cache.ts) is its own: read and written here, never passed
    // on, and written by another machine only under a key its operator listed.
    if (CACHE_WRITE_KINDS.has(w.k) && !node.cacheWriters.includes(c.identity)) {
      return {
        reason: 'cache.writer',
        failure: {
          code: 'cache.writer', message: `client ${c.name} may not write into the action cache of node ${node.nodeId}`, where: node.nodeId,
          hint: 'list the client\'s public key (b keygen --show) in the file given to `b node --cache-writers`',
        },
      };
    }
    if (CACHE_KINDS.has(w.k)) meta = { ...meta, remote: false };
  }
  if (c.tasks.has(reqId)) {
    return { reason: 'duplicate-id', failure: { code: 'protocol.id', message: `request ${reqId} is already running`, where: node.nodeId } };
  }
  if (c.bytes + work.length > MAX_CLIENT_BYTES) {
    return {
      reason: 'quota',
      failure: {
        code: 'limit.queued', message: `client ${c.name} already has ${c.bytes} bytes of work on node ${node.nodeId} (limit ${MAX_CLIENT_BYTES})`,
        hint: 'wait for results before submitting more', where: node.nodeId,
      },
    };
  }
  return { meta, pull };
}

/**
 * Who is on the other end of a HELLO, or why it is refused. Worker clients are this process's
 * only. With keys, a remote routing id must prove an allowed key (keys.ts sessionId): the key
 * is the identity, never the routing id alone. Without keys (--insecure) there is no identity
 * beyond the routing id, and status says so.
 */
export function admitHello(role: Role, remote: boolean, rid: Buffer, node: { key?: KeyPair; allow?: readonly string[] }): { identity: string } | Refusal {
  if (!remote) return { identity: 'local' };
  if (role === 'worker-client') return { reason: 'role', failure: { code: 'protocol.role', message: 'worker clients are local only' } };
  if (node.key === undefined) return { identity: `insecure:${rid.toString('hex').slice(0, 16)}` };
  const pub = verifySessionId(rid.toString('latin1'), node.key);
  if (pub !== undefined && (node.allow ?? []).includes(pub)) return { identity: pub };
  return {
    reason: 'identity',
    failure: {
      code: 'protocol.identity',
      message: `this connection's routing id (${rid.length} bytes) is not a session id proving an allowed key`,
      hint: 'connect with B itself (it derives the routing id from its key and the node\'s), the same release on both sides',
    },
  };
}

/**
 * What each kind of client may ask (NEED ops), checked after the op was decoded:
 * - status: anyone who may connect;
 * - build, clean: only this process's own client (never another machine, never a node);
 * - need, blob: a worker of this process for a task running on it, or a node for an item we
 *   gave it (peers.ts checks that, and translates the task id); remote clients never.
 * - run: a worker of this process for a task running on it; nodes and remote clients never.
 * `workerOf` names the worker a task of this node runs on.
 */
export function mayAsk(c: ClientState, op: NeedOp, workerOf: (task: number) => string | undefined): string | undefined {
  switch (op.op) {
    case 'status':
      return undefined;
    case 'build':
    case 'clean':
    case 'clean-dead':
      return c.via === 'inproc' && c.role === 'client' ? undefined : `only the build's own client may ask for "${op.op}"`;
    case 'need':
    case 'blob': {
      if (c.via === 'node') return undefined;
      if (c.via === 'inproc' && c.role === 'worker-client') {
        return workerOf(op.task) === c.name ? undefined : `task ${op.task} is not running on worker ${c.name}`;
      }
      return `a ${c.via} ${c.role} may not ask for "${op.op}"`;
    }
    case 'run':
      // A command run for a rule of this build: only a worker of this process may ask (a node
      // asking would have this machine run a command of its choosing).
      return c.via === 'inproc' && c.role === 'worker-client' && workerOf(op.task) === c.name
        ? undefined
        : `a ${c.via} ${c.role} may not ask for "run" of task ${op.task}`;
  }
}
