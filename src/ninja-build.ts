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
import { parseDyndep } from './dyndep.ts';
import { NinjaSyntaxError } from './ninja-lexer.ts';
import { canonicalizePath } from './ninja-path.ts';
import { fingerprint } from './hash.ts';
import { commandTool } from './toolchain.ts';
import type { Action, Answer, BuildDescription, Completed, RunContext } from './engine.ts';
import { checkOutputPath, compileInfo, planRexec } from './rexec-client.ts';
import type { NodeCacheIo } from './node-cache-client.ts';
import { refusedDependency } from './remote-output.ts';
import { stateOf } from './filestate.ts';
import { digestFromHex } from './hash.ts';
import type { FileState } from './database.ts';
import { UserError } from './errors.ts';
import { outcomeOf, type CmdResult, type CmdWork, type FencedResult, type FencedWork, type Reply, type RexecOutput, type RexecResult } from './messages.ts';
import { isProtocolError, type Failure } from './protocol.ts';
export type { CmdResult, CmdWork };
import type { SnapshotCommand } from './fastnoop.ts';
import { baseDir, cacheEnabled, edgeCacheHooks, NinjaCache, uncacheable, type EdgeCall } from './ninja-cache.ts';

export class NinjaDescription implements BuildDescription {
  readonly root: string;
  readonly manifest: NinjaManifest;
  readonly file: string;
  readonly dbDir: string;
  readonly pools: Map<string, number>;
  readonly notices: string[];
  private readonly actions = new Map<NinjaEdge, Action>();
  /**
   * Identity of the manifest files' contents (digest of their digests), set by the build host:
   * a trace stamped with it was verified against a byte-identical manifest.
   */
  manifestId = '';
  /** Set by the build host: digests and blob offers for remote execution. */
  remoteEnv: {
    digestOf(abs: string): { digest: string; size: number; exec: boolean } | undefined;
    knownDeps(action: string): string[] | undefined;
    offer(m: Map<string, string>): void;
    /** The nodes' action caches (with `--cache` and `--node`). */
    nodeCache?: NodeCacheIo | undefined;
  } | undefined;
  private cache: NinjaCache | null | undefined;
  /** The action cache (`--cache`), made on first use; null when off. */
  actionCache(): NinjaCache | null {
    if (this.cache === undefined) this.cache = cacheEnabled() ? new NinjaCache(this.root, baseDir(path.resolve(this.root), this.manifest)) : null;
    return this.cache;
  }
  /** Dyndep-discovered outputs, by output path. */
  private readonly dyndepOutputs = new Map<string, NinjaEdge>();

