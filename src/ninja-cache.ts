// The action cache for Ninja edges: which edges may be cached, their action (action-key.ts),
// and the lookup before an edge runs and the record after it ran (action-cache.ts stores both).
//
// Opt-in (`--cache`, B_CACHE=1): a hit is only as right as the key is complete, and B cannot see
// what a command reads beyond its declared inputs, its depfile and the declared environment (a
// script's own data files, an undeclared variable, the clock). README.md, "Action cache", says
// what is and is not in the key.
//
// Never cached: phony, generator and console-pool edges, dyndep edges, edges with no inputs or
// fed by a phony that is always out of date (they run in every build on purpose), commands whose
// program cannot be named (`cd x && ...`), and failed or partial results (an output missing).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NinjaManifest } from './ninja-parser.ts';
import type { NinjaEdge } from './ninja-eval.ts';
import type { Answer, Completed } from './engine-types.ts';
import type { CachedResultWire, EdgeCommand, NodeAction, NodeCacheInfo } from './messages.ts';
import type { FileState } from './database.ts';
import { ActionCache } from './action-cache.ts';
import { absolutizer, actionKey, matchResult, pathKey, relativizer, withResult, type ActionSpec } from './action-key.ts';
import { platform } from './toolchain.ts';
import { commandPrograms, declaredEnv, resolveTool, toolFingerprint } from './action-env.ts';
export { cacheEnabled, commandPrograms, declaredEnv, KEY_ENV, resolveTool, toolFingerprint } from './action-env.ts';
import { checkOutputPath, isSystem } from './rexec-client.ts';
import { lookupOnNodes, nodeAction, type NodeCacheIo } from './node-cache-client.ts';
import { DIGEST_BYTES, digestFromHex, digestHex } from './hash.ts';
import { stateOf } from './filestate.ts';

/**
 * The base directory whose paths are written relative (ccache's base_dir): B_CACHE_BASEDIR if
 * set, else the deepest common ancestor of the build directory and the absolute, non-system
 * paths the manifest's edges read (CMake names sources by absolute path, from a build directory
 * beside or inside the source tree). Never shallower than two levels (/tmp/x): above that, moving
 * the tree would change nothing and unrelated paths would be rewritten.
 */
export function baseDir(root: string, m: NinjaManifest, env: NodeJS.ProcessEnv = process.env): string {
  const given = env.B_CACHE_BASEDIR;
  if (given !== undefined && path.isAbsolute(given)) {
    const rel = path.relative(given, root);
    return rel.startsWith('..') || path.isAbsolute(rel) ? root : path.resolve(given);
  }
  let common = root.split('/');
  for (const e of m.edges) {
    for (const i of e.ins) {
      if (!i.startsWith('/') || isSystem(i)) continue;
      const q = i.split('/');
      let k = 0;
      while (k < common.length && k < q.length - 1 && common[k] === q[k]) k++;
      if (k < 3) continue; // shares at most one level with the tree: not part of it
      common = common.slice(0, k);
    }
  }
  return common.join('/') || root;
}

export interface EdgeCall extends EdgeCommand {
  root: string;
  inputs: string[];
  outputs: string[];
}

/** Why an edge is never cached, or undefined if it may be. */
export function uncacheable(edge: NinjaEdge, m: NinjaManifest, root: string): string | undefined {
  if (edge.isPhony) return 'phony';
  if (edge.generator) return 'a generator edge';
  if (edge.pool === 'console') return 'in the console pool';
  if (edge.dyndep !== '') return 'has a dyndep file';
  if (edge.deps !== '' && edge.deps !== 'gcc' && edge.deps !== 'msvc') return `unknown deps type '${edge.deps}'`;
  const inputs = edge.ins.slice(0, edge.ins.length - edge.orderOnlyIns);
  if (inputs.length === 0) return 'has no inputs';
  const seen = new Set<NinjaEdge>();
  const volatile = (key: string): boolean => {
    const p = m.producer.get(key);
    if (p === undefined || !p.isPhony || seen.has(p)) return false;
    seen.add(p);
    const ins = p.ins.slice(0, p.ins.length - p.orderOnlyIns);
    if (ins.length === 0) return !fs.existsSync(path.resolve(root, key));
    return ins.some(volatile);
  };
  const v = inputs.find(volatile);
  if (v !== undefined) return `depends on ${v}, which is always out of date`;
  return undefined;
}

