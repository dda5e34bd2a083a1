// A Bfile rule's `run()` as an action, build-host side: answered from the action cache, or placed
// like any other work (this machine's slots first, then the node with the most free credit) and
// its result brought back. The rule body keeps running where it is (cheap JavaScript); only the
// command moves. bfile-action.ts says what the action is; this file does it:
//
//   lookup  with `--cache`: the key (action-key.ts, paths relative to the build root), then the
//           headers the entry recorded, compared by digest; a hit restores every output (by
//           digest, temp file and rename) and runs nothing;
//   run     a `run` item for this machine (bfile-exec.ts, in place), or for a node that cannot
//           see this machine's files a self-contained `rexec` item (rexec.ts): inputs as blobs,
//           the command in a sandbox, outputs fetched here and verified by digest, written only
//           at the action's declared outputs inside the build root. A command that fails on a
//           node runs once more here (its sandbox may have lacked a file; a real error fails
//           again and is reported as usual);
//   record  with `--cache`, after exit 0 only: outputs stored, then the entry (action-cache.ts).
//
// With nodes too, a command is the same action in the nodes' caches (node-cache.ts): its
// self-contained item carries the cache info a Ninja compile's does (the node records what it
// ran), the client asks the nodes after its own cache missed (node-cache-client.ts: outputs
// fetched verified, then recorded here), and with `--cache-upload` a result run here is
// uploaded (cache-upload.ts). `nodeActionOf` is the one description of the action all three use,
// so the item a node ran and a later lookup name the same key.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Engine } from './engine.ts';
import type { Answer } from './engine-types.ts';
import { ActionCache } from './action-cache.ts';
import { pathKey, relativizer, withResult } from './action-key.ts';
import { cacheEnabled, declaredEnv, hexOf, isContentDigest } from './ninja-cache.ts';
import { runBase } from './action-env.ts';
import { callOf, isFile, restoreHit, runKey, type KeyContext } from './bfile-hit.ts';
import { checkOutputPath, isSystem, projectRoots } from './rexec-client.ts';
import { fetchIntoPlace, refusedDependency, refusedInline } from './remote-output.ts';
import { digestHex } from './hash.ts';
import { platform } from './toolchain.ts';
import { endsInCompiler, placementTool, planRun, type PlannedRun, type RuleFacts, type RunCall } from './bfile-action.ts';
import { outcomeOf, type CachedResultWire, type NodeAction, type NodeCacheInfo, type RexecInput, type RunHitEnv, type RexecResult, type RexecWork, type RunResult, type RunWork } from './messages.ts';
import { lookupOnNodes, type NodeCacheIo } from './node-cache-client.ts';
import { type RunAnswer, type RunRequest } from './need-messages.ts';
import { isProtocolError, type Failure } from './protocol.ts';
import { ORACLE } from './engine-types.ts';

type RuleState = NonNullable<ReturnType<Engine['actionOfTask']>>;

/** What the build host lends: file digests from B's database, and the blobs it may serve to nodes. */
export interface FarmEnv {
  digestOf(abs: string): { digest: string; size: number; exec: boolean } | undefined;
  offer(m: Map<string, string>): void;
  /** The nodes' action caches (with `--cache` and `--node`). */
  nodeCache?: NodeCacheIo | undefined;
}

/** A failure that goes back to the rule as it is (its code and message name what went wrong). */
export class RunFailure extends Error {
  readonly failure: Failure;
  constructor(f: Failure) {
    super(f.message);
    this.failure = f;
  }
}

let sharedCache: ActionCache | null | undefined;

/** The process's action cache when `--cache` is on (made on first use), else null. */
function theCache(): ActionCache | null {
  if (sharedCache === undefined) sharedCache = cacheEnabled() ? new ActionCache() : null;
  return sharedCache;
}

