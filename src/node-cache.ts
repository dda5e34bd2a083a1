// A node's own action cache: the results of self-contained compiles, links and archives this
// node ran (rexec.ts, rexec-link.ts),
// served to the clients that use it (`cache-lookup`), plus the results a cache writer uploaded
// (`cache-put`, only for keys `b node --cache-writers` lists; the broker checks the identity).
//
// Trust: a node computes every key itself, from the item it ran: its own platform, the
// fingerprint of its own compiler, the command and the declared inputs with the digests of the
// bytes it put in the sandbox (each verified when materialized). A client names neither the key
// nor the outputs, so a client without the writer right cannot file a result under another
// action's key: to hit, another client's action must be the same command on the same declared
// inputs, compiled here, and every header the compiler read must have the digest it had. The
// paths a client gives only choose which part of the key is written relative (action-key.ts
// relativizer: a marker for a prefix, which is invertible, so two different commands never share
// a relative text).
// A link reads the system's crt files and libraries besides its inputs: recorded only with each
// file the linker named (rexec.ts linkRead) and its digest, so a client whose libraries differ
// misses; and never from an upload (cachePut), whose linker named nothing.
// Recorded only where each command ran isolated (sandbox.ts namespaces): unisolated, a
// concurrent command of another client could rewrite an output before it was stored.
//
// On disk: entries in `$B_CACHE_DIR/node-actions/entries` (action-cache.ts format); the outputs
// are the blobs rexec already put in the node's store (`$B_CACHE_DIR/cas`). The store evicts
// on its own (LRU): a lookup serves only results whose blobs are all there and still hash to
// their names (a damaged blob makes that result a miss and is removed), and the client verifies
// again as it fetches (remote-output.ts fetchVerified).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ActionCache } from './action-cache.ts';
import { actionKey, relativizer, withResult, type ActionResult } from './action-key.ts';
import { commandPrograms, resolveTool, toolFingerprint } from './action-env.ts';
import { cacheDir } from './cachedir.ts';
import { digestFile, digestHex } from './hash.ts';
import { platform, toolPrint } from './toolchain.ts';
import { linkStep } from './rexec-link.ts';
import { isSystem } from './rexec-client.ts';
import { isolation } from './sandbox.ts';
import { nodeCas } from './rexec.ts';
import { CAS_PUT_MAX, type CacheLookupResult, type CacheLookupWork, type CachePutResult, type CachePutWork, type CasPutWork, type NodeAction, type RexecResult, type RexecWork } from './messages.ts';

let entries: ActionCache | undefined;

/** The node's entries (made on first use: a node that never caches creates nothing). */
export function nodeEntries(): ActionCache {
  entries ??= new ActionCache(path.join(cacheDir(), 'node-actions'));
  return entries;
}

/** For tests: forget the entries object (B_CACHE_DIR changed). */
export function resetNodeEntries(): void {
  entries = undefined;
}

/**
 * The key of an action as this node runs it, or undefined when a program cannot be
 * fingerprinted here. `digests` are the inputs' (path -> hex), for a program that is itself an
 * input (a wrapper script in the tree): its content is its fingerprint.
 */
export async function nodeKey(a: NodeAction, digests: Map<string, string>): Promise<string | undefined> {
  const programs = commandPrograms(a.cmd);
  if (programs.length === 0) return undefined;
  const prints: string[] = [];
  for (const p of programs) {
    const abs = p.includes('/') ? path.resolve(a.cwd, p) : resolveTool(p, '/');
    if (abs === undefined) return undefined;
    if (isSystem(abs)) prints.push(await toolFingerprint(abs));
    else {
      const d = digests.get(abs);
      if (d === undefined) return undefined;
      prints.push(`input:${d}`);
    }
  }
  // A link's bytes are its linker's too (toolchain.ts linkPrint), not only its driver's.
  const link = linkStep(a.cmd, a.cwd, a.outputs);
  if (link?.kind === 'link') prints.push(`linker:${(await toolPrint(link.tool)).hash}`);
  return actionKey({
    platform: `node ${platform()}`, tool: prints.join(' '), cmd: a.cmd, rspfileContent: a.rspfileContent, env: a.env,
    cwd: a.cwd, base: a.base, inputs: a.inputs, outputs: a.outputs, depfile: a.depfile, deps: a.deps, msvcPrefix: a.msvcPrefix, rspfile: a.rspfile,
  });
}

/** The action a self-contained item stands for, or undefined (it carries no cache info, or a declared input was not shipped). */
export function actionOfRexec(w: RexecWork): NodeAction | undefined {
  if (w.cache === undefined) return undefined;
  const byPath = new Map(w.inputs.map((i) => [i.path, i.digest]));
  const inputs: { path: string; digest: string }[] = [];
  for (const p of w.cache.declared) {
    const d = byPath.get(p);
    if (d === undefined) return undefined;
    inputs.push({ path: p, digest: d });
  }
  return {
    cmd: w.cmd, cwd: w.cwd, base: w.cache.base, inputs, outputs: w.outputs, depfile: w.depfile, deps: w.deps, msvcPrefix: w.msvcPrefix,
    rspfile: w.rspfile, rspfileContent: w.rspfileContent, env: w.cache.env,
  };
}

