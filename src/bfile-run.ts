// The Bfile front end, worker side: runs one rule body with its context (need, run, ...).
// Needs go to the build engine through the worker's client socket (NEED), so a rule that waits
// suspends and its worker takes other work meanwhile (see worker.ts).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { execCommand } from './exec.ts';
import { writtenState } from './filestate.ts';
import { parseDepfile } from './depfile.ts';
import { WorkerFailure, type TaskContext } from './task-context.ts';
import type { FileState } from './database.ts';
import { collect, importBfile, locate, RuleTable, type RecordedCommand, type RuleResult, type RuleWork } from './bfile.ts';
import { ENV, ORACLE } from './engine-types.ts';
import { parseNeedAnswer, parseRunAnswer, type RunRequest, type WireAnswer } from './need-messages.ts';
import { isProtocolError, type Failure } from './protocol.ts';
import type { RuleFence } from './fence-rule.ts';

const tables = new Map<string, { mtime: number; table: RuleTable }>();
/** bfile-hit.ts, loaded by the first rule that may answer a run() hit itself. */
let hitCode: typeof import('./bfile-hit.ts') | undefined;
/** A content digest in a NEED answer (32 hex digits; the missing and directory markers are other lengths). */
const HEX_CONTENT = /^[0-9a-f]{32}$/;

async function tableFor(file: string): Promise<RuleTable> {
  const mtime = fs.statSync(file).mtimeMs;
  const hit = tables.get(file);
  if (hit && hit.mtime === mtime) return hit.table;
  const table = new RuleTable(collect(await importBfile(file), file));
  tables.set(file, { mtime, table });
  return table;
}

/** Thrown inside a rule to stop it with a failure that names where it happened. */
class RuleFailure extends Error {
  readonly failure: Failure;
  constructor(f: Failure) {
    super(f.message);
    this.failure = f;
  }
}

/** `run(cmd, opts)`'s options (b.d.ts documents them for Bfile authors). */
interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Files this command writes (default: the rule's outputs): what comes back from a node and is cached. */
  outputs?: string | string[];
  /** The depfile it writes (default: the file after `-MF`, if any): comes back too; its headers are the cache's second level. */
  depfile?: string;
  /** false: never answered from, nor recorded in, the action cache. */
  cache?: boolean;
  /** false: runs on this machine only. */
  remote?: boolean;
}

type ExecLike = { exit: number; output: string; stdout?: string; signal?: string; spawnError?: string };

/** Options of the wrong type fail the rule where run() was called, not somewhere later. */
function checkRunOptions(o: RunOptions, where: () => string | undefined): void {
  const bad = (what: string, hint: string): never => {
    const at = where();
    throw new RuleFailure({ code: 'rule-threw', message: `run(): ${what}`, ...(at ? { where: at } : {}), hint });
  };
  const strings = (v: unknown): boolean => typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
  if (o.outputs !== undefined && !strings(o.outputs)) bad('`outputs` must be a file name or a list of them', "run(cmd, { outputs: ['obj/a.o'] })");
  if (o.depfile !== undefined && typeof o.depfile !== 'string') bad('`depfile` must be a file name', "run(cmd, { depfile: 'obj/a.o.d' })");
  for (const k of ['cache', 'remote'] as const) if (o[k] !== undefined && typeof o[k] !== 'boolean') bad(`\`${k}\` must be true or false`, `run(cmd, { ${k}: false })`);
}

/** The rule, re-run against its recorded commands, did something different. */
class ReplayDiff extends Error {}

const MAX_RECORDED_STDOUT = 64 * 1024;

export async function runRule(w: RuleWork, task: TaskContext): Promise<RuleResult> {
  if (w.fenced !== true || w.replay !== undefined) return runRuleWith(w, task, undefined);
  // For a client whose files this node sees (fence-rule.ts): side effects in the attempt's sandbox.
  const { RuleFence, Unfenceable, NodeFault } = await import('./fence-rule.ts');
  let fence: RuleFence | undefined;
  try {
    fence = RuleFence.open(w.dir, task.task);
    return await runRuleWith(w, task, fence);
  } catch (e) {
    if (e instanceof Unfenceable) return { outputs: {}, output: '', commands: [], unfenceable: e.message };
    if (e instanceof NodeFault) {
      throw new WorkerFailure({ code: 'node.unhealthy', message: e.message, hint: 'free space in the node\'s cache directory (B_CACHE_DIR) or fix its disk' });
    }
    throw e;
  } finally {
    await fence?.close();
  }
}