  constructor(file: string, dir: string, manifest: NinjaManifest) {
    this.file = file;
    this.root = dir;
    this.manifest = manifest;
    this.pools = manifest.pools;
    this.notices = manifest.warnings.map((w) => w);
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

  actionFor(key: string): Action | undefined {
    const edge = this.manifest.producer.get(key) ?? this.dyndepOutputs.get(key);
    if (edge === undefined) return undefined;
    let a = this.actions.get(edge);
    if (a === undefined) {
      a = this.makeAction(edge);
      this.actions.set(edge, a);
    }
    return a;
  }

  private makeAction(edge: NinjaEdge): Action {
    const desc = this;
    const nOrder = edge.orderOnlyIns;
    const inputs = edge.ins.slice(0, edge.ins.length - nOrder);
    const orderOnly = edge.ins.slice(edge.ins.length - nOrder);
    const outputs = edge.outs.slice();
    const isConsole = edge.pool === 'console';
    let command: string | undefined;
    let fp: number | undefined;
    const cmd = (): string => (command ??= edge.command);
    /** The client directories the last self-contained item named: where its dependencies may be. */
    let sentRoots: string[] = [];
    const a: Action = {
      id: edge.outs[0] ?? `#${edge.id}`,
      outputs,
      get fingerprint(): number {
        if (fp === undefined) {
          const rsp = edge.rspfile !== '' ? `;rspfile=${edge.rspfileContent}` : '';
          fp = fingerprint(cmd() + rsp);
        }
        return fp;
      },
      inputs,
      orderOnly,
      trustsFingerprint: (t) => desc.manifestId !== '' && t.extra === desc.manifestId,
      stamp: (t) => (desc.manifestId !== '' && t.extra !== desc.manifestId ? { ...t, extra: desc.manifestId } : undefined),
      validations: edge.validations,
      pool: edge.pool,
      phony: edge.isPhony,
      always: false,
      generator: edge.generator,
      // Commands run on another node only where it has the same program (and, until remote
      // execution ships inputs, sees the same files); the console pool stays on the terminal.
      get placement() {
        return { remote: !isConsole, root: desc.root, ...((t) => (t ? { tool: t } : {}))(commandTool(cmd())) };
      },
      get description(): string {
        return edge.description || cmd();
      },
      remote(shared: boolean): Buffer | undefined {
        if (isConsole) return undefined;
        if (shared) {
          // The fence overlays the build root only: what the command writes elsewhere is not fenced.
          const inRoot = (p: string): boolean => p === '' || !/^\.\.(?:\/|$)/.test(path.relative(desc.root, path.resolve(desc.root, p)));
          if (![...outputs, edge.depfile, edge.rspfile].every(inRoot)) return undefined;
          const w: FencedWork = {
            k: 'fenced', cmd: cmd(), cwd: desc.root, outs: outputs, depfile: edge.depfile, deps: edge.deps, msvcPrefix: edge.msvcDepsPrefix,
            rspfile: edge.rspfile, rspfileContent: edge.rspfile !== '' ? edge.rspfileContent : '',
          };
          return Buffer.from(JSON.stringify(w));
        }
        const env = desc.remoteEnv;
        if (env === undefined) return undefined;
        const plan = planRexec({
          cmd: cmd(), root: desc.root, inputs: a.inputs, knownDeps: env.knownDeps(a.id), outputs: a.outputs,
          depfile: edge.depfile, deps: edge.deps, msvcPrefix: edge.msvcDepsPrefix, rspfile: edge.rspfile,
          rspfileContent: edge.rspfile !== '' ? edge.rspfileContent : '',
        }, env.digestOf);
        if (plan === undefined) return undefined;
        // With --cache the node records what it runs, keyed as a lookup from any client keys it.
        if (hooks !== undefined && cache !== null) {
          plan.work.cache = cache.rexecInfo(edgeCall(), new Set(plan.work.inputs.map((i) => i.path)), (k) => {
            const d = env.digestOf(path.resolve(desc.root, k));
            return d?.digest;
          });
        }
        env.offer(plan.offered);
        sentRoots = plan.work.roots;
        return Buffer.from(JSON.stringify(plan.work));
      },
      work(): CmdWork {
        return {
          k: 'cmd',
          cmd: cmd(),
          cwd: desc.root,
          outs: outputs,
          depfile: edge.depfile,
          deps: edge.deps,
          msvcPrefix: edge.msvcDepsPrefix,
          rspfile: edge.rspfile,
          rspfileContent: edge.rspfile !== '' ? edge.rspfileContent : '',
          console: isConsole,
        };
      },
      async complete(result: Reply, ctx): Promise<Completed | Failure> {
        // From a worker or another machine: decoded once, strictly (messages.ts).
        const parsed = outcomeOf(['cmd', 'rexec', 'fenced'], result);
        if (isProtocolError(parsed)) return { code: 'protocol', message: `malformed result for ${cmd()}: ${parsed.message}`, where: where() };
        if (parsed.k === 'rexec') return completeRemote(parsed.r, ctx);
        if (parsed.k === 'fenced') return completeFenced(parsed.r, ctx);
        // A plain result says the command wrote our files itself: never true of another node,
        // which gets fenced or self-contained items only (a node answering so is not believed).
        if (ctx.node !== undefined) return { code: 'remote.unfenced', message: `node ${ctx.node} answered with a result of a command run on this machine's files`, where: where(), fields: { retryLocal: true } };
        const r = parsed.r;
        if (r.exit !== 0 || r.spawnError !== undefined) {
          const why = r.spawnError ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.exit}`);
          return { code: 'command-failed', message: `command failed (${why}): ${cmd()}`, where: `${path.relative(process.cwd(), edge.file) || edge.file}:${edge.line}`, fields: { output: r.output, command: cmd(), ...termFields(r) } };
        }
        if (r.depsError !== undefined) {
          return { code: 'depfile', message: r.depsError, where: edge.depfile || edge.outs[0] || '', fields: { output: r.output } };
        }
        const outs = new Map<string, FileState | undefined>();
        for (const o of outputs) outs.set(o, r.outputs[o] ?? undefined);
        const recorded = hooks !== undefined && await hooks.record(r);
        return { outputs: outs, discovered: r.deps, value: undefined, output: r.output, extra: desc.manifestId, ...(recorded ? { cache: 'miss' as const } : {}) };
      },
    };
    const where = (): string => `${path.relative(process.cwd(), edge.file) || edge.file}:${edge.line}`;
    const cache = desc.actionCache();
    const edgeCall = (): EdgeCall => ({
      cmd: cmd(), root: desc.root, inputs: a.inputs, outputs: a.outputs, depfile: edge.depfile, deps: edge.deps,
      msvcPrefix: edge.msvcDepsPrefix, rspfile: edge.rspfile, rspfileContent: edge.rspfile !== '' ? edge.rspfileContent : '',
    });
    // Nodes record only the self-contained compiles they ran (rexec.ts): only those are asked for.
    const askNodes = (): { io: NodeCacheIo; tool: string } | undefined => {
      const io = desc.remoteEnv?.nodeCache;
      const tool = commandTool(cmd());
      return io !== undefined && tool !== undefined && !isConsole && compileInfo(cmd(), desc.root) !== undefined ? { io, tool } : undefined;
    };
    const hooks = cache !== null && uncacheable(edge, desc.manifest, desc.root) === undefined ? edgeCacheHooks(cache, edgeCall, askNodes) : undefined;
    /** Records a result that another node produced in this machine's cache too (with --cache). */
    const recordHere = async (c: Completed): Promise<Completed> => {
      if (hooks === undefined) return c;
      const outputs = Object.fromEntries([...c.outputs].map(([k, v]) => [k, v === undefined ? null : { digest: v.digest }]));
      return (await hooks.record({ output: c.output, deps: c.discovered, outputs })) ? { ...c, cache: 'miss' } : c;
    };
    if (hooks !== undefined) {
      a.lookup = async (inputs, answer) => {
        const c = await hooks.lookup(inputs, answer);
        return c && { ...c, extra: desc.manifestId };
      };
    }
    const failedThere = (r: { exit: number; signal?: string; spawnError?: string; output: string }): Failure => {
      const why = r.spawnError ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.exit}`);
      return { code: 'command-failed', message: `command failed on a node (${why}): ${cmd()}`, where: where(), fields: { output: r.output, command: cmd(), retryLocal: true, ...termFields(r) } };
    };
    /** A result from a node without this machine's files: its outputs are fetched and written here. */
    const completeRemote = async (r: RexecResult, ctx: RunContext): Promise<Completed | Failure> => {
      if (r.exit !== 0 || r.spawnError !== undefined) return failedThere(r);
      for (const d of r.deps) {
        const why = typeof d === 'string' ? refusedDependency(d, [desc.root, ...sentRoots]) : 'not a path';
        if (why !== undefined) return { code: 'remote.deps', message: `the node reported a dependency B does not accept: ${why}`, where: where(), fields: { retryLocal: true } };
      }
      const got = await fetchOutputs(r.outputs, ctx);
      if (!('outs' in got)) return got;
      const discovered = r.deps.map((d) => {
        const rel = path.relative(desc.root, d);
        return canonicalizePath(rel.startsWith('..') || path.isAbsolute(rel) ? d : rel);
      });
      return recordHere({ outputs: got.outs, discovered, value: undefined, output: r.output, extra: desc.manifestId, bytes: { sent: r.fetched, received: got.received } });
    };
    /**
     * A result from a node that ran the command fenced on this machine's files (fence.ts): the
     * node wrote nothing here; the outputs of this attempt, the one the broker accepted (a late
     * result of an attempt given up on never reaches this), are fetched and renamed into place.
     */
    const completeFenced = async (r: FencedResult, ctx: RunContext): Promise<Completed | Failure> => {
      if (r.unfenceable !== undefined) return { code: 'remote.unfenced', message: `a node could not run this command fenced: ${r.unfenceable}`, where: where(), fields: { retryLocal: true } };
      // It saw our files, as a local run would: a failure is the command's, reported as one here.
      if (r.exit !== 0 || r.spawnError !== undefined) return { ...failedThere(r), fields: { output: r.output, command: cmd(), ...termFields(r) } };
      if (r.depsError !== undefined) return { code: 'depfile', message: r.depsError, where: edge.depfile || edge.outs[0] || '', fields: { output: r.output } };
      const got = await fetchOutputs(r.outputs, ctx);
      if (!('outs' in got)) return got;
      return recordHere({ outputs: got.outs, discovered: r.deps, value: undefined, output: r.output, extra: desc.manifestId, bytes: { sent: 0, received: got.received } });
    };
    /** Fetches a node's outputs (verified), each written next to its place and renamed. */
    const fetchOutputs = async (records: RexecOutput[], ctx: RunContext): Promise<{ outs: Map<string, FileState | undefined>; received: number } | Failure> => {
      const outs = new Map<string, FileState | undefined>();
      let received = 0;
      for (const o of a.outputs) {
        const abs = path.resolve(desc.root, o);
        const rec = records.find((x) => x.path === abs);
        if (rec === undefined || rec.digest === null) {
          outs.set(o, undefined);
          continue;
        }
        let dest: string;
        try {
          dest = checkOutputPath(desc.root, o, a.id);
        } catch (e) {
          return { code: 'remote.output', message: (e as Error).message, where: where() };
        }
        // Written next to its place, then renamed: readers never see half an output.
        const tmp = `${dest}.b-remote-${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
        try {
          await ctx.fetch(rec.digest, rec.size, tmp);
          fs.chmodSync(tmp, rec.mode & 0o777);
          fs.renameSync(tmp, dest);
        } catch (e) {
          fs.rmSync(tmp, { force: true });
          return { code: 'remote.fetch', message: `fetching ${o} from the node failed: ${(e as Error).message}`, where: where(), fields: { retryLocal: true } };
        }
        received += rec.size;
        outs.set(o, stateOf(fs.statSync(dest), digestFromHex(rec.digest), true));
      }
      return { outs, received };
    };
    if (edge.dyndep !== '') {
      a.prepare = async (answer: (key: string) => Promise<Answer>): Promise<void> => {
        await answer(edge.dyndep);
        const info = loadDyndep(desc.root, edge.dyndep).get(edge.outs[0] ?? '');
        if (info === undefined) {
          throw new UserError({ code: 'ninja.dyndep', message: `'${edge.outs[0]}' not mentioned in its dyndep file '${edge.dyndep}'`, where: edge.dyndep, exitCode: 1 });
        }
        for (const i of info.implicitIns) if (!a.inputs.includes(i)) a.inputs.push(i);
        for (const o of info.implicitOuts) {
          const other = desc.manifest.producer.get(o) ?? desc.dyndepOutputs.get(o);
          if (other !== undefined && other !== edge) {
            throw new UserError({ code: 'ninja.dyndep', message: `multiple rules generate ${o}`, where: edge.dyndep, exitCode: 1 });
          }
          if (!a.outputs.includes(o)) a.outputs.push(o);
          desc.dyndepOutputs.set(o, edge);
        }
      };
    }
    return a;
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

/**
 * Whether `out` exists and no input of `edge` is newer than it. Inputs must be source files;
 * CMake and Meson name theirs also as phony edges without inputs, which is still a source.
 */
function newerThanInputs(root: string, out: string, edge: NinjaEdge, m: NinjaManifest): boolean {
  let t: number;
  try {
    t = fs.statSync(path.resolve(root, out)).mtimeMs;
  } catch {
    return false;
  }
  for (const i of edge.ins.slice(0, edge.ins.length - edge.orderOnlyIns)) {
    const p = m.producer.get(i);
    if (p !== undefined && !(p.isPhony && p.ins.length === 0)) return false;
    try {
      if (fs.statSync(path.resolve(root, i)).mtimeMs > t) return false;
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

export function loadNinja(file: string, dir: string): NinjaDescription {
  let manifest: NinjaManifest;
  try {
    manifest = parseManifest(file, { readFile: (p) => fs.readFileSync(path.resolve(dir, p), 'utf8') });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === 'ENOENT') throw new UserError({ code: 'ninja.missing', message: `loading '${path.basename(file)}': No such file or directory`, exitCode: 1 });
    throw new UserError({ code: 'ninja.syntax', message: err instanceof NinjaSyntaxError ? err.ninjaText : err.message, exitCode: 1 });
  }
  return new NinjaDescription(file, dir, manifest);
}