/**
 * Records the result of a self-contained item this node just ran: exit 0 only, every output
 * present (in the store), every dependency the compiler named either shipped (its digest is the
 * one verified in the sandbox) or a file of this system (hashed now). Returns whether it did.
 */
export async function recordRexec(w: RexecWork, r: RexecResult): Promise<boolean> {
  if (r.exit !== 0 || r.spawnError !== undefined || r.signal !== undefined) return false;
  if (isolation().kind !== 'namespaces') return false;
  const a = actionOfRexec(w);
  if (a === undefined) return false;
  const digests = new Map(w.inputs.map((i) => [i.path, i.digest]));
  const key = await nodeKey(a, digests);
  if (key === undefined) return false;
  const rel = relativizer(a.cwd, a.base);
  const deps: [string, string][] = [];
  for (const [i, d] of r.deps.entries()) {
    // A link's system files were hashed as it ended (rexec.ts linkRead): not again.
    let hex = digests.get(d) ?? r.depDigests?.[i] ?? undefined;
    if (hex === undefined && isSystem(d)) {
      try {
        hex = digestHex(digestFile(d));
      } catch {
        return false; // named by the compiler, gone now: nothing to compare a lookup with
      }
    }
    if (hex === undefined) return false; // read in the sandbox but never shipped: cannot be checked later
    deps.push([rel(d), hex]);
  }
  const outputs: ActionResult['outputs'] = [];
  for (const o of w.outputs) {
    const got = r.outputs.find((x) => x.path === o);
    if (got === undefined || got.digest === null) return false;
    outputs.push({ path: rel(o), digest: got.digest, size: got.size, mode: got.mode });
  }
  const store = nodeEntries();
  // A Bfile run() resolves with its stdout: kept so that a hit can answer it too.
  const stdout = w.stdout === true && r.stdout !== undefined ? { stdout: r.stdout } : {};
  store.write(withResult(store.read(key), key, { deps, outputs, output: r.output, ...stdout, t: Date.now() }));
  store.maybeMaintain();
  return true;
}

/** Whether the store holds blob `hex` of `size` bytes, its bytes hashing to the name (else it is removed). */
function blobIntact(hex: string, size: number): boolean {
  const cas = nodeCas();
  if (!cas.has(hex)) return false;
  const p = cas.pathOf(hex);
  try {
    if (fs.statSync(p).size === size && digestHex(digestFile(p)) === hex) return true;
  } catch {
    return false;
  }
  fs.rmSync(p, { force: true });
  return false;
}

/** The results recorded for an action whose blobs are all here and intact (a result with a damaged one is dropped). */
export async function cacheLookup(w: CacheLookupWork): Promise<CacheLookupResult> {
  const key = await nodeKey(w.action, new Map(w.action.inputs.map((i) => [i.path, i.digest])));
  if (key === undefined) return { results: [] };
  const store = nodeEntries();
  const e = store.read(key);
  if (e === undefined) return { results: [] };
  const good = e.results.filter((r) => r.outputs.every((o) => blobIntact(o.digest, o.size)));
  if (good.length !== e.results.length) {
    if (good.length === 0) store.drop(key);
    else store.write({ ...e, results: good });
  }
  return { results: good.map((r) => ({ deps: r.deps, outputs: r.outputs, output: r.output, ...(r.stdout !== undefined ? { stdout: r.stdout } : {}) })) };
}

/** A cache writer's blob (the broker let only a `--cache-writers` key send it): stored if it hashes to its name. */
export function casPut(w: CasPutWork): CachePutResult {
  const data = Buffer.from(w.data, 'base64');
  if (data.length > CAS_PUT_MAX) throw new Error(`blob of ${data.length} bytes is larger than ${CAS_PUT_MAX}`);
  const cas = nodeCas();
  if (cas.has(w.digest)) return { stored: true };
  const wr = cas.writer(w.digest);
  try {
    wr.write(data);
    wr.commit();
  } catch (e) {
    wr.abort();
    throw new Error(`blob ${w.digest.slice(0, 12)} does not match its digest: ${(e as Error).message}`);
  }
  return { stored: true };
}

/**
 * A cache writer's result (the broker checked the writer right): filed under the key this node
 * computes for the action, only if every blob it names is here and intact.
 */
export async function cachePut(w: CachePutWork): Promise<CachePutResult> {
  // A link's result is only as right as the system files it read, which only a link run here
  // reports (rexec.ts linkRead); a client's own link records none, so an upload would serve it
  // to clients with other system libraries.
  if (linkStep(w.action.cmd, w.action.cwd, w.action.outputs)?.kind === 'link') return { stored: false };
  const key = await nodeKey(w.action, new Map(w.action.inputs.map((i) => [i.path, i.digest])));
  if (key === undefined) return { stored: false };
  if (!w.result.outputs.every((o) => blobIntact(o.digest, o.size))) return { stored: false };
  const deps: [string, string][] = [];
  for (const d of w.result.deps) {
    const [p, h] = d;
    if (p === undefined || h === undefined || !/^[0-9a-f]{32}$/.test(h) || d.length !== 2) return { stored: false };
    deps.push([p, h]);
  }
  const store = nodeEntries();
  const stdout = w.result.stdout !== undefined ? { stdout: w.result.stdout } : {};
  store.write(withResult(store.read(key), key, { deps, outputs: w.result.outputs, output: w.result.output, ...stdout, t: Date.now() }));
  return { stored: true };
}
