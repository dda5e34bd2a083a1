// What every `-t` tool shares: its context (options, logger, manifest, graph), getopt, target
// collection, output, and the cleaner (clean, cleandead). A leaf of the tools: ninja-tools.ts
// dispatches to ninja-tools-db.ts and ninja-tools-list.ts, and all three import this file.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Database } from './database.ts';
import { VERSION } from './version.ts';
import type { Logger } from './logger.ts';
import type { NinjaEdge } from './ninja-parser.ts';
import { canonicalizePath } from './ninja-path.ts';
import { NinjaGraph, collectTarget } from './ninja-tools-graph.ts';
import { ninjaError, stderr } from './ninja-status.ts';
import { strerror, type NinjaOptions } from './ninja-options.ts';
import type { NinjaDescription } from './ninja-build.ts';

export interface ToolContext {
  o: NinjaOptions;
  log: Logger;
  desc: NinjaDescription;
  g: NinjaGraph;
}

// getopt for the tools: argv[0] is the tool's name, GNU permutation, short options only unless
// long ones are given.
interface ToolArgs {
  flags: { opt: string; arg: string }[];
  args: string[];
}

export function toolGetopt(ctx: ToolContext, short: string, long: { name: string; opt: string; hasArg: boolean }[] = []): ToolArgs | undefined {
  const argv = ctx.o.args;
  const prog = ctx.o.tool!;
  const flags: { opt: string; arg: string }[] = [];
  const args: string[] = [];
  const takes = (c: string): boolean | undefined => {
    const i = short.indexOf(c);
    return i < 0 || c === ':' ? undefined : short[i + 1] === ':';
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--') && long.length > 0) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const exact = long.find((l) => l.name === name);
      const m = exact ? [exact] : long.filter((l) => l.name.startsWith(name));
      if (m.length !== 1) {
        stderr(ctx.log, m.length === 0 ? `${prog}: unrecognized option '--${name}'` : `${prog}: option '--${name}' is ambiguous; possibilities:${m.map((x) => ` '--${x.name}'`).join('')}`);
        flags.push({ opt: '?', arg: '' });
        continue;
      }
      const lo = m[0]!;
      let arg = '';
      if (lo.hasArg) {
        if (eq >= 0) arg = a.slice(eq + 1);
        else if (i + 1 < argv.length) arg = argv[++i]!;
        else {
          stderr(ctx.log, `${prog}: option '--${lo.name}' requires an argument`);
          flags.push({ opt: '?', arg: '' });
          continue;
        }
      }
      flags.push({ opt: lo.opt, arg });
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let k = 1; k < a.length; k++) {
        const c = a[k]!;
        const t = takes(c);
        if (t === undefined) {
          stderr(ctx.log, `${prog}: invalid option -- '${c}'`);
          flags.push({ opt: '?', arg: '' });
          continue;
        }
        let arg = '';
        if (t) {
          if (k + 1 < a.length) arg = a.slice(k + 1);
          else if (i + 1 < argv.length) arg = argv[++i]!;
          else {
            stderr(ctx.log, `${prog}: option requires an argument -- '${c}'`);
            flags.push({ opt: '?', arg: '' });
            break;
          }
          k = a.length;
        }
        flags.push({ opt: c, arg });
      }
      continue;
    }
    args.push(a);
  }
  return { flags, args };
}

/** CollectTargetsFromArgs: the arguments as nodes, or the default targets. */
export function collectTargets(ctx: ToolContext, args: string[]): string[] | undefined {
  if (args.length === 0) {
    const d = ctx.g.defaultNodes();
    if (d.error !== undefined) {
      ninjaError(ctx.log, d.error);
      return undefined;
    }
    return d.nodes;
  }
  const nodes: string[] = [];
  for (const a of args) {
    const t = collectTarget(ctx.g, a, (p) => firstReverseDep(ctx, p));
    if (t.error !== undefined) {
      ninjaError(ctx.log, t.error);
      return undefined;
    }
    nodes.push(t.node!);
  }
  return nodes;
}

export function write(ctx: ToolContext, lines: string[]): void {
  if (lines.length > 0) ctx.log.raw(lines.join('\n') + '\n');
}

// ---------------------------------------------------------------------------------------------
// clean

/** ninja's Cleaner: removes outputs (and depfiles, rspfiles), counting the files it removed. */
export class Cleaner {
  private readonly ctx: ToolContext;
  private readonly removed = new Set<string>();
  private readonly cleaned = new Set<string>();
  count = 0;
  status = 0;
  private readonly out: string[] = [];

