// A Bfile `run()`'s key and its local cache hit, shared by the build host (bfile-farm.ts) and
// the rule's own worker (bfile-run.ts), so both name the same key and restore the same way.
//
// Why the worker answers hits itself: a hit through the build host costs the rule a NEED `run`
// round trip (request and answer encoded, sent, decoded and dispatched on both threads) on top
// of the lookup, ~1.4 ms of the client's CPU per hit against ~0.5 ms for the key and the restore
// (scripts/bench-client-cpu.ts, `bfile, cache hits`). The worker knows everything the key needs
// when:
//   - the build host sent the cache's context with the rule (RuleWork.hits: cache directory,
//     base, declared environment, platform, PATH), and this thread's cache directory is that
//     one (a message never points the worker at another directory);
//   - every input is a file the rule needed and got an answer for (the engine records exactly
//     those answers for the task), none still in flight, and no earlier run() of the rule went
//     to the build host (whose lookups and records add the headers they need to the task);
//   - the entry's result has no discovered dependencies (headers must be needed by the engine,
//     as optional: only the build host may ask that).
// Anything else goes to the build host as before, which computes the same key (runKey) and does
// the whole lookup. The hit is reported in the rule's result (RuleResult.hits) for the build's
// `command` events and summary.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ActionCache } from './action-cache.ts';
import { absolutizer, actionKey, matchResult, pathKey, relativizer } from './action-key.ts';
import { resolveTool, toolFingerprint } from './action-env.ts';
import { cacheDir } from './cachedir.ts';
import { planRun, runSpec, type PlannedRun, type RuleFacts, type RunCall } from './bfile-action.ts';
import { checkOutputPath } from './rexec-client.ts';
import type { RunHitEnv } from './messages.ts';
import type { RunRequest } from './need-messages.ts';

/** What a run() key needs besides the plan (the build host's, sent to workers as RuleWork.hits). */
export type KeyContext = Pick<RunHitEnv, 'platform' | 'env' | 'base' | 'path' | 'build'>;

/** The RunCall of a NEED `run` (cwd absolute). */
export function callOf(req: Omit<RunRequest, 'op' | 'task'>, root: string): RunCall {
  return {
    ...(req.argv !== undefined ? { argv: req.argv } : { shell: req.shell ?? '' }),
    cwd: path.resolve(root, req.cwd),
    ...(req.env !== undefined ? { env: req.env } : {}),
    ...(req.outputs !== undefined ? { outputs: req.outputs } : {}),
    ...(req.depfile !== undefined ? { depfile: req.depfile } : {}),
    ...(req.cache !== undefined ? { cache: req.cache } : {}),
    ...(req.remote !== undefined ? { remote: req.remote } : {}),
  };
}

/**
 * PATH lookups, once per build (`build`) and thread: `mkdir -p out && cp ...` walked PATH for
 * both programs on every run() (~0.05 ms a hit). Only when every PATH entry is absolute and
 * outside the build root, so no program the build itself writes can appear in front later.
 * The fingerprint still stats the program on every call (toolFingerprint), so a replaced
 * program gets a new key.
 */
let resolved: { build: string; tools: Map<string, string | undefined> } | undefined;

function resolveFor(p: string, cwd: string, root: string, ctx: KeyContext): string | undefined {
  if (p.includes('/')) return resolveTool(p, cwd, { PATH: ctx.path });
  const dirs = ctx.path.split(path.delimiter).filter(Boolean);
  const stable = dirs.every((d) => path.isAbsolute(d) && pathKey(root, d) === d && d !== root);
  if (!stable) return resolveTool(p, cwd, { PATH: ctx.path });
  if (resolved?.build !== ctx.build) resolved = { build: ctx.build, tools: new Map() };
  const id = `${ctx.path}\u0000${p}`;
  if (resolved.tools.has(id)) return resolved.tools.get(id);
  const abs = resolveTool(p, cwd, { PATH: ctx.path });
  resolved.tools.set(id, abs);
  return abs;
}

/**
 * The action's key, or undefined when a program it starts is not found or an input has no
 * digest (then it is not cached). Needed files come with the digests the engine answered;
 * `digestOf` gives the others' (hex), or undefined.
 */
