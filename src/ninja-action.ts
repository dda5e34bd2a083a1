// One Ninja build statement as the engine's Action: what it sends a worker or another node, and
// how a result becomes the states of its outputs.
//
// A class, not an object literal of closures: a 90k-statement build holds an Action per edge for
// the whole build, and the literal cost 15 closures, their context and a dictionary-mode
// property array per edge (~2 KB: 36 MB of the heap of an 18k-edge build in a heap snapshot).
// The methods live once on the prototype; an edge keeps only its fields.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NinjaManifest } from './ninja-parser.ts';
import type { NinjaEdge } from './ninja-eval.ts';
import { parseDyndep } from './dyndep.ts';
import { NinjaSyntaxError } from './ninja-lexer.ts';
import { canonicalizePath } from './ninja-path.ts';
import { fingerprint } from './hash.ts';
import { commandTool } from './toolchain.ts';
import type { Action, Answer, Completed, RunContext } from './engine.ts';
import type { Trace } from './database.ts';
import { compileInfo, planRexec } from './rexec-client.ts';
import { foreignSystemFile, linkStep, planLink, type LinkStep } from './rexec-link.ts';
import { digestHex } from './hash.ts';
import type { NodeCacheIo } from './node-cache-client.ts';
import { placeOutputs, refusedDependency } from './remote-output.ts';
import type { FileState } from './database.ts';
import { UserError } from './errors.ts';
import { outcomeOf, type CmdWork, type FencedResult, type FencedWork, type Reply, type RexecOutput, type RexecResult, type TaskMeta } from './messages.ts';
import { isProtocolError, type Failure } from './protocol.ts';
// Types only: the cache's code loads with `--cache` alone (NinjaDescription.openCache).
import type { edgeCacheHooks, EdgeCall, NinjaCache, NodeAsk } from './ninja-cache.ts';

/** What an edge's action reads of the description it belongs to (ninja-build.ts). */
export interface EdgeOwner {
  readonly root: string;
  readonly manifest: NinjaManifest;
  /** Digest of the manifest files (set by the build host); '' until then. */
  readonly manifestId: string;
  readonly remoteEnv: {
    digestOf(abs: string): { digest: string; size: number; exec: boolean } | undefined;
    knownDeps(action: string): string[] | undefined;
    offer(m: Map<string, string>): void;
    /** The nodes' action caches (with `--cache` and `--node`). */
    nodeCache?: NodeCacheIo | undefined;
  } | undefined;
  /**
   * False when every command of the build runs in this process (build-local.ts): nothing reads a
   * placement's tool then, and finding it parses the command line (linkStep: ~4 ms of a zstd edit
   * rebuild's ten commands, in code that has not warmed up). Absent or true: the broker may place.
   */
  readonly placesRemotely?: boolean;
  actionCache(): NinjaCache | null;
  /** The cache's hooks for `edge` with `--cache` when it may be cached; else undefined. */
  cacheHooks(edge: NinjaEdge, call: () => EdgeCall, nodes: NodeAsk): CacheHooks | undefined;
  /** The edge that makes `out` through a dyndep file, if one does. */
  dyndepProducer(out: string): NinjaEdge | undefined;
  addDyndepOutput(out: string, edge: NinjaEdge): void;
  /** One shared, frozen array for every list of paths equal to `list` (a target's order-only inputs repeat on each of its edges). */
  shareList(list: string[]): string[];
}

// Shared by every action that has no order-only inputs, and the roots of one that sent no item; frozen so a push cannot reach them all.
const NONE: string[] = Object.freeze([]) as unknown as string[];

export type CacheHooks = ReturnType<typeof edgeCacheHooks>;

