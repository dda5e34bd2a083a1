// The -t tools of the Ninja personality that use B's build database (.b/db under $builddir)
// where ninja uses its .ninja_log and .ninja_deps: deps and missingdeps (the depfile-discovered
// dependency group of each Ninja edge's trace), cleandead (outputs the database knows and the
// manifest no longer mentions), recompact (compaction) and restat (record the outputs as they
// are now). Readers work on a copy of the database, so they never disturb a running build;
// writers take the build lock (.b/lock) as a build does.

import { dropSnapshot } from './fastnoop.ts';
import { lockDb, NESTED } from './lock.ts';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from './logger.ts';
import type { NinjaEdge } from './ninja-parser.ts';
import { Database } from './database.ts';
import { digestFile } from './hash.ts';
import { stateOf } from './filestate.ts';
import { VERSION } from './version.ts';
import { ninjaError, ninjaWarning, stderr } from './ninja-status.ts';
import type { NinjaOptions } from './ninja-options.ts';
import { Cleaner, collectTargets, readDb, toolGetopt, type ToolContext } from './ninja-tool-context.ts';

/**
 * Opens the real database for writing under the lock; undefined (after an error) if locked,
 * 'nested' inside the build that holds it.
 */
function openForWrite(dbDir: string, log: Logger): { db: Database; close(): void } | undefined | typeof NESTED {
  const unlock = lockDb(dbDir);
  if (unlock === NESTED) return NESTED;
  if (typeof unlock === 'string') {
    ninjaError(log, unlock);
    return undefined;
  }
  try {
    // What the tool changes in the database, the last build's no-op snapshot does not know.
    dropSnapshot(process.cwd());
    const opened = Database.open(path.join(dbDir, 'db'), `b ${VERSION}`);
    if (opened.reset !== undefined) ninjaWarning(log, `build database ${path.join(dbDir, 'db')} was discarded: ${opened.reset}`);
    return {
      db: opened.db,
      close: () => {
        try {
          opened.db.close();
        } finally {
          unlock();
        }
      },
    };
  } catch (e) {
    unlock();
    throw e;
  }
}

/** Nanoseconds, as ninja records mtimes, from a millisecond time. */
function ns(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * 1000000n + BigInt(Math.round((ms - whole) * 1e6));
}

export function toolDeps(ctx: ToolContext): number {
  const g = ctx.g;
  const snap = readDb(ctx.desc.dbDir);
  try {
    const db = snap.db;
    let nodes: string[];
    if (ctx.o.args.length === 0) {
      // Every output of an edge with `deps` that has a record, in the order they were recorded.
      nodes = [];
      for (const t of db.allTraces()) {
        const e = g.producer(t.action);
        if (e === undefined || e.deps === '' || e.outs[0] !== t.action) continue;
        nodes.push(...e.outs);
      }
    } else {
      const n = collectTargets(ctx, ctx.o.args);
      if (n === undefined) return 1;
      nodes = n;
    }
    const out: string[] = [];
    for (const node of nodes) {
      const e = g.producer(node);
      const t = e !== undefined && e.deps !== '' ? db.getTrace(e.outs[0] ?? '') : undefined;
      if (t === undefined) {
        out.push(`${node}: deps not found`);
        continue;
      }
      const deps = t.deps[1] ?? [];
      const recorded = db.getFile(node)?.mtime ?? 0;
      let now = 0;
      let exact = ns(recorded);
      try {
        const abs = path.resolve(g.root, node);
        now = fs.statSync(abs).mtimeMs;
        // The database keeps milliseconds in a double, which loses the last nanoseconds: when
        // the file still has the recorded mtime, print it exactly, as ninja does.
        if (now === recorded) exact = fs.statSync(abs, { bigint: true }).mtimeNs;
      } catch {
        now = 0;
      }
      out.push(`${node}: #deps ${deps.length}, deps mtime ${exact} (${now === 0 || now > recorded ? 'STALE' : 'VALID'})`);
      for (const d of deps) out.push(`    ${d.key}`);
      out.push('');
    }
    if (out.length > 0) ctx.log.raw(out.join('\n') + '\n');
    return 0;
  } finally {
    snap.close();
  }
}

