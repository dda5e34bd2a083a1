// The Ninja front end, broker side: a parsed build.ninja as a BuildDescription for the engine.
// Each build statement is an Action keyed by its first output (as Ninja's build log is).
//
// Semantics kept from Ninja: explicit and implicit inputs are dependencies, order-only inputs
// are built first but are not; a command line change reruns the edge (not for generator rules);
// depfile (`deps = gcc` or plain `depfile`) and `deps = msvc` headers are recorded in B's database
// after the command ran and checked on the next build; pools bound concurrency and `console`
// runs alone with the terminal; dyndep files add implicit inputs and outputs when the edge is
// reached; a phony with no inputs and no file is always out of date.
// Where B differs, on purpose: files are compared by content, so touching a file rebuilds
// nothing, and an output rewritten with identical content stops the rebuild (as `restat` does).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseManifest, type NinjaManifest } from './ninja-parser.ts';
import type { NinjaEdge } from './ninja-eval.ts';
import { NinjaSyntaxError } from './ninja-lexer.ts';
import { canonicalizePath } from './ninja-path.ts';
import { absPath } from './filestate.ts';
import type { Action, BuildDescription, StartOrder } from './engine.ts';
import { criticalPathWeights, StartQueue } from './start-order.ts';
import { jobserver } from './jobserver.ts';
import { UserError } from './errors.ts';
import type { CmdResult, CmdWork } from './messages.ts';
export type { CmdResult, CmdWork };
import type { SnapshotCommand } from './fastnoop.ts';
import type { EdgeCall, NinjaCache, NodeAsk } from './ninja-cache.ts';
import { cacheEnabled } from './action-env.ts';
import { EdgeAction, type CacheHooks, type EdgeOwner } from './ninja-action.ts';
import { leanHeapFor } from './heap-mode.ts';
import type { NodeCacheIo } from './node-cache-client.ts';

export class NinjaDescription implements BuildDescription, EdgeOwner {
  readonly root: string;
  readonly manifest: NinjaManifest;
  readonly file: string;
  readonly dbDir: string;
  readonly pools: Map<string, number>;
  readonly notices: string[];
  /** The action of each edge asked for, by edge id (an array: a 90k-entry Map costs ~1.5 MB more). */
  private readonly actions: (EdgeAction | undefined)[];
  /**
   * Identity of the manifest files' contents (digest of their digests), set by the build host:
   * a trace stamped with it was verified against a byte-identical manifest.
   */
  manifestId = '';
  /** Set false by the build host when every command runs in this process (EdgeOwner.placesRemotely). */
  placesRemotely = true;
  /** Set by the build host: digests and blob offers for remote execution. */
  remoteEnv: {
    digestOf(abs: string): { digest: string; size: number; exec: boolean } | undefined;
    knownDeps(action: string): string[] | undefined;
    offer(m: Map<string, string>): void;
    /** The nodes' action caches (with `--cache` and `--node`). */
    nodeCache?: NodeCacheIo | undefined;
  } | undefined;
  /** The action cache (`--cache`) and its module, once openCache() loaded them; null when off. */
  private cache: { cache: NinjaCache; mod: typeof import('./ninja-cache.ts') } | null | undefined;

  /**
   * Loads the action cache's code and opens it, with `--cache` only: a build without it never
   * loads ninja-cache.ts, action-key.ts, action-cache.ts or cas.ts (their module init cost ~28 ms
   * of every zstd no-op and edit-rebuild). The build host awaits this before the first engine.
   */
  async openCache(): Promise<void> {
    if (this.cache !== undefined) return;
    if (!cacheEnabled()) {
      this.cache = null;
      return;
    }
    const mod = await import('./ninja-cache.ts');
    this.cache = { cache: new mod.NinjaCache(this.root, mod.baseDir(path.resolve(this.root), this.manifest)), mod };
  }

  /** The action cache (`--cache`); null when off. */
  actionCache(): NinjaCache | null {
    if (this.cache === undefined) {
      // Not a user error: a caller built actions before openCache(), and --cache would be ignored.
      if (cacheEnabled()) throw new Error(`internal: the action cache of ${this.file} was asked for before openCache()`);
      this.cache = null;
    }
    return this.cache?.cache ?? null;
  }

