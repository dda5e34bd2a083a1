// The client's half of the nodes' action caches (node-cache.ts): after its own cache missed, a
// build asks the nodes it uses whether one of them already ran the action; a hit is fetched
// through the verified blob fetch (remote-output.ts fetchVerified: digest and size checked as
// the bytes arrive) and nothing runs.
//
// Generic over an action (NodeAction: command, working directory, declared inputs with digests,
// declared outputs), so any front end that describes its commands so can use it (Ninja edges
// today, Bfile run() next). What a node says is checked here before it is used: every output it
// names must be exactly one declared output, every dependency it recorded must have here the
// digest it had there (so a changed header misses, as in the local cache), and an output that
// fails verification makes the whole lookup a miss with nothing written: outputs are fetched
// into temp files first and renamed into place only when all of them verified.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { absolutizer, relativizer } from './action-key.ts';
import { isProtocolError } from './protocol.ts';
import { parseResult, type CachedResultWire, type NodeAction, type WorkItem } from './messages.ts';

export interface NodeCacheIo {
  /** The nodes whose cache may answer for work running `tool` (PeerSet.cacheNodes). */
  nodes(tool: string): { nodes: string[]; pending: boolean };
  /** Runs a work item on one node: its result's bytes. */
  call(node: string, work: WorkItem): Promise<Buffer>;
  /** Copies a blob from a node into a new file `dest`, verified (digest and size). */
  fetch(node: string, hex: string, size: number, dest: string): Promise<void>;
  /** With `--cache-upload`: queues a result this machine ran for the nodes' caches (cache-upload.ts); returns at once. */
  upload?: (u: Upload) => void;
}

/** One result to upload: the action as nodes key it, the result, and where each output's bytes are (by digest). */
export interface Upload {
  /** The program the command starts (only nodes with the same one get it, as for lookups). */
  tool: string;
  action: NodeAction;
  result: CachedResultWire;
  /** The file holding blob `hex` (the local cache's copy: it does not change under us), or undefined. */
  blob(hex: string): string | undefined;
}

/**
 * How long the first lookups wait for nodes still connecting or being probed for their
 * compiler (a probe is one round trip: a few ms on a LAN); after that they go on without them.
 */
const WAIT_FOR_NODES_MS = 3000;

export async function nodesFor(io: Pick<NodeCacheIo, 'nodes'>, tool: string): Promise<string[]> {
  const deadline = Date.now() + WAIT_FOR_NODES_MS;
  for (;;) {
    const r = io.nodes(tool);
    if (!r.pending || Date.now() >= deadline) return r.nodes;
    await new Promise((res) => setTimeout(res, 20));
  }
}

export interface NodeHit {
  node: string;
  /** What the command printed when it ran there. */
  output: string;
  /** stdout alone, when the result kept it (Bfile run()). */
  stdout?: string;
  /** Discovered dependencies, as absolute paths of this tree. */
  deps: string[];
  /** Declared outputs (absolute), in order, with their digests (hex) and sizes, now in place. */
  outputs: { path: string; digest: string; size: number }[];
  bytes: number;
}

export interface LookupOptions {
  /** The program the command starts (nodes with another one are not asked). */
  tool: string;
  /** Digests (hex; undefined: missing) of dependencies here, by absolute path, in order. */
  current(deps: string[]): Promise<(string | undefined)[]>;
  /** The checked destination of a declared output (inside the build root, or it throws). */
  destination(abs: string): string;
}

/**
 * The action's result from the first node that has one whose dependencies verify here, its
 * outputs written in place; undefined for a miss (no node, no result, a result for other
 * headers, or an output that failed verification).
 */
export async function lookupOnNodes(io: NodeCacheIo, action: NodeAction, o: LookupOptions): Promise<NodeHit | undefined> {
  const nodes = await nodesFor(io, o.tool);
  if (nodes.length === 0) return undefined;
  const answers = await Promise.all(nodes.map(async (node) => {
    try {
      const r = parseResult('cache-lookup', await io.call(node, { k: 'cache-lookup', action }));
      return isProtocolError(r) ? [] : r.results.map((res) => ({ node, res }));
    } catch {
      return []; // a node that cannot answer is a miss there
    }
  }));
  const abs = absolutizer(action.cwd, action.base);
  for (const { node, res } of answers.flat()) {
    const deps = res.deps.map((d) => abs(d[0]));
    const now = await o.current(deps);
    if (!res.deps.every((d, i) => now[i] === d[1])) continue;
    const hit = await fetchAll(io, node, res, action, o);
    if (hit !== undefined) return { ...hit, deps };
  }
  return undefined;
}

/** Fetches a result's outputs into temp files, all verified, then renames them into place. */
async function fetchAll(io: NodeCacheIo, node: string, res: CachedResultWire, action: NodeAction, o: LookupOptions): Promise<Omit<NodeHit, 'deps'> | undefined> {
  // Compared as the recorder wrote them (relative), as the local cache compares its outputs.
  const rel = relativizer(action.cwd, action.base);
  if (res.outputs.length !== action.outputs.length || res.outputs.some((x, i) => x.path !== rel(action.outputs[i]!))) return undefined;
  const staged: { tmp: string; dest: string; mode: number }[] = [];
  try {
    let bytes = 0;
    for (const [i, x] of res.outputs.entries()) {
      const dest = o.destination(action.outputs[i]!);
      const tmp = `${dest}.b-node-cache-${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
      staged.push({ tmp, dest, mode: x.mode });
      await io.fetch(node, x.digest, x.size, tmp);
      bytes += x.size;
    }
    for (const s of staged) {
      fs.chmodSync(s.tmp, s.mode & 0o777);
      fs.renameSync(s.tmp, s.dest);
    }
    return { node, output: res.output, ...(res.stdout !== undefined ? { stdout: res.stdout } : {}), outputs: res.outputs.map((x, i) => ({ path: action.outputs[i]!, digest: x.digest, size: x.size })), bytes };
  } catch {
    return undefined; // a blob that failed verification (or vanished): a miss, nothing written
  } finally {
    for (const s of staged) fs.rmSync(s.tmp, { force: true });
  }
}

/** The NodeAction of a command with declared inputs (absolute, with content digests in hex). */
export function nodeAction(e: {
  cmd: string; root: string; base: string; inputs: { path: string; digest: string }[]; outputs: string[];
  depfile: string; deps: string; msvcPrefix: string; rspfile: string; rspfileContent: string; env: Record<string, string>;
}): NodeAction {
  const a = (p: string): string => path.resolve(e.root, p);
  return {
    cmd: e.cmd, cwd: e.root, base: e.base, inputs: e.inputs, outputs: e.outputs.map(a), depfile: e.depfile !== '' ? a(e.depfile) : '',
    deps: e.deps, msvcPrefix: e.msvcPrefix, rspfile: e.rspfile !== '' ? a(e.rspfile) : '', rspfileContent: e.rspfileContent, env: e.env,
  };
}