async function runRuleWith(w: RuleWork, task: TaskContext, fence: RuleFence | undefined): Promise<RuleResult> {
  const table = await tableFor(w.file);
  const rule = table.find(w.rule);
  if (rule === undefined) throw new RuleFailure({ code: 'bfile.rule', message: `rule ${w.rule} is no longer in ${path.basename(w.file)}`, where: w.file });
  const commands: RecordedCommand[] = [];
  const output: string[] = [];
  const replay = w.replay;
  let next = 0;

  /** Where a file is read: as this attempt left it when fenced (a path it deleted reads as missing). */
  const seen = (abs: string): string => {
    const p = fence !== undefined ? fence.view(abs) : abs;
    if (p !== undefined) return p;
    throw Object.assign(new Error(`ENOENT: no such file or directory, open '${abs}' (this rule deleted it)`), { code: 'ENOENT' });
  };

  const key = (p: string): string => {
    const n = path.normalize(p);
    if (path.isAbsolute(n)) {
      const rel = path.relative(w.dir, n);
      return rel.startsWith('..') || path.isAbsolute(rel) ? n : rel;
    }
    return n;
  };

  // Calls still in flight: a body that returns before they settle forgot an `await`, and what
  // it read or needed would not be what the build records.
  const inFlight = new Set<Promise<unknown>>();
  // For run() hits answered here (bfile-hit.ts): the answers the engine recorded for this task,
  // whether a run() went to the build host, and the hits to report.
  const needed: { key: string; digest: string }[] = [];
  const neededKeys = new Set<string>();
  let sentRuns = 0;
  const hits: NonNullable<RuleResult['hits']> = [];
  const ask = async (keys: string[]): Promise<WireAnswer[]> => {
    let buf: Buffer;
    const p = task.need({ op: 'need', task: task.task, keys });
    inFlight.add(p);
    try {
      buf = await p;
    } catch (e) {
      if (e instanceof WorkerFailure) {
        throw new RuleFailure({ ...e.failure, code: e.failure.code === 'cycle' ? 'cycle' : 'dependency-failed' });
      }
      throw e;
    } finally {
      inFlight.delete(p);
    }
    const a = parseNeedAnswer(buf);
    if (isProtocolError(a)) throw new RuleFailure({ code: 'protocol', message: `malformed answer to need(${keys.join(', ').slice(0, 200)}): ${a.message}` });
    if (w.hits !== undefined) {
      // As the build host reads the task's record (bfile-farm.ts ruleFacts): oracles and markers out.
      for (const x of a.answers) {
        if (x.key.startsWith(ORACLE) || !HEX_CONTENT.test(x.hash) || neededKeys.has(x.key)) continue;
        neededKeys.add(x.key);
        needed.push({ key: x.key, digest: x.hash });
      }
    }
    return a.answers;
  };

  const need = async (...files: (string | string[])[]): Promise<void> => {
    const keys = files.flat().map(key);
    if (keys.length > 0) await ask(keys);
  };

  /**
   * A command as an action (bfile-action.ts): the build host places it (here or on a node) or
   * answers it from the action cache. Undefined when it must run here, in place: the rule runs
   * on another node, whose build host owns no such task (commands of a rule that came from
   * another machine run where the rule runs, as before).
   */
  const asAction = async (cmd: string | string[], cwd: string, opts: RunOptions, where: () => string | undefined): Promise<ExecLike | undefined> => {
    const req: RunRequest = {
      op: 'run', task: task.task, ...(Array.isArray(cmd) ? { argv: cmd } : { shell: cmd }), cwd,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.outputs !== undefined ? { outputs: (Array.isArray(opts.outputs) ? opts.outputs : [opts.outputs]).map(key) } : {}),
      ...(opts.depfile !== undefined ? { depfile: key(opts.depfile) } : {}),
      ...(opts.cache === false ? { cache: false } : {}),
      ...(opts.remote === false ? { remote: false } : {}),
    };
    if (w.hits !== undefined && sentRuns === 0 && inFlight.size === 0) {
      const t0 = Date.now();
      const { workerHit } = hitCode ??= await import('./bfile-hit.ts');
      const hit = await workerHit(req, { root: path.resolve(w.dir), kind: rule.kind, outs: w.outs, needed }, w.hits);
      if (hit !== undefined && sentRuns === 0) {
        hits.push({ cmd: hit.text.slice(0, 500), bytes: hit.bytes, ms: Date.now() - t0 });
        return { exit: 0, output: hit.output, stdout: hit.stdout };
      }
    }
    sentRuns++;
    let buf: Buffer;
    try {
      buf = await task.need(req);
    } catch (e) {
      if (!(e instanceof WorkerFailure)) throw e;
      if (e.failure.code === 'run.here') return undefined;
      const at = e.failure.where === undefined ? where() : undefined;
      throw new RuleFailure({ ...e.failure, ...(at !== undefined ? { where: at } : {}) });
    }
    const a = parseRunAnswer(buf);
    if (isProtocolError(a)) throw new RuleFailure({ code: 'protocol', message: `malformed answer to run(${JSON.stringify(cmd).slice(0, 200)}): ${a.message}` });
    return a;
  };

  const run = async (cmd: string | string[], opts: RunOptions = {}): Promise<{ stdout: string; exit: number }> => {
    const text = Array.isArray(cmd) ? JSON.stringify(cmd) : cmd;
    const cwd = opts.cwd ? path.resolve(w.dir, opts.cwd) : w.dir;
    const env = opts.env ? JSON.stringify(opts.env) : '';
    // The call site, read only when something fails: formatting the stack of every run() cost
    // ~0.05 ms a call (V8 formats it when `stack` is first read; capturing it is cheap).
    const site = new Error();
    let located: { at: string | undefined } | undefined;
    const where = (): string | undefined => (located ??= { at: locate(site, w.file) }).at;
    if (replay !== undefined) {
      const rec = replay[next++];
      if (rec === undefined || rec.cmd !== text || rec.cwd !== cwd || rec.env !== env || rec.stdout === '\u0000too-long') {
        throw new ReplayDiff(rec === undefined ? `new command: ${text}` : `command changed: ${text}`);
      }
      commands.push(rec);
      return { stdout: rec.stdout, exit: rec.exit };
    }
    checkRunOptions(opts, where);
    const viaAction = fence === undefined && w.actions === true ? await asAction(cmd, cwd, opts, where) : undefined;
    const r = fence !== undefined ? await fence.run(cmd, cwd, opts.env, task) : viaAction ?? await task.wait(execCommand({
      ...(Array.isArray(cmd) ? { argv: cmd } : { shell: cmd }),
      cwd,
      ...(opts.env ? { env: opts.env } : {}),
      splitStdout: true,
    }, task.signal));
    commands.push({ cmd: text, cwd, env, exit: r.exit, stdout: (r.stdout ?? '').length > MAX_RECORDED_STDOUT ? '\u0000too-long' : (r.stdout ?? '') });
    if (r.output) output.push(r.output);
    if (r.exit !== 0 || r.spawnError !== undefined) {
      const why = r.spawnError ?? (r.signal ? `killed by ${r.signal}` : `exit code ${r.exit}`);
      const at = where();
      throw new RuleFailure({
        code: 'command-failed',
        message: `command failed (${why}): ${text}`,
        ...(at ? { where: at } : {}),
        fields: { output: r.output, command: text },
      });
    }
    return { stdout: r.stdout ?? '', exit: r.exit };
  };

  const ctx = {
    key: w.key.startsWith(ORACLE) ? w.key.slice(1) : w.key,
    out: w.outs[0] ?? '',
    outs: w.outs,
    stem: w.stem,
    dir: w.dir,
    need,
    run,
    ask: async (name: string): Promise<unknown> => {
      const [a] = await ask([ORACLE + name]);
      return a?.value !== undefined ? JSON.parse(a.value) : undefined;
    },
    env: async (name: string): Promise<string | undefined> => {
      const [a] = await ask([ENV + name]);
      const v = a?.value !== undefined ? (JSON.parse(a.value) as string | null) : null;
      return v ?? undefined;
    },
    needDepfile: async (file: string): Promise<void> => {
      const abs = path.resolve(w.dir, file);
      const d = parseDepfile(fs.readFileSync(seen(abs), 'utf8'));
      await need(d.ins);
    },
    read: async (file: string): Promise<string> => {
      const abs = path.resolve(w.dir, file);
      // A file this fenced attempt wrote itself is its own, not an input (the client has no copy to answer for).
      if (fence === undefined || !fence.wrote(abs)) await need(file);
      return fs.readFileSync(seen(abs), 'utf8');
    },
    write: async (file: string, content: string | Uint8Array): Promise<void> => {
      const c: unknown = content;
      if (typeof c !== 'string' && !(c instanceof Uint8Array)) {
        const what = c instanceof Promise ? 'a Promise' : typeof content;
        const where = locate(new Error(), w.file);
        throw new RuleFailure({
          code: 'rule-threw',
          message: `write(${JSON.stringify(file)}, …) was given ${what}, not a string`,
          ...(where ? { where } : {}),
          hint: c instanceof Promise ? 'await the value first: write(out, await read(src))' : 'pass a string or a Buffer',
        });
      }
      const abs = path.resolve(w.dir, file);
      if (replay !== undefined) {
        let cur: string | undefined;
        try {
          cur = fs.readFileSync(abs, 'utf8');
        } catch {
          cur = undefined;
        }
        if (cur !== (typeof content === 'string' ? content : Buffer.from(content).toString('utf8'))) throw new ReplayDiff(`would write different content to ${file}`);
        return;
      }
      if (fence !== undefined) return fence.write(abs, content);
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, content);
    },
    log: (...msg: unknown[]): void => {
      output.push(msg.map(String).join(' ') + '\n');
    },
  };

  let value: unknown;
  try {
    value = await (rule.fn as (c: typeof ctx) => unknown)(ctx);
    if (inFlight.size > 0) {
      const n = inFlight.size;
      await Promise.allSettled([...inFlight]);
      throw new RuleFailure({
        code: 'rule-threw',
        message: `rule ${w.key.startsWith(ORACLE) ? w.key.slice(1) : w.key} returned while ${n} need/read/ask call${n === 1 ? ' was' : 's were'} still running`,
        where: w.file,
        hint: 'a call is missing its `await` (write(out, await read(src)), await need(...))',
      });
    }
  } catch (e) {
    // Let calls the body left behind settle, so the task ends with nothing outstanding.
    if (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    if (fence?.refuses(e) === true) throw e;
    if (e instanceof ReplayDiff) return { outputs: {}, output: '', commands: [], replay: { same: false, reason: e.message } };
    if (e instanceof RuleFailure) throw new WorkerFailure(e.failure);
    const err = e instanceof Error ? e : new Error(String(e));
    const where = locate(err, w.file);
    throw new WorkerFailure({ code: 'rule-threw', message: `rule ${ctx.key} threw: ${err.message}`, ...(where ? { where } : {}), fields: { output: output.join('') } });
  }
  if (replay !== undefined) {
    const same = next === replay.length;
    return { outputs: {}, output: '', commands, replay: same ? { same } : { same, reason: 'rule runs fewer commands' } };
  }
  const outputs: Record<string, FileState | null> = {};
  const stored = fence !== undefined ? await fence.outputs(w.outs) : undefined;
  for (const o of w.outs) {
    const st = stored !== undefined ? (stored.find((x) => x.path === path.resolve(w.dir, o))?.digest ?? undefined) : writtenState(path.resolve(w.dir, o));
    if (st === undefined) {
      throw new WorkerFailure({ code: 'rule-output', message: `rule for ${o} finished without creating ${o}`, where: w.file, hint: 'the rule must write every output it declares', fields: { output: output.join('') } });
    }
    if (typeof st !== 'string') outputs[o] = st;
  }
  const r: RuleResult = { outputs, output: output.join(''), commands, ...(stored !== undefined ? { fenced: stored } : {}), ...(hits.length > 0 ? { hits } : {}) };
  if (value !== undefined && rule.kind !== 'file') r.value = JSON.stringify(value);
  return r;
}