  /** The cache's lookup and record hooks for an edge that may be cached (`--cache`); else undefined. */
  cacheHooks(edge: NinjaEdge, call: () => EdgeCall, nodes: NodeAsk): CacheHooks | undefined {
    this.actionCache(); // throws if --cache was given and openCache() not awaited
    const c = this.cache;
    if (!c) return undefined;
    return c.mod.uncacheable(edge, this.manifest, this.root) === undefined ? c.mod.edgeCacheHooks(c.cache, call, nodes) : undefined;
  }
  /** The shared path lists of shareList(), by their paths joined with NUL (which no path holds). */
  private readonly lists = new Map<string, string[]>();
  shareList(list: string[]): string[] {
    const key = list.join('\0');
    const had = this.lists.get(key);
    if (had !== undefined) return had;
    Object.freeze(list);
    this.lists.set(key, list);
    return list;
  }
  /** Dyndep-discovered outputs, by output path. */
  private readonly dyndepOutputs = new Map<string, NinjaEdge>();

  constructor(file: string, dir: string, manifest: NinjaManifest) {
    this.file = file;
    this.root = dir;
    this.manifest = manifest;
    this.pools = manifest.pools;
    this.notices = manifest.warnings.map((w) => w);
    // Filled in order, so the array stays a packed one (a store far past its end would turn a
    // growing array into a dictionary).
    const actions: (EdgeAction | undefined)[] = [];
    for (let i = 0; i < manifest.edges.length; i++) actions.push(undefined);
    this.actions = actions;
    this.dbDir = path.join(manifest.builddir ? path.resolve(dir, manifest.builddir) : dir, '.b');
  }

  show(key: string): string {
    return key;
  }

  defaults(): string[] {
    if (this.manifest.defaults.length > 0) return this.manifest.defaults;
    return rootTargets(this.manifest);
  }

  /** The manifest itself, when the manifest says how to make it (CMake's re-run step). */
  manifestKey(): string | undefined {
    // `file` may be relative to the build directory, not to this process's cwd (`-C DIR`).
    const rel = canonicalizePath(path.relative(this.root, path.resolve(this.root, this.file)));
    const edge = this.manifest.producer.get(rel);
    if (edge === undefined) return undefined;
    // As Ninja does for generator edges: a manifest newer than every input is up to date. This
    // is what keeps the first build of a fresh CMake/Meson tree (no trace of the manifest yet)
    // from re-running the generator; once an input is newer, traces decide (by content).
    return newerThanInputs(this.root, rel, edge, this.manifest) ? undefined : rel;
  }

  /**
   * The inputs of the edge that makes the manifest (CMakeLists.txt, meson.build, ...): the no-op
   * snapshot must hold them even when no engine read them, because manifestKey() found the
   * manifest newer than all of them by mtime alone (else an edit of meson.build after a snapshot
   * answered "no work to do").
   */
  manifestInputs(): string[] {
    const rel = canonicalizePath(path.relative(this.root, path.resolve(this.root, this.file)));
    const edge = this.manifest.producer.get(rel);
    if (edge === undefined) return [];
    // Sources, and files named by an input-less phony (Meson: `build ../meson.build: phony`).
    return edge.ins.slice(0, edge.ins.length - edge.orderOnlyIns).filter((i) => {
      const p = this.manifest.producer.get(i);
      return p === undefined || (p.isPhony && p.ins.length === 0);
    });
  }

  /**
   * The edges (by action id, their first output) that run in every build, as plain commands
   * for the no-op snapshot (fastnoop.ts), each after those of them it depends on; or why they
   * cannot be run without the graph (depfiles, rspfiles, the console, dyndep).
   */
  snapshotCommands(ids: string[]): SnapshotCommand[] | string {
    const edges: NinjaEdge[] = [];
    for (const id of ids) {
      const e = this.manifest.producer.get(id);
      if (e === undefined || e.isPhony) return `${id} runs in every build`;
      if (e.depfile !== '' || e.deps !== '' || e.rspfile !== '' || e.pool !== '' || e.dyndep !== '' || e.generator) {
        return `${id} runs in every build (its output is never written) and needs the manifest to run`;
      }
      edges.push(e);
    }
    // Which of these edges each one reaches through its inputs (memoized over the graph walk).
    const index = new Map(edges.map((e, i) => [e, i]));
    const reach = new Map<NinjaEdge, Set<number>>();
    const visit = (e: NinjaEdge): Set<number> => {
      let r = reach.get(e);
      if (r !== undefined) return r;
      r = new Set();
      reach.set(e, r);
      for (const i of e.ins) {
        const p = this.manifest.producer.get(i);
        if (p === undefined) continue;
        const j = index.get(p);
        if (j !== undefined) r.add(j);
        for (const k of visit(p)) r.add(k);
      }
      return r;
    };
    return edges.map((e) => ({
      cmd: e.command,
      cwd: this.root,
      description: e.description || e.command,
      outs: e.outs.map((o) => path.resolve(this.root, o)),
      after: [...visit(e)],
    }));
  }

