// Nodes using nodes, outputs: a client's item this node passed on to another node (peers.ts)
// comes back as a result whose outputs are blobs in *that* node's store. The client only knows
// this node and fetches from it (its `cas-get` runs here), so before the result goes back, this
// node copies those blobs from the node that ran the attempt into its own store, each verified
// by digest and size while it arrives (fetchVerified), exactly as a client fetches. A chain of
// nodes does the same at every hop, so outputs always come from the node that ran the attempt,
// and each copy is checked. (Before this, the client's fetch read this node's own store: it
// worked only when both nodes shared one cache directory, and otherwise the client ran the
// item again itself.)
//
// Why a copy and not a route: forwarding the client's `cas-get` to the far node would need this
// node to remember which peer holds which digest for which client, and to trust a client's
// choice of peer; a copy keeps one rule for every hop (a node serves only its own store) at the
// cost of one more transfer of the outputs (objects: kilobytes to a few megabytes).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cas } from './cas.ts';
import { parseResult, type RexecOutput } from './messages.ts';
import { isProtocolError, type Failure } from './protocol.ts';

/** The kinds of work whose results name outputs in the store of the node that ran them. */
export type StoredKind = 'rexec' | 'fenced' | 'rule';

let store: Cas | undefined;

/**
 * Copies the outputs named by a result of `kind` from the node `from` into this node's store;
 * undefined when every one is here, else why not (the result must not go back: the client could
 * not fetch its outputs from us). `fetch` reads the far node's blob into a new file, verified.
 */
export async function pullOutputs(
  kind: StoredKind, payload: Buffer, from: string, fetch: (hex: string, size: number, dest: string) => Promise<void>,
): Promise<Failure | undefined> {
  const r = kind === 'rule' ? parseResult('rule', payload) : parseResult(kind, payload);
  if (isProtocolError(r)) return { code: 'protocol', message: `node ${from} sent a malformed ${kind} result: ${r.message}` };
  const outputs: RexecOutput[] = Array.isArray(r.outputs) ? r.outputs : ('fenced' in r ? r.fenced : undefined) ?? [];
  if (outputs.length === 0) return undefined;
  try {
    store ??= new Cas();
    for (const o of outputs) {
      // Inline outputs travel in the result itself (the client verifies them): nothing to copy.
      if (o.digest === null || o.data !== undefined || store.has(o.digest)) continue;
      const final = store.pathOf(o.digest);
      fs.mkdirSync(path.dirname(final), { recursive: true });
      // Named as the store's own writers name temp files, so that maintenance removes it if
      // this process dies mid-copy; renamed into place only once its digest was checked.
      const tmp = `${final}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      await fetch(o.digest, o.size, tmp);
      fs.renameSync(tmp, final);
    }
  } catch (e) {
    // A failed system call is this node's own (its store is full, ...); anything else is the far
    // node's (it did not answer, or sent other bytes than it announced).
    const err = e as NodeJS.ErrnoException;
    const ours = typeof err.code === 'string' && typeof err.syscall === 'string';
    return {
      code: 'node.unhealthy',
      message: `could not copy the outputs of an item from node ${from}, which ran it: ${err.message}`,
      hint: ours ? 'free space in this node\'s cache directory (B_CACHE_DIR) or fix its disk' : `check node ${from}`,
      fields: { farNode: !ours },
    };
  }
  return undefined;
}
