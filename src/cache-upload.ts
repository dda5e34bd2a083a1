// The client's uploads into the nodes' action caches (`--cache-upload`, B_CACHE_UPLOAD=1; Bazel's
// `--remote_upload_local_results`): after an action that ran on this machine succeeded and was
// recorded in the local cache, its result goes to every node of the build that could serve it
// (node-cache-client.ts nodesFor: same platform and compiler fingerprint): each output blob by
// `cas-put` (verified by the node against its digest), then `cache-put`, which the node files
// under the key it computes itself (node-cache.ts cachePut: it never takes a client's key).
//
// Off the critical path: `enqueue` returns at once; at most UPLOAD_CONCURRENCY uploads are in
// flight (each is 1 + outputs round trips, a few ms on a LAN; more would compete with the
// build's own remote work for the same sockets), and the build waits for them only at its end
// (`drain`), so the process never exits with uploads in flight. A failure is a warning, never a
// build failure; a node that refuses (`cache.writer`) is named once, with the fix, and gets no
// further uploads in this build.

import * as fs from 'node:fs';
import { CAS_PUT_MAX, parseResult } from './messages.ts';
import { isProtocolError } from './protocol.ts';
import { nodesFor, type NodeCacheIo, type Upload } from './node-cache-client.ts';
import { envFlag } from './action-env.ts';
import { shownPath } from './action-key.ts';

/** Whether successful local results are uploaded (`--cache-upload` sets B_CACHE_UPLOAD=1 for the process). */
export function uploadEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return envFlag(env.B_CACHE_UPLOAD);
}

/** Uploads in flight at once (see the header). */
const UPLOAD_CONCURRENCY = 4;

export interface UploadSummary {
  /** Results a node stored, counted once per node. */
  results: number;
  /** Blob bytes sent. */
  bytes: number;
  nodes: number;
  /** What the user should hear (a refusal once per node, failures summed per node). */
  warnings: string[];
}

type Io = Pick<NodeCacheIo, 'nodes' | 'call'>;

export class Uploader {
  private readonly io: Io;
  private readonly queue: Upload[] = [];
  /** Uploads that found no node yet (still connecting, or probing its compiler): tried once more at the end. */
  private deferred: Upload[] | undefined = [];
  private running = 0;
  private idle: (() => void)[] = [];
  private results = 0;
  private bytes = 0;
  private readonly usedNodes = new Set<string>();
  /** Nodes that refused (cache.writer), with the failure's message. */
  private readonly refused = new Map<string, string>();
  /** Other failures by node: count and the first message. */
  private readonly failed = new Map<string, { n: number; first: string }>();
  /** Blobs sent or being sent to each node (one cas-put per blob and node, even from concurrent uploads). */
  private readonly sent = new Map<string, Map<string, Promise<void>>>();

  constructor(io: Io) {
    this.io = io;
  }

  /** Queues one result; never throws, never waits. */
  enqueue(u: Upload): void {
    this.queue.push(u);
    this.pump();
  }

  /** Waits for every queued upload; what happened. */
  async drain(): Promise<UploadSummary> {
    while (this.running > 0 || this.queue.length > 0) await new Promise<void>((res) => this.idle.push(res));
    const later = this.deferred ?? [];
    this.deferred = undefined;
    for (const u of later) this.enqueue(u);
    while (this.running > 0 || this.queue.length > 0) await new Promise<void>((res) => this.idle.push(res));
    const warnings: string[] = [];
    for (const [node, why] of this.refused) {
      warnings.push(`node ${node} refused this build's results for its action cache (${why}); add this client's public key (\`b keygen --show\`) to the file given to \`b node --cache-writers\` on ${node}`);
    }
    for (const [node, f] of this.failed) warnings.push(`${f.n} upload${f.n === 1 ? '' : 's'} into the action cache of node ${node} failed (first: ${f.first}); the build is not affected`);
    return { results: this.results, bytes: this.bytes, nodes: this.usedNodes.size, warnings };
  }

  private pump(): void {
    while (this.running < UPLOAD_CONCURRENCY && this.queue.length > 0) {
      const u = this.queue.shift()!;
      this.running++;
      void this.one(u).finally(() => {
        this.running--;
        this.pump();
        if (this.running === 0 && this.queue.length === 0) for (const f of this.idle.splice(0)) f();
      });
    }
  }

  private async one(u: Upload): Promise<void> {
    let nodes: string[];
    try {
      nodes = await nodesFor(this.io, u.tool);
    } catch {
      return;
    }
    // No node yet (connecting, or its compiler probe unanswered past nodesFor's 3 s): once more
    // at the end of the build rather than dropped.
    if (nodes.length === 0 && this.deferred !== undefined) {
      this.deferred.push(u);
      return;
    }
    await Promise.all(nodes.filter((n) => !this.refused.has(n)).map((n) => this.toNode(n, u)));
  }

  private async toNode(node: string, u: Upload): Promise<void> {
    try {
      const have = this.sent.get(node) ?? new Map<string, Promise<void>>();
      this.sent.set(node, have);
      for (const o of u.result.outputs) {
        let put = have.get(o.digest);
        if (put === undefined) {
          put = this.putBlob(node, o, u);
          have.set(o.digest, put);
          put.catch(() => have.delete(o.digest)); // a later result may try again
        }
        await put;
      }
      const r = parseResult('cache-put', await this.io.call(node, { k: 'cache-put', action: u.action, result: u.result }));
      if (isProtocolError(r)) throw new Error(r.message);
      if (r.stored) {
        this.results++;
        this.usedNodes.add(node);
      }
    } catch (e) {
      const err = e as Error & { code?: string };
      if (err.code === 'cache.writer') {
        if (!this.refused.has(node)) this.refused.set(node, err.message);
        return;
      }
      const f = this.failed.get(node);
      if (f === undefined) this.failed.set(node, { n: 1, first: err.message });
      else f.n++;
    }
  }

  private async putBlob(node: string, o: { path: string; digest: string; size: number }, u: Upload): Promise<void> {
    if (o.size > CAS_PUT_MAX) throw new Error(`output ${shownPath(o.path)} is ${o.size} bytes, more than one upload carries (${CAS_PUT_MAX})`);
    const file = u.blob(o.digest);
    if (file === undefined) throw new Error(`blob ${o.digest.slice(0, 12)} is no longer in the local cache`);
    const data = fs.readFileSync(file);
    const r = parseResult('cas-put', await this.io.call(node, { k: 'cas-put', digest: o.digest, data: data.toString('base64') }));
    if (isProtocolError(r) || !r.stored) throw new Error(isProtocolError(r) ? r.message : `blob ${o.digest.slice(0, 12)} not stored`);
    this.bytes += data.length;
  }
}