/** What the engine knows about the rule behind task `st`: the facts an action is planned from. */
export function ruleFacts(engine: Engine, st: RuleState): RuleFacts {
  const a = st.action;
  const seen = new Set<string>();
  const needed: { key: string; digest: string }[] = [];
  for (const g of st.groups) {
    for (const x of g) {
      if (x.key.startsWith(ORACLE) || !isContentDigest(x.hash) || seen.has(x.key)) continue;
      seen.add(x.key);
      needed.push({ key: x.key, digest: digestHex(x.hash) });
    }
  }
  const t = engine.db.getTrace(a.id);
  const lastDeps = t === undefined ? undefined : [...new Set(t.deps.flat().filter((d) => !d.key.startsWith(ORACLE) && isContentDigest(d.hash)).map((d) => d.key))];
  return { root: path.resolve(engine.desc.root), kind: a.answers !== undefined ? 'oracle' : a.always ? 'phony' : 'file', outs: a.outputs, needed, lastDeps };
}

/** Runs one `run()` of the rule behind `st` as an action; the answer for the rule. */
export async function runAction(engine: Engine, st: RuleState, req: RunRequest, env: FarmEnv | undefined): Promise<RunAnswer> {
  const t0 = Date.now();
  const facts = ruleFacts(engine, st);
  const call = callOf(req, facts.root);
  if ((req.argv === undefined) === (req.shell === undefined)) throw new RunFailure({ code: 'protocol', message: 'run: exactly one of shell and argv' });
  const plan = planRun(call, facts, isFile);
  const name = engine.desc.show(facts.outs[0] ?? st.action.answers ?? st.action.id);
  const cache = plan.uncacheable === undefined ? theCache() : null;
  const event = (node: string, extra: Record<string, unknown>): void => {
    engine.host.event({ event: 'command', t: Date.now(), key: name, action: st.action.id, description: plan.text.slice(0, 500), node, ms: Date.now() - t0, ...extra });
  };

  let key: string | undefined;
  const base = runBase(facts.root);
  if (cache !== null) {
    key = await runKey(plan, call, facts, keyContext(engine, base), (i) => {
      // Needed files come with the digests the engine answered; the others from B's database.
      const d = env?.digestOf(path.resolve(facts.root, i));
      return d === undefined ? undefined : digestHex(d.digest);
    });
    const hit = key === undefined ? undefined : await restoreHit(cache, key, plan, facts, call.cwd, base, async (keys) => (await engine.need(st, keys, true)).map((x) => hexOf(x.hash)));
    if (hit !== undefined) {
      event('local', { cache: 'local', cacheBytes: hit.bytes });
      return { exit: 0, output: hit.output, stdout: hit.stdout, node: 'local', cache: 'local' };
    }
  }
  // The nodes' caches next: only for commands a node may run (the ones it records).
  const tool = placementTool(plan.programs);
  const io = env?.nodeCache;
  const nodeAction = cache !== null && key !== undefined && plan.local === undefined && tool !== undefined && io !== undefined && env !== undefined
    ? nodeActionOf(plan, call, facts, base, env) : undefined;
  if (nodeAction !== undefined && io !== undefined && tool !== undefined && cache !== null && key !== undefined) {
    const hit = await lookupOnNodes(io, nodeAction, {
      tool,
      current: async (deps) => (await engine.need(st, deps.map((d) => pathKey(facts.root, d, facts.root)), true)).map((x) => hexOf(x.hash)),
      destination: (abs) => checkOutputPath(facts.root, path.relative(facts.root, abs), facts.outs[0] ?? abs),
    }).catch(() => undefined);
    if (hit !== undefined && hit.stdout !== undefined) {
      const answer: RunAnswer = { exit: 0, output: hit.output, stdout: hit.stdout, node: 'local', cache: `node:${hit.node}` };
      const deps = hit.deps.map((d) => pathKey(facts.root, d, call.cwd));
      await record(cache, key, plan, facts, call.cwd, base, answer, deps, (keys) => engine.need(st, keys, true));
      event('local', { cache: `node:${hit.node}`, cacheBytes: hit.bytes, bytes: { sent: 0, received: hit.bytes } });
      return answer;
    }
  }

  const local: RunWork = {
    k: 'run', ...(call.argv !== undefined ? { argv: call.argv } : { shell: plan.shell }), cwd: call.cwd,
    ...(call.env !== undefined ? { env: call.env } : {}), depfile: plan.depfile !== '' ? path.resolve(facts.root, plan.depfile) : '',
  };
  let sentRoots: string[] = [];
  const remote = plan.local !== undefined || env === undefined ? undefined : (): Buffer | undefined => {
    const r = rexecItem(plan, call, facts, env, nodeAction !== undefined ? cacheInfo(nodeAction) : undefined);
    if (r === undefined) return undefined;
    sentRoots = r.work.roots;
    env.offer(r.offered);
    return Buffer.from(JSON.stringify(r.work));
  };
  const meta = { remote: remote !== undefined, root: facts.root, ...(tool !== undefined ? { tool } : {}) };
  let r = await engine.host.submit(local, () => {}, meta, remote);
  if (!r.ok) throw new RunFailure(r.failure);
  let node = r.worker.startsWith('local/') ? 'local' : r.worker;
  let done: { r: RunResult | RexecResult; bytes?: { sent: number; received: number } } | RunFailure;
  if (node === 'local') done = localResult(r.payload, plan);
  else {
    done = await remoteResult(r.payload, plan, facts, sentRoots, (hex, size, dest) => engine.host.fetch(r.ok ? r.worker : '', hex, size, dest));
    if (done instanceof RunFailure || done.r.exit !== 0 || done.r.spawnError !== undefined) {
      const why = done instanceof RunFailure ? done.message : `exit code ${done.r.exit}`;
      engine.host.event({ event: 'output', key: name, action: st.action.id, note: `${plan.text.slice(0, 200)} failed on node ${node} (${why.split('\n')[0]}); ran again here` });
      r = await engine.host.submit(local, () => {}, { ...meta, remote: false });
      if (!r.ok) throw new RunFailure(r.failure);
      node = 'local';
      done = localResult(r.payload, plan);
    }
  }
  if (done instanceof RunFailure) throw done;
  const res = done.r;
  const answer: RunAnswer = { exit: res.exit, output: res.output, stdout: res.stdout ?? '', node };
  if (res.signal !== undefined) answer.signal = res.signal;
  if (res.spawnError !== undefined) answer.spawnError = res.spawnError;
  let recorded = false;
  if (cache !== null && key !== undefined && res.exit === 0 && res.spawnError === undefined && !('depsError' in res && res.depsError !== undefined)) {
    const deps = res.deps.map((d) => pathKey(facts.root, d, call.cwd));
    // Ran here, with --cache-upload: the result goes to the nodes that could serve it.
    const upload = node === 'local' && nodeAction !== undefined && tool !== undefined ? io?.upload : undefined;
    const stored = upload === undefined || nodeAction === undefined || tool === undefined ? undefined : (res: CachedResultWire): void => {
      upload({ tool, action: nodeAction, result: res, blob: (hex) => cache.blobPath(hex) });
    };
    recorded = await record(cache, key, plan, facts, call.cwd, base, answer, deps, (keys) => engine.need(st, keys, true), stored);
    if (recorded) answer.cache = 'miss';
  }
  event(node, { ...(recorded ? { cache: 'miss' } : {}), ...(done.bytes ? { bytes: done.bytes } : {}), ...(res.exit !== 0 ? { status: 'failed' } : {}) });
  return answer;
}