  /** Ready edges start in ninja 1.13's order: critical path first, then manifest order. */
  startOrder(targets: string[], jobs: number): StartOrder {
    const m = this.manifest;
    const producer = (k: string): NinjaEdge | undefined => m.producer.get(k) ?? this.dyndepOutputs.get(k);
    const byEdge = criticalPathWeights<NinjaEdge>({ producer, inputs: (e) => e.ins, validations: (e) => e.validations, phony: (e) => e.isPhony }, targets);
    // Kept for the whole build by the rank function: by edge id, 4 bytes an edge, where the
    // Map's entries cost several times that on a 90k-edge graph. -1: not reached (as ninja).
    const weights = new Int32Array(m.edges.length).fill(-1);
    for (const [e, w] of byEdge) if (e.id < weights.length) weights[e.id] = w;
    const tokens = jobserver();
    return new StartQueue<Action>(jobs, this.pools, (a) => {
      const e = a instanceof EdgeAction ? a.edge : undefined;
      return { weight: e !== undefined ? (weights[e.id] ?? -1) : -1, id: e?.id ?? 0, pool: a.pool };
    }, tokens !== undefined ? { tokens } : {});
  }

  actionFor(key: string): Action | undefined {
    const edge = this.manifest.producer.get(key) ?? this.dyndepOutputs.get(key);
    if (edge === undefined) return undefined;
    let a = this.actions[edge.id];
    if (a === undefined || a.edge !== edge) {
      a = new EdgeAction(edge, this);
      this.actions[edge.id] = a;
    }
    return a;
  }

  dyndepProducer(out: string): NinjaEdge | undefined {
    return this.dyndepOutputs.get(out);
  }

  addDyndepOutput(out: string, edge: NinjaEdge): void {
    this.dyndepOutputs.set(out, edge);
  }
}

/**
 * Whether `out` exists and no input of `edge` is newer than it. Inputs must be source files;
 * CMake and Meson name theirs also as phony edges without inputs, which is still a source.
 */
function newerThanInputs(root: string, out: string, edge: NinjaEdge, m: NinjaManifest): boolean {
  let t: number;
  try {
    const s = fs.statSync(path.resolve(root, out), { throwIfNoEntry: false });
    if (s === undefined) return false;
    t = s.mtimeMs;
  } catch {
    return false;
  }
  for (const i of edge.ins.slice(0, edge.ins.length - edge.orderOnlyIns)) {
    const p = m.producer.get(i);
    if (p !== undefined && !(p.isPhony && p.ins.length === 0)) return false;
    try {
      // absPath: CMake names ~100 absolute module files here, resolved on every build.
      if ((fs.statSync(absPath(root, i), { throwIfNoEntry: false })?.mtimeMs ?? Infinity) > t) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Outputs that no edge uses as an input: what ninja builds when there is no `default`. */
export function rootTargets(m: NinjaManifest): string[] {
  const used = new Set<string>();
  for (const e of m.edges) for (const i of e.ins) used.add(i);
  const roots: string[] = [];
  for (const e of m.edges) for (const o of e.outs) if (!used.has(o)) roots.push(o);
  return roots;
}

export function loadNinja(file: string, dir: string, opts: { phonyCycleErr?: boolean; parse?: typeof parseManifest } = {}): NinjaDescription {
  let manifest: NinjaManifest;
  try {
    // `parse`: the Ninja personality's cached parse (ninja-manifest-cache.ts).
    manifest = (opts.parse ?? parseManifest)(file, { readFile: (p) => fs.readFileSync(path.resolve(dir, p), 'utf8'), ...(opts.phonyCycleErr === true ? { phonyCycleErr: true } : {}) });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === 'ENOENT') throw new UserError({ code: 'ninja.missing', message: `loading '${path.basename(file)}': No such file or directory`, exitCode: 1 });
    throw new UserError({ code: 'ninja.syntax', message: err instanceof NinjaSyntaxError ? err.ninjaText : err.message, exitCode: 1 });
  }
  // Both front doors (b build, the ninja personality) load here: a huge graph gets the lean heap.
  leanHeapFor(manifest.edges.length);
  return new NinjaDescription(file, dir, manifest);
}