export class EdgeAction implements Action {
  readonly id: string;
  readonly outputs: string[];
  readonly inputs: string[];
  readonly orderOnly: string[];
  readonly generator: boolean;
  // `declare`d, so not a field of every action (as a class field each would be, set to
  // undefined): only actions that have them get them. Likewise the remote-execution and cache
  // state below: five fields fewer on each of ~90k actions (~3.6 MB on the 90k build).
  declare lookup?: (inputs: Answer[], answer: (keys: string[]) => Promise<Answer[]>) => Promise<Completed | undefined>;
  declare prepare?: (answer: (key: string) => Promise<Answer>) => Promise<void>;
  /** The build statement (read by the start order, ninja-build.ts). */
  readonly edge: NinjaEdge;
  private readonly owner: EdgeOwner;
  private command: string | undefined;
  private fp: number | undefined;
  /** The client directories the last self-contained item named: where its dependencies may be. */
  declare private sentRoots: string[] | undefined;
  /** The last self-contained item was a link: its result must name the system files it read. */
  declare private sentLink: boolean | undefined;
  declare private readonly hooks: CacheHooks | undefined;

  constructor(edge: NinjaEdge, owner: EdgeOwner) {
    this.edge = edge;
    this.owner = owner;
    const nOrder = edge.orderOnlyIns;
    this.id = edge.outs[0] ?? `#${edge.id}`;
    // The edge's own arrays where nothing adds to them: only a dyndep file grows an action's
    // inputs and outputs (loadDyndepInfo), and the copies cost ~50 bytes an edge. The order-only
    // lists of a target's edges are usually identical, so they are shared across edges.
    const grows = edge.dyndep !== '';
    this.inputs = nOrder === 0 && !grows ? edge.ins : edge.ins.slice(0, edge.ins.length - nOrder);
    this.orderOnly = nOrder === 0 ? NONE : owner.shareList(edge.ins.slice(edge.ins.length - nOrder));
    this.outputs = grows ? edge.outs.slice() : edge.outs;
    this.generator = edge.generator;
    const hooks = owner.cacheHooks(edge, () => this.call(), () => this.askNodes());
    if (hooks !== undefined) {
      this.hooks = hooks;
      this.lookup = async (inputs, answer) => {
        const c = await hooks.lookup(inputs, answer);
        return c && { ...c, extra: owner.manifestId };
      };
    }
    if (edge.dyndep !== '') this.prepare = (answer) => this.loadDyndepInfo(answer);
  }

  // Read through from the edge rather than copied: four fields fewer on each of ~90k actions.
  get validations(): string[] {
    return this.edge.validations;
  }
  get pool(): string {
    return this.edge.pool;
  }
  get phony(): boolean {
    return this.edge.isPhony;
  }
  get always(): boolean {
    return false;
  }

  private get isConsole(): boolean {
    return this.edge.pool === 'console';
  }

  private cmd(): string {
    return (this.command ??= this.edge.command);
  }

  private rspContent(): string {
    return this.edge.rspfile !== '' ? this.edge.rspfileContent : '';
  }

  /** The command fields the cache and remote execution key on. */
  private call(): EdgeCall {
    const e = this.edge;
    return {
      cmd: this.cmd(), root: this.owner.root, inputs: this.inputs, outputs: this.outputs, depfile: e.depfile, deps: e.deps,
      msvcPrefix: e.msvcDepsPrefix, rspfile: e.rspfile, rspfileContent: this.rspContent(),
    };
  }

  /** The link or archive this edge is, if a node may run it (rexec-link.ts). */
  private linkStep(): LinkStep | undefined {
    return linkStep(this.cmd(), this.owner.root, this.outputs.map((o) => path.resolve(this.owner.root, o)));
  }

  /** Nodes record only the self-contained compiles, links and archives they ran (rexec.ts): only those are asked for. */
  private askNodes(): { io: NodeCacheIo; tool: string; upload?: false } | undefined {
    const io = this.owner.remoteEnv?.nodeCache;
    if (io === undefined || this.isConsole) return undefined;
    const tool = commandTool(this.cmd());
    if (tool !== undefined && compileInfo(this.cmd(), this.owner.root) !== undefined) return { io, tool };
    const link = this.linkStep();
    return link !== undefined ? { io, tool: link.tool, ...(link.kind === 'link' ? { upload: false as const } : {}) } : undefined;
  }