type AnswerFn = (keys: string[]) => Promise<Answer[]>;

/** The build's key context (the one its workers get, build-host.ts), or this process's now. */
function keyContext(engine: Engine, base: string): KeyContext {
  const h = (engine.desc as { runHits?: RunHitEnv }).runHits;
  return h !== undefined ? { ...h, base } : { platform: platform(), env: declaredEnv(), base, path: process.env.PATH ?? '', build: `run.${Date.now()}.${Math.random()}` };
}

/** Records a successful run; false (nothing recorded) when an output or a dependency is missing. */
async function record(cache: ActionCache, key: string, plan: PlannedRun, facts: RuleFacts, cwd: string, base: string, a: RunAnswer, deps: string[], answer: AnswerFn, stored?: (res: CachedResultWire) => void): Promise<boolean> {
  const rel = relativizer(cwd, base);
  try {
    const outputs: { path: string; digest: string; size: number; mode: number }[] = [];
    const outs = [...plan.outputs, ...(plan.depfile !== '' ? [plan.depfile] : [])];
    for (const o of outs) {
      const abs = path.resolve(facts.root, o);
      const mode = fs.statSync(abs).mode & 0o7777;
      const blob = cache.store(abs);
      outputs.push({ path: rel(o), digest: blob.hex, size: blob.size, mode });
    }
    const now = deps.length > 0 ? await answer(deps) : [];
    const recorded: [string, string][] = [];
    for (const [i, d] of deps.entries()) {
      const h = hexOf(now[i]?.hash ?? '');
      if (h === undefined) return false;
      recorded.push([rel(path.isAbsolute(d) ? d : path.resolve(facts.root, d)), h]);
    }
    cache.write(withResult(cache.read(key), key, { deps: recorded, outputs, output: a.output, stdout: a.stdout, t: Date.now() }));
    cache.maybeMaintain();
    // As nodes record results (node-cache.ts, from absolute paths): markers, never a bare relative path.
    const wire = (p: string): string => rel(path.resolve(facts.root, p));
    stored?.({ deps: recorded.map((d, i) => [wire(deps[i]!), d[1]]), outputs: outputs.map((o, i) => ({ ...o, path: wire(outs[i]!) })), output: a.output, stdout: a.stdout });
    return true;
  } catch {
    return false; // an output missing, a full disk: the entry is lost, not the build
  }
}