type AnswerFn = (keys: string[]) => Promise<Answer[]>;

/** A successful run's result, wherever it ran: printed output, discovered dependencies (keys), output digests (binary). */
export interface RanResult {
  output: string;
  deps: string[];
  outputs: Record<string, { digest: string } | null | undefined>;
}

/**
 * The nodes an edge may ask (its program and the io to them); undefined: ask none. `upload:
 * false`: nodes refuse its uploads (a link: node-cache.ts cachePut), so none is sent.
 */
export type NodeAsk = () => { io: NodeCacheIo; tool: string; upload?: false } | undefined;

/** One build's cache: the store, the base directory and the declared environment. */
export class NinjaCache {
  readonly root: string;
  readonly base: string;
  readonly store: ActionCache;
  readonly env = declaredEnv();
  private readonly rel: (s: string) => string;
  private readonly abs: (s: string) => string;

  constructor(root: string, base: string, store = new ActionCache()) {
    this.root = path.resolve(root);
    this.base = path.resolve(base);
    this.store = store;
    this.rel = relativizer(this.root, this.base);
    this.abs = absolutizer(this.root, this.base);
  }

  /** The action's key, or undefined when no program of it can be named. */
  async key(e: EdgeCall, inputs: Answer[]): Promise<string | undefined> {
    const programs = commandPrograms(e.cmd);
    if (programs.length === 0) return undefined;
    const prints: string[] = [];
    for (const p of programs) {
      const abs = resolveTool(p, this.root);
      prints.push(abs === undefined ? 'missing' : await toolFingerprint(abs)); // the name is in the command
    }
    const hashes = new Map(inputs.map((x) => [x.key, x.hash]));
    const spec: ActionSpec = {
      platform: platform(), tool: prints.join(' '), cmd: e.cmd, rspfileContent: e.rspfileContent, env: this.env,
      cwd: this.root, base: this.base,
      inputs: e.inputs.map((p) => ({ path: p, digest: digestHex(hashes.get(p) ?? '') })),
      outputs: e.outputs, depfile: e.depfile, deps: e.deps, msvcPrefix: e.msvcPrefix, rspfile: e.rspfile,
    };
    return actionKey(spec);
  }

  /**
   * The outcome of the action from the cache, its outputs written at their declared paths, or
   * undefined (a miss: run it). A result that cannot be restored is dropped.
   */
  async lookup(key: string, e: EdgeCall, answer: AnswerFn): Promise<Completed | undefined> {
    const entry = this.store.read(key);
    if (entry === undefined) return undefined;
    const hit = await matchResult(entry, async (deps) => (await answer(deps.map((d) => this.depKey(d)))).map((x) => hexOf(x.hash)));
    if (hit === undefined) return undefined;
    if (hit.outputs.length !== e.outputs.length || hit.outputs.some((o, i) => o.path !== this.rel(e.outputs[i]!))) return undefined;
    const outputs = new Map<string, FileState | undefined>();
    let bytes = 0;
    for (const [i, o] of hit.outputs.entries()) {
      const out = e.outputs[i]!;
      const dest = path.resolve(this.root, out);
      if (!this.store.restore(o.digest, dest, o.mode)) {
        this.store.drop(key);
        return undefined;
      }
      outputs.set(out, stateOf(fs.statSync(dest), digestFromHex(o.digest), true));
      bytes += o.size;
    }
    return { outputs, discovered: hit.deps.map((d) => this.depKey(d[0])), value: undefined, output: hit.output, extra: '', cache: 'local', cacheBytes: bytes };
  }