export async function runKey(plan: PlannedRun, call: RunCall, facts: RuleFacts, ctx: KeyContext, digestOf: (key: string) => string | undefined): Promise<string | undefined> {
  const prints: string[] = [];
  for (const p of plan.programs) {
    const abs = resolveFor(p, call.cwd, facts.root, ctx);
    if (abs === undefined) return undefined;
    prints.push(await toolFingerprint(abs));
  }
  const digests = new Map(facts.needed.map((n) => [n.key, n.digest]));
  for (const i of plan.inputs) {
    if (digests.has(i)) continue;
    const d = digestOf(i);
    if (d === undefined) return undefined;
    digests.set(i, d);
  }
  return actionKey(runSpec(plan, call, facts, { platform: ctx.platform, tool: prints.join(' '), env: ctx.env, base: ctx.base, digests }));
}

/**
 * The outputs written from the cache, or undefined (a miss; a result that cannot be restored is
 * dropped). `current` gives the digests (hex, or undefined) of a result's recorded dependencies.
 */
export async function restoreHit(
  cache: ActionCache, key: string, plan: PlannedRun, facts: RuleFacts, cwd: string, base: string,
  current: (deps: string[]) => Promise<(string | undefined)[]>,
): Promise<{ output: string; stdout: string; bytes: number } | undefined> {
  const entry = cache.read(key);
  if (entry === undefined) return undefined;
  const rel = relativizer(cwd, base);
  const abs = absolutizer(cwd, base);
  const hit = await matchResult(entry, (deps) => current(deps.map((d) => pathKey(facts.root, abs(d), facts.root))));
  if (hit === undefined || hit.stdout === undefined) return undefined;
  const outs = [...plan.outputs, ...(plan.depfile !== '' ? [plan.depfile] : [])];
  if (hit.outputs.length !== outs.length || hit.outputs.some((o, i) => o.path !== rel(outs[i]!))) return undefined;
  let bytes = 0;
  for (const [i, o] of hit.outputs.entries()) {
    let dest: string;
    try {
      dest = checkOutputPath(facts.root, outs[i]!, facts.outs[0] ?? '');
    } catch {
      return undefined;
    }
    if (!cache.restore(o.digest, dest, o.mode)) {
      cache.drop(key);
      return undefined;
    }
    bytes += o.size;
  }
  return { output: hit.output, stdout: hit.stdout, bytes };
}

export function isFile(abs: string): boolean {
  // Most words of a command line are no file here (`mkdir`, `cp`, flags' values): stat them
  // without a thrown ENOENT each (an Error with a stack per word, per run()).
  try {
    return fs.statSync(abs, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false; // ENOTDIR, EACCES: not a file we can read either
  }
}

/** This thread's handle on the cache the build host named, or undefined when it is not this machine's own. */
let mine: { dir: string; cache: ActionCache } | undefined;

function cacheAt(dir: string): ActionCache | undefined {
  if (mine?.dir === dir) return mine.cache;
  let own: string;
  try {
    own = path.join(cacheDir(), 'actions');
  } catch {
    return undefined; // no private cache directory here
  }
  if (path.resolve(dir) !== own) return undefined;
  mine = { dir, cache: new ActionCache(own) };
  return mine.cache;
}

/** What the rule's worker knows when its body calls run(): see the head of this file. */
export interface WorkerRunState {
  root: string;
  kind: RuleFacts['kind'];
  outs: string[];
  /** Files the rule needed and got answers for, first answer per key (oracles and markers left out). */
  needed: { key: string; digest: string }[];
}

/**
 * A run() answered by the rule's worker from the local cache, or undefined: the build host
 * decides (a miss here, an input only B's database knows, a result with headers, any doubt).
 */
export async function workerHit(req: Omit<RunRequest, 'op' | 'task'>, st: WorkerRunState, env: RunHitEnv): Promise<{ output: string; stdout: string; bytes: number; text: string } | undefined> {
  const cache = cacheAt(env.dir);
  if (cache === undefined) return undefined;
  const facts: RuleFacts = { root: st.root, kind: st.kind, outs: st.outs, needed: st.needed, lastDeps: [] };
  const call = callOf(req, st.root);
  const plan = planRun(call, facts, isFile);
  if (plan.uncacheable !== undefined) return undefined;
  const key = await runKey(plan, call, facts, env, () => undefined);
  if (key === undefined) return undefined;
  // Headers are the engine's to need (as optional): a result that lists any is the build host's.
  const hit = await restoreHit(cache, key, plan, facts, call.cwd, env.base, async (deps) => deps.map(() => undefined));
  return hit === undefined ? undefined : { ...hit, text: plan.text };
}