export function toolMissingDeps(ctx: ToolContext): number {
  const g = ctx.g;
  const nodes = collectTargets(ctx, ctx.o.args);
  if (nodes === undefined) return 1;
  const snap = readDb(ctx.desc.dbDir);
  try {
    const db = snap.db;
    const seen = new Set<string>();
    const out: string[] = [];
    const generated = new Set<string>();
    const generatorRules = new Set<string>();
    const nodesMissing = new Set<string>();
    let missingPaths = 0;
    const memo = new Map<NinjaEdge, Map<NinjaEdge, boolean>>();
    /** Whether `to` depends on `from` through the manifest (not through depfiles). */
    const pathExists = (from: NinjaEdge, to: NinjaEdge): boolean => {
      let m = memo.get(from);
      if (m === undefined) memo.set(from, (m = new Map()));
      const known = m.get(to);
      if (known !== undefined) return known;
      const visited = new Set<NinjaEdge>([to]);
      const stack = [to];
      let found = false;
      while (stack.length > 0 && !found) {
        const e = stack.pop()!;
        for (const i of e.ins) {
          const p = g.producer(i);
          if (p === undefined || visited.has(p)) continue;
          if (p === from || m.get(p) === true) {
            found = true;
            break;
          }
          visited.add(p);
          stack.push(p);
        }
      }
      m.set(to, found);
      return found;
    };
    const processDeps = (node: string, edge: NinjaEdge, deps: string[]): void => {
      if (deps.includes('build.ninja')) return;
      const depEdges = new Set<NinjaEdge>();
      for (const d of deps) {
        const e = g.producer(d);
        if (e !== undefined) depEdges.add(e);
      }
      const missing = [...depEdges].filter((de) => !pathExists(de, edge));
      if (missing.length === 0) return;
      const rules = new Set<string>();
      for (const ne of missing) {
        for (const d of deps) {
          if (g.producer(d) !== ne) continue;
          generated.add(d);
          generatorRules.add(ne.rule);
          rules.add(ne.rule);
          out.push(`Missing dep: ${node} uses ${d} (generated by ${ne.rule})`);
        }
      }
      missingPaths += rules.size;
      nodesMissing.add(node);
    };
    for (const root of nodes) {
      // ProcessNode: inputs first, then the node's own recorded dependencies.
      const stack: { node: string; edge: NinjaEdge; i: number }[] = [];
      const enter = (n: string): void => {
        const e = g.producer(n);
        if (e === undefined || seen.has(n)) return;
        seen.add(n);
        stack.push({ node: n, edge: e, i: 0 });
      };
      enter(root);
      while (stack.length > 0) {
        const f = stack[stack.length - 1]!;
        if (f.i < f.edge.ins.length) {
          enter(f.edge.ins[f.i++]!);
          continue;
        }
        stack.pop();
        const t = db.getTrace(f.edge.outs[0] ?? '');
        const deps = (t?.deps[1] ?? []).map((d) => d.key);
        if (deps.length > 0) processDeps(f.node, f.edge, deps);
      }
    }
    out.push(`Processed ${seen.size} nodes.`);
    if (missingPaths > 0) {
      out.push(`Error: There are ${missingPaths} missing dependency paths.`);
      out.push(`${nodesMissing.size} targets had depfile dependencies on ${generated.size} distinct generated inputs (from ${generatorRules.size} rules)  without a non-depfile dep path to the generator.`);
      out.push('There might be build flakiness if any of the targets listed above are built alone, or not late enough, in a clean output directory.');
    } else {
      out.push('No missing dependencies on generated files found.');
    }
    ctx.log.raw(out.join('\n') + '\n');
    return missingPaths > 0 ? 3 : 0;
  } finally {
    snap.close();
  }
}

export function toolCleanDead(ctx: ToolContext): number {
  const g = ctx.g;
  const dry = ctx.o.dryRun;
  const w = dry ? readDb(ctx.desc.dbDir) : openForWrite(ctx.desc.dbDir, ctx.log);
  if (w === NESTED) {
    ninjaError(ctx.log, `cannot clean dead outputs from inside the build that uses ${ctx.desc.dbDir}`);
    return 1;
  }
  const opened = w;
  if (opened === undefined) return 1;
  try {
    const db = opened.db;
    const cleaner = new Cleaner(ctx);
    cleaner.header();
    const traces = [...db.allTraces()];
    for (const t of traces) {
      for (const out of t.outputs) {
        // Dead: no edge makes it and none uses it (a former output now used as a source stays).
        if (g.producer(out) !== undefined || g.outEdges(out).length > 0) continue;
        cleaner.remove(out);
        if (!dry) db.deleteFile(out);
      }
      if (!dry && g.producer(t.action) === undefined) db.deleteTrace(t.action);
    }
    cleaner.footer();
    return cleaner.status;
  } finally {
    opened.close();
  }
}

export function toolRecompact(ctx: ToolContext): number {
  if (!fs.existsSync(path.join(ctx.desc.dbDir, 'db'))) return 0;
  const opened = openForWrite(ctx.desc.dbDir, ctx.log);
  if (opened === undefined) return 1;
  // Inside the build holding the database: it compacts the database itself when it closes it.
  if (opened === NESTED) return 0;
  try {
    opened.db.compact(true);
    return 0;
  } finally {
    opened.close();
  }
}

export function toolRestat(o: NinjaOptions, log: Logger, dbDir: string): number {
  const ctxLike = { o, log } as ToolContext;
  const a = toolGetopt(ctxLike, 'h');
  if (a === undefined) return 1;
  if (a.flags.length > 0) {
    log.out('usage: ninja -t restat [outputs]');
    return 1;
  }
  if (!fs.existsSync(path.join(dbDir, 'db'))) return 0; // nothing to restat
  const only = a.args.length > 0 ? new Set(a.args) : undefined;
  const opened = o.dryRun ? readDb(dbDir) : openForWrite(dbDir, log);
  if (opened === undefined) return 1;
  // Inside the build holding the database (CMake regenerating build.ninja): that build records
  // the state of the outputs it makes, the manifest included, when they are done.
  if (opened === NESTED) return 0;
  try {
    const db = opened.db;
    const root = process.cwd();
    for (const t of [...db.allTraces()]) {
      for (const out of t.outputs) {
        if (only !== undefined && !only.has(out)) continue;
        const abs = path.resolve(root, out);
        let s: fs.Stats | undefined;
        try {
          s = fs.statSync(abs);
        } catch {
          s = undefined;
        }
        // A missing output stays as recorded: the next build makes it again either way.
        if (s === undefined) continue;
        const st = s.isDirectory() ? { size: 0, mtime: 0, ctime: 0, ino: s.ino, digest: '\u0000dir', racy: false } : stateOf(s, digestFile(abs));
        if (!o.dryRun) db.putFile(out, st);
      }
    }
    return 0;
  } catch (e) {
    stderr(log, `ninja: error: failed recompaction: ${(e as Error).message}`);
    return 1;
  } finally {
    opened.close();
  }
}