  /**
   * Records a successful run: its outputs' bytes, then the entry. False (nothing recorded) when
   * an output is missing or changed since the command wrote it, or a dependency is missing.
   */
  async record(key: string, e: EdgeCall, r: RanResult, answer: AnswerFn, stored?: (res: CachedResultWire) => void): Promise<boolean> {
    const outputs: { path: string; digest: string; size: number; mode: number }[] = [];
    for (const o of e.outputs) {
      const s = r.outputs[o];
      if (s === undefined || s === null || !isContentDigest(s.digest)) return false;
      const abs = path.resolve(this.root, o);
      let mode: number;
      let stored: { hex: string; size: number };
      try {
        mode = fs.statSync(abs).mode & 0o7777;
        stored = this.store.store(abs);
      } catch {
        return false;
      }
      if (stored.hex !== digestHex(s.digest)) return false; // rewritten after its command ended
      outputs.push({ path: this.rel(o), digest: stored.hex, size: stored.size, mode });
    }
    const answers = r.deps.length > 0 ? await answer(r.deps) : [];
    const deps: [string, string][] = [];
    for (const [i, d] of r.deps.entries()) {
      const h = hexOf(answers[i]?.hash ?? '');
      if (h === undefined) return false;
      deps.push([this.rel(d), h]);
    }
    this.store.write(withResult(this.store.read(key), key, { deps, outputs, output: r.output, t: Date.now() }));
    this.store.maybeMaintain();
    // As nodes record results (node-cache.ts, from absolute paths): markers, never a bare relative path.
    const wire = (p: string): string => this.rel(path.resolve(this.root, p));
    stored?.({ deps: deps.map((d, i) => [wire(r.deps[i]!), d[1]]), outputs: outputs.map((o, i) => ({ ...o, path: wire(e.outputs[i]!) })), output: r.output });
    return true;
  }

  /** The action a node keys for this edge (lookups and uploads name the same one). */
  nodeAction(e: EdgeCall, inputs: Answer[]): NodeAction {
    const hashes = new Map(inputs.map((x) => [x.key, x.hash]));
    return nodeAction({ ...e, base: this.base, env: this.env, inputs: this.declared(e, (k) => hashes.get(k)) });
  }

  /**
   * The declared inputs a node keys on (absolute, with hex digests): those with content here,
   * outside the system's directories, which is what a self-contained item ships of them
   * (rexec-client.ts planRexec), so a lookup and the item that ran name the same ones.
   */
  declared(e: EdgeCall, digest: (key: string) => string | undefined): { path: string; digest: string }[] {
    const out: { path: string; digest: string }[] = [];
    for (const p of e.inputs) {
      const abs = path.resolve(this.root, p);
      const h = digest(p);
      if (h === undefined || !isContentDigest(h) || isSystem(abs)) continue;
      out.push({ path: abs, digest: digestHex(h) });
    }
    return out;
  }

  /** What a self-contained item carries so that the node records its result (node-cache.ts). */
  rexecInfo(e: EdgeCall, shipped: Set<string>, digest: (key: string) => string | undefined): NodeCacheInfo {
    return { base: this.base, declared: this.declared(e, digest).map((i) => i.path).filter((p) => shipped.has(p)), env: this.env };
  }

  /**
   * The outcome from a node's cache (after this one missed): outputs fetched verified and
   * written, the result recorded here too (the next lookup in this tree is local); undefined
   * for a miss.
   */
  async lookupNodes(key: string, e: EdgeCall, inputs: Answer[], answer: AnswerFn, io: NodeCacheIo, tool: string): Promise<Completed | undefined> {
    const action = this.nodeAction(e, inputs);
    const hit = await lookupOnNodes(io, action, {
      tool,
      current: async (deps) => (await answer(deps.map((d) => this.keyOf(d)))).map((x) => hexOf(x.hash)),
      destination: (abs) => checkOutputPath(this.root, path.relative(this.root, abs), e.outputs[0] ?? abs),
    });
    if (hit === undefined) return undefined;
    const outputs = new Map<string, FileState | undefined>();
    const digests: RanResult['outputs'] = {};
    for (const [i, out] of e.outputs.entries()) {
      const d = digestFromHex(hit.outputs[i]!.digest);
      outputs.set(out, stateOf(fs.statSync(path.resolve(this.root, out)), d, true));
      digests[out] = { digest: d };
    }
    const discovered = hit.deps.map((d) => this.keyOf(d));
    await this.record(key, e, { output: hit.output, deps: discovered, outputs: digests }, answer).catch(() => false);
    return { outputs, discovered, value: undefined, output: hit.output, extra: '', cache: `node:${hit.node}`, cacheBytes: hit.bytes, bytes: { sent: 0, received: hit.bytes } };
  }

