// The Bfile front end, broker side: loads Bfile.ts/.js/.mjs, collects its rules, and turns a
// wanted key into an Action for the engine. The rule bodies themselves run on workers
// (bfile-run.ts), which load the same module.
//
// A Bfile is a module whose default export receives the rule registry:
//
//   import type { B } from 'b';
//   export default (b: B) => {
//     b.default('hello');
//     b.rule('hello', async ({ need, run }) => { await need('main.o'); await run('cc -o hello main.o'); });
//     b.rule('%.o', async ({ stem, out, need, run, needDepfile }) => { ... });
//     b.oracle('cc-version', async ({ run }) => (await run('cc --version')).stdout);
//     b.phony('test', async ({ need, run }) => { ... });
//   };

import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ENV, ORACLE, type Action, type BuildDescription, type BuildEvent, type Completed, type RunContext } from './engine.ts';
import { placeOutputs } from './remote-output.ts';
import type { FileState, Trace } from './database.ts';
import { fingerprint } from './hash.ts';
import { UserError } from './errors.ts';
import { outcomeOf, type RecordedCommand, type Reply, type RuleResult, type RuleWork, type RunHitEnv } from './messages.ts';
import { isProtocolError, type Failure } from './protocol.ts';
import { installTsCache } from './ts-cache.ts';
export type { RecordedCommand, RuleResult, RuleWork };

export type RuleKind = 'file' | 'oracle' | 'phony';

export interface RuleDef {
  kind: RuleKind;
  /** Output patterns (file rules), or the name (oracles, phony targets). */
  patterns: string[];
  fn: (ctx: never) => unknown;
  /** Stable identity across Bfile edits: the patterns. */
  id: string;
  fingerprint: number;
}

export interface Registry {
  rules: RuleDef[];
  defaults: string[];
}


export function showKey(key: string): string {
  return key.startsWith(ORACLE) ? key.slice(1) : key;
}

/** The registry API handed to a Bfile's default export. */
export function collect(mod: unknown, file: string): Registry {
  const reg: Registry = { rules: [], defaults: [] };
  const def = (mod as { default?: unknown }).default;
  if (typeof def !== 'function') {
    throw new UserError({
      code: 'bfile.export',
      message: `${path.basename(file)} must export a default function that receives the rule registry`,
      where: file,
      hint: 'write: export default (b: B) => { b.rule("out", async ({ run }) => { ... }) }',
    });
  }
  const add = (kind: RuleKind, patterns: string[], fn: unknown): void => {
    if (typeof fn !== 'function') throw new UserError({ code: 'bfile.rule', message: `rule ${patterns.join(', ')}: the body must be a function`, where: file });
    for (const p of patterns) {
      if (typeof p !== 'string' || p === '') throw new UserError({ code: 'bfile.rule', message: `rule names must be non-empty strings (got ${JSON.stringify(p)})`, where: file });
      if (kind === 'file' && p.split('%').length > 2) throw new UserError({ code: 'bfile.rule', message: `pattern ${p} has more than one %`, where: file });
    }
    const id = `${kind}:${patterns.join('|')}`;
    if (reg.rules.some((r) => r.id === id)) throw new UserError({ code: 'bfile.rule', message: `rule ${patterns.join(', ')} is defined twice`, where: file });
    reg.rules.push({ kind, patterns, fn: fn as (ctx: never) => unknown, id, fingerprint: fingerprint(`${id}\n${String(fn)}`) });
  };
  const api = {
    rule: (outputs: string | string[], fn: unknown) => add('file', Array.isArray(outputs) ? outputs : [outputs], fn),
    oracle: (name: string, fn: unknown) => add('oracle', [name], fn),
    phony: (name: string, fn: unknown) => add('phony', [name], fn),
    default: (...targets: (string | string[])[]) => reg.defaults.push(...targets.flat()),
  };
  const r = (def as (b: typeof api) => unknown)(api);
  if (r instanceof Promise) throw new UserError({ code: 'bfile.export', message: 'the default export must register rules synchronously (do not make it async)', where: file });
  return reg;
}

/** Imports a Bfile fresh (a changed file is re-imported in a long-lived node). */
export async function importBfile(file: string): Promise<unknown> {
  const mtime = fs.statSync(file).mtimeMs;
  installTsCache();
  try {
    return await import(`${pathToFileURL(file).href}?v=${mtime}`);
  } catch (e) {
    throw bfileError(e, file);
  }
}

/** A Bfile that does not load: the error names the file and line, as the runtime reported it. */
export function bfileError(e: unknown, file: string): UserError {
  if (e instanceof UserError) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  const where = locate(err, file) ?? path.basename(file);
  return new UserError({ code: 'bfile.load', message: `cannot load ${path.basename(file)}: ${err.message.split('\n')[0]}`, where, exitCode: 2, hint: 'fix the Bfile; `b init` writes a working example' });
}