/**
 * The command as the nodes' caches key it (node-cache.ts nodeKey), or undefined when a declared
 * input has no content digest here. The same fields as the self-contained item (rexecItem), so
 * `actionOfRexec` of that item on the node is this action: the key's inputs (absolute, outside
 * the system's directories: a node uses its own), the declared environment and the run()'s own.
 */
export function nodeActionOf(plan: PlannedRun, call: RunCall, facts: RuleFacts, base: string, env: FarmEnv): NodeAction | undefined {
  const inputs: { path: string; digest: string }[] = [];
  for (const k of plan.inputs) {
    const abs = path.resolve(facts.root, k);
    if (isSystem(abs)) continue;
    const d = env.digestOf(abs);
    if (d === undefined) return undefined;
    inputs.push({ path: abs, digest: digestHex(d.digest) });
  }
  const depfile = plan.depfile !== '' ? path.resolve(facts.root, plan.depfile) : '';
  return {
    cmd: plan.shell, cwd: call.cwd, base, inputs, outputs: [...plan.outputs, ...(plan.depfile !== '' ? [plan.depfile] : [])].map((o) => path.resolve(facts.root, o)),
    depfile, deps: depfile !== '' ? 'gcc' : '', msvcPrefix: '', rspfile: '', rspfileContent: '', env: { ...declaredEnv(), ...(call.env ?? {}) },
  };
}

/** What a self-contained item carries so that the node records its result (its declared inputs must be shipped: rexecItem keeps those it ships). */
function cacheInfo(a: NodeAction): NodeCacheInfo {
  return { base: a.base, declared: a.inputs.map((i) => i.path), env: a.env };
}