  /** The build's key for a path: relative inside the root, absolute outside (as depfiles are read). */
  private keyOf(p: string): string {
    return pathKey(this.root, p);
  }

  /**
   * The key of a dependency as an entry records it (relativized): the same headers recur in
   * most entries of a build (zstd: ~30 per compile, of ~60 distinct), so each is worked out once.
   */
  private depKey(recorded: string): string {
    let k = this.depKeys.get(recorded);
    if (k === undefined) {
      k = this.keyOf(this.abs(recorded));
      this.depKeys.set(recorded, k);
    }
    return k;
  }

  private readonly depKeys = new Map<string, string>();
}

/**
 * Whether an answer is a file's content digest: 16 bytes, any of them 0 (one file in 256 has a
 * digest that starts with a NUL byte). The markers for a missing file and a directory start with
 * NUL too but have other lengths (filestate.ts).
 */
export function isContentDigest(h: string): boolean {
  return h.length === DIGEST_BYTES;
}

/** A file answer's digest in hex; undefined for a missing file or a directory. */
/** A dependency's answer as the hex digest a cached result lists, or undefined if it is no file's content. */
export function hexOf(h: string): string | undefined {
  return isContentDigest(h) ? digestHex(h) : undefined;
}

/**
 * The cache's two hooks for one edge: `lookup` (the engine asks it before running the edge) and
 * `record` (after a successful run; says whether the result was a cacheable miss).
 */
export function edgeCacheHooks(cache: NinjaCache, call: () => EdgeCall, nodes?: NodeAsk): {
  lookup(inputs: Answer[], answer: AnswerFn): Promise<Completed | undefined>;
  /** `ranHere`: the command ran on this machine (with `--cache-upload` its result goes to the nodes). */
  record(r: RanResult, ranHere?: boolean): Promise<boolean>;
} {
  let key: string | undefined;
  let answerFn: AnswerFn | undefined;
  let inputsSeen: Answer[] = [];
  return {
    async lookup(inputs, answer) {
      answerFn = answer;
      inputsSeen = inputs;
      try {
        key = await cache.key(call(), inputs);
        if (key === undefined) return undefined;
        const local = await cache.lookup(key, call(), answer);
        if (local !== undefined) return local;
        const n = nodes?.();
        return n === undefined ? undefined : await cache.lookupNodes(key, call(), inputs, answer, n.io, n.tool);
      } catch {
        return undefined; // a cache that cannot be read is a miss; the build goes on
      }
    },
    async record(r, ranHere) {
      if (key === undefined || answerFn === undefined) return false;
      // Uploaded only where lookups ask: results the nodes' caches can serve (NodeAsk).
      const n = ranHere === true ? nodes?.() : undefined;
      const upload = n?.upload === false ? undefined : n?.io.upload;
      const stored = n === undefined || upload === undefined ? undefined : (res: CachedResultWire): void => {
        upload({ tool: n.tool, action: cache.nodeAction(call(), inputsSeen), result: res, blob: (hex) => cache.store.blobPath(hex) });
      };
      try {
        // False for a result that can never be recorded (a declared output the command did not
        // write, as CMake's add_custom_target stamps: zstd's `create_symlink` targets were 3 of
        // 58 "misses" in every warm build): not a cacheable miss, so not counted as one.
        return await cache.record(key, call(), r, answerFn, stored);
      } catch {
        // a full disk or a removed cache directory costs the entry, not the build
        return true;
      }
    },
  };
}