/** The first `file:line:col` of `file` in an error's stack (or syntax error text). */
export function locate(err: Error, file: string): string | undefined {
  const base = path.basename(file);
  const text = `${err.stack ?? ''}\n${err.message}`;
  const re = new RegExp(`${escapeRe(base)}(?:\\?v=[0-9.]+)?:(\\d+)(?::(\\d+))?`);
  const m = re.exec(text);
  if (!m) return undefined;
  return `${path.relative(process.cwd(), file) || base}:${m[1]}${m[2] ? `:${m[2]}` : ''}`;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Hash of the Bfile and the local modules it imports: what "the Bfile changed" means. */
export function moduleHash(file: string): number {
  return moduleFiles(file).hash;
}

/** The Bfile and the local modules it imports (followed through relative imports), and their hash. */
export function moduleFiles(file: string): { files: string[]; hash: number } {
  const seen = new Set<string>();
  const texts: string[] = [];
  const visit = (f: string): void => {
    if (seen.has(f) || seen.size > 200) return;
    seen.add(f);
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      return;
    }
    texts.push(`${f}\n${text}`);
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) {
      const spec = m[1] ?? m[2];
      if (spec) visit(path.resolve(path.dirname(f), spec));
    }
  };
  visit(file);
  return { files: [...seen].filter((f) => fs.existsSync(f)), hash: fingerprint(texts.join('\n')) };
}

export interface Match {
  rule: RuleDef;
  outs: string[];
  stem: string;
}

/** Finds the rule for a key: phony and oracle names, exact file rules, then patterns in order. */
export class RuleTable {
  private readonly exact = new Map<string, RuleDef>();
  private readonly named = new Map<string, RuleDef>();
  private readonly patterns: { rule: RuleDef; pattern: string; prefix: string; suffix: string }[] = [];
  readonly reg: Registry;

  constructor(reg: Registry) {
    this.reg = reg;
    for (const r of reg.rules) {
      if (r.kind === 'oracle') this.named.set(ORACLE + r.patterns[0]!, r);
      else if (r.kind === 'phony') this.named.set(r.patterns[0]!, r);
      else if (r.patterns.every((p) => !p.includes('%'))) for (const p of r.patterns) this.exact.set(path.normalize(p), r);
      else for (const p of r.patterns) {
        const i = p.indexOf('%');
        if (i >= 0) this.patterns.push({ rule: r, pattern: p, prefix: p.slice(0, i), suffix: p.slice(i + 1) });
      }
    }
  }

  match(key: string): Match | undefined {
    const named = this.named.get(key);
    if (named) return { rule: named, outs: named.kind === 'phony' ? [] : [], stem: '' };
    const exact = this.exact.get(key);
    if (exact) return { rule: exact, outs: exact.patterns.map((p) => path.normalize(p)), stem: '' };
    for (const p of this.patterns) {
      if (key.length > p.prefix.length + p.suffix.length && key.startsWith(p.prefix) && key.endsWith(p.suffix)) {
        const stem = key.slice(p.prefix.length, key.length - p.suffix.length);
        return { rule: p.rule, outs: p.rule.patterns.map((x) => x.replace('%', stem)), stem };
      }
    }
    return undefined;
  }

  find(id: string): RuleDef | undefined {
    return this.reg.rules.find((r) => r.id === id);
  }
}

interface Extra {
  bfile: number;
  commands: RecordedCommand[];
}

class BfileDescription implements BuildDescription {
  readonly root: string;
  readonly pools = new Map<string, number>();
  readonly table: RuleTable;
  readonly file: string;
  readonly dbDir: string;
  readonly hash: number;
  /** The Bfile and the local modules it imports (the no-op snapshot records them). */
  readonly files: string[];
  private readonly actions = new Map<string, Action>();
  /** Set by the build host: the build has other nodes or the action cache (rules' commands are actions). */
  farm = false;
  /** Set by the build host with the action cache: lets a rule's worker answer run() hits itself (bfile-hit.ts). */
  runHits: RunHitEnv | undefined = undefined;
  /** Set by the build host: where the `command` events of those hits go. */
  commandEvent: ((e: BuildEvent) => void) | undefined = undefined;

  constructor(file: string, dir: string, reg: Registry) {
    this.root = dir;
    this.file = file;
    this.table = new RuleTable(reg);
    this.dbDir = path.join(dir, '.b');
    const m = moduleFiles(file);
    this.hash = m.hash;
    this.files = m.files;
  }

  show(key: string): string {
    return showKey(key);
  }

  defaults(): string[] {
    if (this.table.reg.defaults.length > 0) return this.table.reg.defaults;
    const first = this.table.reg.rules.find((r) => r.kind !== 'oracle' && r.patterns.every((p) => !p.includes('%')));
    if (!first) {
      throw new UserError({ code: 'bfile.default', message: 'nothing to build: the Bfile declares no default target and no rule with a fixed name', where: this.file, hint: 'call b.default("target") or name targets on the command line', exitCode: 2 });
    }
    return [first.patterns[0]!];
  }

  actionFor(key: string): Action | undefined {
    if (key.startsWith(ENV)) return undefined;
    const m = this.table.match(key);
    if (m === undefined) return undefined;
    const id = `${m.rule.id} ${m.rule.kind === 'file' ? m.outs[0] : key}`;
    let a = this.actions.get(id);
    if (a === undefined) {
      a = this.makeAction(m, key, id);
      this.actions.set(id, a);
    }
    return a;
  }