  /** Records a result that another node produced in this machine's cache too (with --cache). */
  private async recordHere(c: Completed): Promise<Completed> {
    if (this.hooks === undefined) return c;
    const outputs = Object.fromEntries([...c.outputs].map(([k, v]) => [k, v === undefined ? null : { digest: v.digest }]));
    return (await this.hooks.record({ output: c.output, deps: c.discovered, outputs })) ? { ...c, cache: 'miss' } : c;
  }

  get fingerprint(): number {
    if (this.fp === undefined) {
      const rsp = this.edge.rspfile !== '' ? `;rspfile=${this.edge.rspfileContent}` : '';
      // Not through cmd(): a first build asks for the fingerprint after the edge ran (recordRun),
      // and cmd() would expand the command again and keep it to the end of the build (90k
      // statements: 80k compile lines of ~2.7 KB, 22 MB of the 18k build's heap at half-way).
      this.fp = fingerprint((this.command ?? this.edge.command) + rsp);
    }
    return this.fp;
  }

  trustsFingerprint(t: Trace): boolean {
    return this.owner.manifestId !== '' && t.extra === this.owner.manifestId;
  }

  stamp(t: Trace): Trace | undefined {
    const id = this.owner.manifestId;
    return id !== '' && t.extra !== id ? { ...t, extra: id } : undefined;
  }

  // Commands run on another node only where it has the same program (and, until remote
  // execution ships inputs, sees the same files); the console pool stays on the terminal.
  get placement(): TaskMeta {
    // A link's tool is its driver and linker (`link:cc`), an archive's its archiver: CMake's
    // `: && cc ...` starts with no program commandTool names.
    if (this.owner.placesRemotely === false) return { remote: !this.isConsole, root: this.owner.root };
    const tool = commandTool(this.cmd()) ?? this.linkStep()?.tool;
    return { remote: !this.isConsole, root: this.owner.root, ...(tool ? { tool } : {}) };
  }

  get description(): string {
    return this.edge.description || this.cmd();
  }

  remote(shared: boolean): Buffer | undefined {
    if (this.isConsole) return undefined;
    const e = this.edge;
    const root = this.owner.root;
    if (shared) {
      // The fence overlays the build root only: what the command writes elsewhere is not fenced.
      const inRoot = (p: string): boolean => p === '' || !/^\.\.(?:\/|$)/.test(path.relative(root, path.resolve(root, p)));
      if (![...this.outputs, e.depfile, e.rspfile].every(inRoot)) return undefined;
      const w: FencedWork = {
        k: 'fenced', cmd: this.cmd(), cwd: root, outs: this.outputs, depfile: e.depfile, deps: e.deps, msvcPrefix: e.msvcDepsPrefix,
        rspfile: e.rspfile, rspfileContent: this.rspContent(),
      };
      return Buffer.from(JSON.stringify(w));
    }
    const env = this.owner.remoteEnv;
    if (env === undefined) return undefined;
    const plan = planRexec({ ...this.call(), knownDeps: env.knownDeps(this.id) }, env.digestOf) ?? planLink(this.call(), env.digestOf);
    if (plan === undefined) return undefined;
    this.sentLink = plan.work.link === true;
    // With --cache the node records what it runs, keyed as a lookup from any client keys it.
    const cache = this.owner.actionCache();
    if (this.hooks !== undefined && cache !== null) {
      plan.work.cache = cache.rexecInfo(this.call(), new Set(plan.work.inputs.map((i) => i.path)), (k) => env.digestOf(path.resolve(root, k))?.digest);
    }
    env.offer(plan.offered);
    this.sentRoots = plan.work.roots;
    return Buffer.from(JSON.stringify(plan.work));
  }

  work(): CmdWork {
    const e = this.edge;
    return {
      k: 'cmd', cmd: this.cmd(), cwd: this.owner.root, outs: this.outputs, depfile: e.depfile, deps: e.deps, msvcPrefix: e.msvcDepsPrefix,
      rspfile: e.rspfile, rspfileContent: this.rspContent(), console: this.isConsole,
    };
  }

  async complete(result: Reply, ctx: RunContext): Promise<Completed | Failure> {
    try {
      return await this.completeResult(result, ctx);
    } finally {
      // The expanded command is kept only while the edge runs: a compile line of a generated
      // Chromium-style target is ~2.7 KB, which 80k finished compiles would hold to the end.
      this.command = undefined;
    }
  }