/** The self-contained item for a node without this machine's files, and the blobs it may fetch. */
export function rexecItem(plan: PlannedRun, call: RunCall, facts: RuleFacts, env: FarmEnv, cache?: NodeCacheInfo): { work: RexecWork; offered: Map<string, string> } | undefined {
  const inputs: RexecInput[] = [];
  const offered = new Map<string, string>();
  for (const k of plan.transfer) {
    const abs = path.resolve(facts.root, k);
    if (isSystem(abs)) continue;
    const d = env.digestOf(abs);
    if (d === undefined) continue; // absent here: absent there too
    const hex = digestHex(d.digest);
    inputs.push({ path: abs, digest: hex, size: d.size, exec: d.exec });
    offered.set(hex, abs);
  }
  const outputs = [...plan.outputs, ...(plan.depfile !== '' ? [plan.depfile] : [])].map((o) => path.resolve(facts.root, o));
  return {
    work: {
      k: 'rexec', cmd: plan.shell, cwd: call.cwd, roots: projectRoots([facts.root, call.cwd, ...inputs.map((i) => i.path), ...outputs]), inputs, outputs,
      depfile: plan.depfile !== '' ? path.resolve(facts.root, plan.depfile) : '', deps: plan.depfile !== '' ? 'gcc' : '', msvcPrefix: '', rspfile: '', rspfileContent: '',
      prefixMap: endsInCompiler(plan.shell), ...(call.env !== undefined ? { env: call.env } : {}), stdout: true, inline: true,
      // Recorded by the node only if every declared input is shipped (else its key would not be the lookup's).
      ...(cache !== undefined && cache.declared.every((p) => inputs.some((i) => i.path === p)) ? { cache } : {}),
    },
    offered,
  };
}

function localResult(payload: Parameters<typeof outcomeOf>[1], plan: PlannedRun): { r: RunResult } | RunFailure {
  const o = outcomeOf(['run'], payload);
  if (isProtocolError(o)) return new RunFailure({ code: 'protocol', message: `malformed result of ${plan.text.slice(0, 200)}: ${o.message}` });
  return { r: o.r };
}

/** A node's result: dependencies checked, outputs fetched (verified) and renamed into place. */
export async function remoteResult(
  payload: Parameters<typeof outcomeOf>[1], plan: PlannedRun, facts: RuleFacts, sentRoots: string[],
  fetch: (hex: string, size: number, dest: string) => Promise<void>,
): Promise<{ r: RexecResult; bytes: { sent: number; received: number } } | RunFailure> {
  // A node never runs a command on this machine's files: a `run` result from one is not believed.
  const o = outcomeOf(['rexec'], payload);
  if (isProtocolError(o)) return new RunFailure({ code: 'protocol', message: `malformed result from a node for ${plan.text.slice(0, 200)}: ${o.message}` });
  const r = o.r;
  if (r.exit !== 0 || r.spawnError !== undefined) return { r, bytes: { sent: r.fetched, received: 0 } };
  for (const d of r.deps) {
    const why = refusedDependency(d, [facts.root, ...sentRoots]);
    if (why !== undefined) return new RunFailure({ code: 'remote.deps', message: `the node reported a dependency B does not accept: ${why}` });
  }
  let received = 0;
  const tooMuch = refusedInline(r.outputs);
  if (tooMuch !== undefined) return new RunFailure({ code: 'remote.fetch', message: tooMuch });
  for (const out of [...plan.outputs, ...(plan.depfile !== '' ? [plan.depfile] : [])]) {
    const abs = path.resolve(facts.root, out);
    const rec = r.outputs.find((x) => x.path === abs);
    if (rec === undefined || rec.digest === null) continue; // not written there: not written here
    let dest: string;
    try {
      dest = checkOutputPath(facts.root, out, facts.outs[0] ?? out);
    } catch (e) {
      return new RunFailure({ code: 'remote.output', message: (e as Error).message });
    }
    const failed = await fetchIntoPlace({ digest: rec.digest, size: rec.size, mode: rec.mode, ...(rec.data !== undefined ? { data: rec.data } : {}) }, dest, fetch);
    if (failed !== undefined) return new RunFailure({ code: 'remote.fetch', message: `fetching ${out} from the node failed: ${failed}` });
    received += rec.size;
  }
  return { r, bytes: { sent: r.fetched, received } };
}