  private makeAction(m: Match, key: string, id: string): Action {
    const desc = this;
    // Its run() calls are actions (bfile-farm.ts) when they can go somewhere else: other nodes, or the action cache.
    const work = (replay?: RecordedCommand[]): RuleWork => ({
      k: 'rule', file: desc.file, dir: desc.root, rule: m.rule.id, key, outs: m.outs, stem: m.stem, ...(replay ? { replay } : {}),
      ...(!replay && desc.farm ? { actions: true, ...(desc.runHits !== undefined ? { hits: desc.runHits } : {}) } : {}),
    });
    return {
      id,
      outputs: m.outs,
      ...(m.rule.kind !== 'file' ? { answers: key } : {}),
      fingerprint: m.rule.fingerprint,
      inputs: [],
      orderOnly: [],
      validations: [],
      pool: '',
      phony: false,
      always: m.rule.kind === 'phony',
      generator: false,
      description: m.rule.kind === 'file' ? m.outs.join(' ') : showKey(key),
      // A rule body runs on another node only where that node sees this build's files, and
      // there fenced (fence-rule.ts): its outputs come back only for the attempt accepted.
      placement: { remote: true, root: desc.root },
      remote: (shared) => (shared ? Buffer.from(JSON.stringify({ ...work(), fenced: true } satisfies RuleWork)) : undefined),
      work: () => work(),
      replay: (t: Trace) => {
        const extra = parseExtra(t.extra);
        return extra === undefined || extra.bfile === desc.hash ? undefined : work(extra.commands);
      },
      async complete(result: Reply, ctx: RunContext): Promise<Completed | Failure> {
        // From a worker or another machine: decoded once, strictly (messages.ts).
        const o = outcomeOf(['rule'], result);
        const r = isProtocolError(o) ? o : o.r;
        if (isProtocolError(r)) return { code: 'protocol', message: `malformed result of rule ${key}: ${r.message}`, where: desc.file };
        const extra: Extra = { bfile: desc.hash, commands: r.commands };
        if (r.unfenceable !== undefined) return { code: 'remote.unfenced', message: `a node could not run rule ${showKey(key)} fenced: ${r.unfenceable}`, where: desc.file, fields: { retryLocal: true } };
        if (r.fenced !== undefined) {
          // Fenced on a node: the outputs of this, the accepted attempt, are fetched into place.
          const got = await placeOutputs(desc.root, showKey(key), m.outs, r.fenced, ctx.fetch);
          if (!('outs' in got)) return { ...got, where: desc.file };
          return { outputs: got.outs, discovered: [], value: r.value, output: r.output, extra: JSON.stringify(extra), bytes: { sent: 0, received: got.received } };
        }
        // A plain result says the rule wrote our files itself: never true of another node, which
        // gets fenced rules only (a node answering so is not believed).
        if (ctx.node !== undefined) return { code: 'remote.unfenced', message: `node ${ctx.node} answered rule ${showKey(key)} with a result of a rule run on this machine's files`, where: desc.file, fields: { retryLocal: true } };
        const outputs = new Map<string, FileState | undefined>();
        for (const o of m.outs) outputs.set(o, r.outputs[o] ?? undefined);
        // run() hits its worker answered (bfile-hit.ts): the events bfile-farm.ts sends for the others.
        const t = Date.now();
        for (const h of desc.runHits !== undefined ? r.hits ?? [] : []) {
          desc.commandEvent?.({ event: 'command', t, key: showKey(m.outs[0] ?? key), action: id, description: h.cmd, node: 'local', ms: h.ms, cache: 'local', cacheBytes: h.bytes });
        }
        return { outputs, discovered: [], value: r.value, output: r.output, extra: JSON.stringify(extra) };
      },
      replayed(result: Reply): { same: boolean; reason: string; extra: string } {
        const o = outcomeOf(['rule'], result);
        const r = isProtocolError(o) ? o : o.r;
        if (isProtocolError(r)) return { same: false, reason: `malformed replay result: ${r.message}`, extra: '' };
        return { same: r.replay?.same === true, reason: r.replay?.reason ?? 'rule changed', extra: JSON.stringify({ bfile: desc.hash, commands: r.commands } satisfies Extra) };
      },
    };
  }
}

function parseExtra(s: string): Extra | undefined {
  try {
    const e = JSON.parse(s) as Extra;
    return typeof e.bfile === 'number' && Array.isArray(e.commands) ? e : undefined;
  } catch {
    return undefined;
  }
}

export async function loadBfile(file: string, dir: string): Promise<BfileDescription> {
  const mod = await importBfile(file);
  let reg: Registry;
  try {
    reg = collect(mod, file);
  } catch (e) {
    throw bfileError(e, file);
  }
  return new BfileDescription(file, dir, reg);
}

export function isBfile(file: string): boolean {
  return /(^|[\\/])Bfile\.(ts|js|mjs|mts)$/.test(file) || /\.b\.(ts|js|mjs)$/.test(file);
}