  private async completeResult(result: Reply, ctx: RunContext): Promise<Completed | Failure> {
    // From a worker or another machine: decoded once, strictly (messages.ts).
    const parsed = outcomeOf(['cmd', 'rexec', 'fenced'], result);
    if (isProtocolError(parsed)) return { code: 'protocol', message: `malformed result for ${this.cmd()}: ${parsed.message}`, where: this.where() };
    if (parsed.k === 'rexec') return this.completeRemote(parsed.r, ctx);
    if (parsed.k === 'fenced') return this.completeFenced(parsed.r, ctx);
    // A plain result says the command wrote our files itself: never true of another node,
    // which gets fenced or self-contained items only (a node answering so is not believed).
    if (ctx.node !== undefined) return { code: 'remote.unfenced', message: `node ${ctx.node} answered with a result of a command run on this machine's files`, where: this.where(), fields: { retryLocal: true } };
    const r = parsed.r;
    if (r.exit !== 0 || r.spawnError !== undefined) {
      const why = r.spawnError ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.exit}`);
      return { code: 'command-failed', message: `command failed (${why}): ${this.cmd()}`, where: this.where(), fields: { output: r.output, command: this.cmd(), ...termFields(r) } };
    }
    if (r.depsError !== undefined) {
      return { code: 'depfile', message: r.depsError, where: this.edge.depfile || this.edge.outs[0] || '', fields: { output: r.output } };
    }
    const outs = new Map<string, FileState | undefined>();
    for (const o of this.outputs) outs.set(o, r.outputs[o] ?? undefined);
    const recorded = this.hooks !== undefined && await this.hooks.record(r, true);
    return { outputs: outs, discovered: r.deps, value: undefined, output: r.output, extra: this.owner.manifestId, ...(recorded ? { cache: 'miss' as const } : {}) };
  }

  private where(): string {
    const e = this.edge;
    return `${path.relative(process.cwd(), e.file) || e.file}:${e.line}`;
  }

  private failedThere(r: { exit: number; signal?: string; spawnError?: string; output: string }): Failure {
    const why = r.spawnError ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.exit}`);
    return { code: 'command-failed', message: `command failed on a node (${why}): ${this.cmd()}`, where: this.where(), fields: { output: r.output, command: this.cmd(), retryLocal: true, ...termFields(r) } };
  }

  /** A result from a node without this machine's files: its outputs are fetched and written here. */
  private async completeRemote(r: RexecResult, ctx: RunContext): Promise<Completed | Failure> {
    if (r.exit !== 0 || r.spawnError !== undefined) return this.failedThere(r);
    const root = this.owner.root;
    for (const d of r.deps) {
      const why = typeof d === 'string' ? refusedDependency(d, [root, ...(this.sentRoots ?? NONE)]) : 'not a path';
      if (why !== undefined) return { code: 'remote.deps', message: `the node reported a dependency B does not accept: ${why}`, where: this.where(), fields: { retryLocal: true } };
    }
    if (this.sentLink === true) {
      const env = this.owner.remoteEnv;
      const mine = (abs: string): string | undefined => {
        const d = env?.digestOf(abs);
        return d === undefined ? undefined : digestHex(d.digest);
      };
      const foreign = foreignSystemFile(r.deps, r.depDigests, mine);
      if (foreign !== undefined) {
        return { code: 'remote.toolchain', message: `node ${ctx.node ?? '?'} linked with other system files than this machine's (${foreign}); linking here`, where: this.where(), hint: 'give the nodes the same system libraries as this machine (same distribution release and packages)', fields: { retryLocal: true } };
      }
    }
    const got = await this.fetchOutputs(r.outputs, ctx);
    if (!('outs' in got)) return got;
    const discovered = r.deps.map((d) => {
      const rel = path.relative(root, d);
      return canonicalizePath(rel.startsWith('..') || path.isAbsolute(rel) ? d : rel);
    });
    return this.recordHere({ outputs: got.outs, discovered, value: undefined, output: r.output, extra: this.owner.manifestId, bytes: { sent: r.fetched, received: got.received } });
  }

  /**
   * A result from a node that ran the command fenced on this machine's files (fence.ts): the
   * node wrote nothing here; the outputs of this attempt, the one the broker accepted (a late
   * result of an attempt given up on never reaches this), are fetched and renamed into place.
   */
  private async completeFenced(r: FencedResult, ctx: RunContext): Promise<Completed | Failure> {
    if (r.unfenceable !== undefined) return { code: 'remote.unfenced', message: `a node could not run this command fenced: ${r.unfenceable}`, where: this.where(), fields: { retryLocal: true } };
    // It saw our files, as a local run would: a failure is the command's, reported as one here.
    if (r.exit !== 0 || r.spawnError !== undefined) return { ...this.failedThere(r), fields: { output: r.output, command: this.cmd(), ...termFields(r) } };
    if (r.depsError !== undefined) return { code: 'depfile', message: r.depsError, where: this.edge.depfile || this.edge.outs[0] || '', fields: { output: r.output } };
    const got = await this.fetchOutputs(r.outputs, ctx);
    if (!('outs' in got)) return got;
    return this.recordHere({ outputs: got.outs, discovered: r.deps, value: undefined, output: r.output, extra: this.owner.manifestId, bytes: { sent: 0, received: got.received } });
  }

  /** The outputs of the accepted attempt (remote-output.ts): fetched and verified, or removed where it left none. */
  private async fetchOutputs(records: RexecOutput[], ctx: RunContext): Promise<{ outs: Map<string, FileState | undefined>; received: number } | Failure> {
    const got = await placeOutputs(this.owner.root, this.id, this.outputs, records, ctx.fetch);
    return 'outs' in got ? got : { ...got, where: this.where() };
  }

  /** The dyndep file's implicit inputs and outputs, added once it is built. */
  private async loadDyndepInfo(answer: (key: string) => Promise<Answer>): Promise<void> {
    const edge = this.edge;
    await answer(edge.dyndep);
    const info = loadDyndep(this.owner.root, edge.dyndep).get(edge.outs[0] ?? '');
    if (info === undefined) {
      throw new UserError({ code: 'ninja.dyndep', message: `'${edge.outs[0]}' not mentioned in its dyndep file '${edge.dyndep}'`, where: edge.dyndep, exitCode: 1 });
    }
    for (const i of info.implicitIns) if (!this.inputs.includes(i)) this.inputs.push(i);
    for (const o of info.implicitOuts) {
      const other = this.owner.manifest.producer.get(o) ?? this.owner.dyndepProducer(o);
      if (other !== undefined && other !== edge) {
        throw new UserError({ code: 'ninja.dyndep', message: `multiple rules generate ${o}`, where: edge.dyndep, exitCode: 1 });
      }
      if (!this.outputs.includes(o)) this.outputs.push(o);
      this.owner.addDyndepOutput(o, edge);
    }
  }
}

/**
 * Reads and parses a dyndep file; its errors fail the build as ninja's do when it loads one
 * (`ninja: build stopped: ...` once built in this build, else before the build).
 */
function loadDyndep(root: string, file: string): ReturnType<typeof parseDyndep> {
  let text: string;
  try {
    text = fs.readFileSync(path.resolve(root, file), 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : String((e as Error).message);
    throw new UserError({ code: 'ninja.dyndep', message: `loading '${file}': ${why}`, where: file, exitCode: 1 });
  }
  try {
    return parseDyndep(text, file);
  } catch (e) {
    if (e instanceof NinjaSyntaxError) throw new UserError({ code: 'ninja.dyndep', message: e.ninjaText, where: file, exitCode: 1 });
    throw e;
  }
}

/** How a command ended, as the typed Failure fields engine-types.ts's terminationOf reads. */
function termFields(r: { exit: number; signal?: string; spawnError?: string }): Record<string, string | number> {
  if (r.spawnError !== undefined) return { spawnError: r.spawnError };
  if (r.signal) return { signal: r.signal };
  return { exit: r.exit };
}