  constructor(ctx: ToolContext) {
    this.ctx = ctx;
  }

  get verbose(): boolean {
    return this.ctx.o.verbose || this.ctx.o.dryRun;
  }

  header(): void {
    this.ctx.log.raw(this.verbose ? 'Cleaning...\n' : 'Cleaning... ');
  }

  footer(): void {
    if (this.out.length > 0) this.ctx.log.raw(this.out.splice(0).join(''));
    this.ctx.log.raw(`${this.count} files.\n`);
  }

  note(line: string): void {
    this.out.push(line + '\n');
  }

  private report(p: string): void {
    this.count++;
    if (this.verbose) this.note(`Remove ${p}`);
  }

  remove(p: string): void {
    if (this.removed.has(p)) return;
    this.removed.add(p);
    const abs = path.resolve(this.ctx.g.root, p);
    if (this.ctx.o.dryRun) {
      if (fs.existsSync(abs)) this.report(p);
      return;
    }
    const r = removeFile(abs);
    if (r === 0) this.report(p);
    else if (r !== 1) {
      this.footerFlush();
      ninjaError(this.ctx.log, `remove(${p}): ${r}`);
      this.status = 1;
    }
  }

  private footerFlush(): void {
    if (this.out.length > 0) this.ctx.log.raw(this.out.splice(0).join(''));
  }

  removeEdgeFiles(e: NinjaEdge): void {
    if (e.depfile !== '') this.remove(canonicalizePath(e.depfile));
    if (e.rspfile !== '') this.remove(canonicalizePath(e.rspfile));
  }

  cleanAll(generator: boolean): void {
    for (const e of this.ctx.g.edges) {
      if (e.isPhony) continue;
      if (!generator && e.generator) continue;
      for (const out of this.ctx.g.outputsOf(e)) this.remove(out);
      this.removeEdgeFiles(e);
    }
  }

  cleanTarget(target: string): void {
    // Iterative version of ninja's recursive DoCleanTarget (same order).
    const stack: { node: string; ins: string[]; i: number }[] = [];
    const enter = (node: string): void => {
      const e = this.ctx.g.producer(node);
      if (e === undefined) {
        this.cleaned.add(node);
        return;
      }
      if (!e.isPhony) {
        this.remove(node);
        this.removeEdgeFiles(e);
      }
      stack.push({ node, ins: this.ctx.g.inputsOf(e).ins, i: 0 });
    };
    enter(target);
    while (stack.length > 0) {
      const f = stack[stack.length - 1]!;
      if (f.i < f.ins.length) {
        const next = f.ins[f.i++]!;
        if (!this.cleaned.has(next)) enter(next);
        continue;
      }
      stack.pop();
      this.cleaned.add(f.node);
    }
  }

  cleanRule(rule: string): void {
    for (const e of this.ctx.g.edges) {
      if (e.rule !== rule) continue;
      for (const out of this.ctx.g.outputsOf(e)) {
        this.remove(out);
        this.removeEdgeFiles(e);
      }
    }
  }
}

/** ninja's RemoveFile: 0 removed, 1 did not exist, else the error text. */
export function removeFile(abs: string): 0 | 1 | string {
  try {
    fs.unlinkSync(abs);
    return 0;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 1;
    if (code === 'EISDIR' || code === 'EPERM') {
      // remove(3) also removes empty directories.
      try {
        fs.rmdirSync(abs);
        return 0;
      } catch (e2) {
        return strerror(e2);
      }
    }
    return strerror(e);
  }
}

export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The build database as a snapshot: a copy, opened and read, removed on close. */
export function readDb(dbDir: string): { db: Database; close(): void } {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'b-ninja-db-'));
  const copy = path.join(tmp, 'db');
  try {
    fs.copyFileSync(path.join(dbDir, 'db'), copy);
  } catch {
    // No database yet: an empty one.
  }
  const { db } = Database.open(copy, `b ${VERSION}`);
  return {
    db,
    close: () => {
      db.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** For `foo.h^`: the first output whose recorded depfile dependencies include foo.h. */
export function firstReverseDep(ctx: ToolContext, p: string): string | undefined {
  const snap = readDb(ctx.desc.dbDir);
  try {
    for (const t of snap.db.allTraces()) {
      for (let gi = 1; gi < t.deps.length; gi++) if (t.deps[gi]!.some((d) => d.key === p)) return t.outputs[0] ?? t.action;
    }
    return undefined;
  } finally {
    snap.close();
  }
}
