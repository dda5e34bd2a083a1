// The Ninja front end, worker side: runs one build edge's command as Ninja would (output
// directories created first, rspfile written before and removed after success, depfile or
// /showIncludes read after), then hashes the outputs so the broker records them.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { execCommand } from './exec.ts';
import { writtenState } from './filestate.ts';
import { parseDepfile, parseShowIncludes } from './depfile.ts';
import { canonicalizePath } from './ninja-path.ts';
import type { CmdResult, CmdWork } from './messages.ts';
import type { FileState } from './database.ts';
import type { TaskContext } from './task-context.ts';

/** A dependency path as a key: canonical, and relative when it is inside the build directory. */
export function depKey(p: string, cwd: string): string {
  const c = canonicalizePath(p);
  if (!path.isAbsolute(c)) return c;
  const rel = path.relative(cwd, c);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? canonicalizePath(rel) : c;
}

/**
 * What a finished command discovered, as Ninja reads it: `/showIncludes` lines (taken out of its
 * output) for `deps = msvc`, else the depfile at `depfileAt` (undefined: the command deleted it;
 * missing: no dependencies), as keys relative to `root`. An unknown deps type is an error Ninja
 * stops the build for. Shared by commands run in place and fenced ones (fence.ts).
 */
export function discoveredDeps(
  w: { deps: string; depfile: string; msvcPrefix: string }, output: string, depfileAt: string | undefined, root: string,
): { output: string; deps: string[]; depsError?: string; unknownType?: true; read?: true } {
  if (w.deps !== '' && w.deps !== 'gcc' && w.deps !== 'msvc') return { output, deps: [], depsError: `unknown deps type '${w.deps}'`, unknownType: true };
  if (w.deps === 'msvc') {
    const s = parseShowIncludes(output, w.msvcPrefix || undefined);
    return { output: s.rest, deps: s.deps.map((d) => depKey(d, root)) };
  }
  if (w.depfile === '' || depfileAt === undefined) return { output, deps: [] };
  let text: string;
  try {
    text = fs.readFileSync(depfileAt, 'utf8');
  } catch (e) {
    // Ninja treats a missing depfile as having no dependencies.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { output, deps: [] };
    return { output, deps: [], depsError: `loading '${w.depfile}': ${(e as Error).message}` };
  }
  try {
    return { output, deps: parseDepfile(text).ins.map((d) => depKey(d, root)), read: true };
  } catch (e) {
    return { output, deps: [], depsError: `${w.depfile}: ${(e as Error).message}`, read: true };
  }
}

/**
 * ninja's `-d keepdepfile` and `-d keeprsp`, process-wide as ninja's g_keep_depfile and
 * g_keep_rsp: set by the Ninja personality for the commands this process runs (a build on this
 * machine alone runs them all here; build nodes keep their own defaults).
 */
export const keep = { depfile: false, rsp: false };

/** An output's mtime in ns, 0 when it is missing (ninja's TimeStamp, as Cleanup compares it). */
function mtimeOf(p: string): bigint {
  // Before a first build no output exists: a throwing stat cost ~300 µs per edge (the error
  // object and its message), a quarter of B's own CPU on 4,000 cheap edges.
  try {
    return fs.statSync(p, { bigint: true, throwIfNoEntry: false })?.mtimeNs ?? 0n;
  } catch {
    return 0n;
  }
}

/**
 * ninja's Builder::Cleanup for an edge that was running when the build was interrupted: each
 * output whose mtime changed goes (a generator's manifest it did not touch stays), every output
 * when the edge has a depfile (the command may have written the depfile and not yet the
 * output), and the depfile. The rspfile stays, as in ninja.
 */
function removeModified(w: CmdWork, before: bigint[]): void {
  const depfile = w.depfile !== '' ? path.resolve(w.cwd, w.depfile) : undefined;
  w.outs.forEach((o, i) => {
    const abs = path.resolve(w.cwd, o);
    if (depfile !== undefined || mtimeOf(abs) !== before[i]) fs.rmSync(abs, { force: true });
  });
  if (depfile !== undefined) fs.rmSync(depfile, { force: true });
}

/** Whether an output path names a directory (ninja's DirName is not empty). */
function hasDir(p: string): boolean {
  return p.includes('/') || (process.platform === 'win32' && p.includes('\\'));
}

export async function runCmd(w: CmdWork, ctx: Pick<TaskContext, 'signal' | 'wait' | 'interrupted'>): Promise<CmdResult> {
  // Stopped before it started (a fatal error as its status line was printed): ninja's StartEdge
  // never got to the command, nor to its directories.
  if (ctx.signal.aborted) return { exit: -1, output: '', outputs: {}, deps: [], spawnError: 'the build was stopped before this command started' };
  // Each output's path resolved once (path.resolve is a walk over the string, three per output before).
  const abs = w.outs.map((o) => path.resolve(w.cwd, o));
  const before = ctx.interrupted !== undefined ? abs.map(mtimeOf) : [];
  // As ninja's MakeDirs: an output with no directory part is in the build directory, which
  // exists; nothing to make (a mkdir and a stat per edge fewer on a flat build).
  w.outs.forEach((o, i) => {
    if (hasDir(o)) fs.mkdirSync(path.dirname(abs[i]!), { recursive: true });
  });
  // As ninja's StartEdge: the depfile's directory too (a compiler writing `-MF dir/x.d` fails
  // if dir is missing, and dir need not hold any output).
  if (w.depfile !== '') fs.mkdirSync(path.dirname(path.resolve(w.cwd, w.depfile)), { recursive: true });
  const rsp = w.rspfile !== '' ? path.resolve(w.cwd, w.rspfile) : undefined;
  if (rsp !== undefined) {
    fs.mkdirSync(path.dirname(rsp), { recursive: true });
    fs.writeFileSync(rsp, w.rspfileContent);
  }
  const r = await ctx.wait(execCommand({ shell: w.cmd, cwd: w.cwd, console: w.console }, ctx.signal));
  const result: CmdResult = { exit: r.exit, output: r.output, outputs: {}, deps: [] };
  if (r.signal) result.signal = r.signal;
  if (r.spawnError !== undefined) result.spawnError = r.spawnError;
  if (ctx.interrupted?.aborted === true) {
    // It ended after the build was interrupted (stopped by the signal, or left to finish): what
    // it wrote is not trusted, and nothing of it is recorded (its outputs count as missing).
    removeModified(w, before);
    for (const o of w.outs) result.outputs[o] = null;
    return result;
  }
  if (r.exit !== 0 || r.spawnError !== undefined) return result;

  const d = discoveredDeps(w, r.output, w.depfile !== '' ? path.resolve(w.cwd, w.depfile) : undefined, w.cwd);
  result.output = d.output;
  result.deps = d.deps;
  if (d.depsError !== undefined) result.depsError = d.depsError;
  if (d.unknownType) return result;
  // With `deps = gcc` Ninja moves the dependencies into its log and deletes the depfile.
  if (w.deps === 'gcc' && d.read && !keep.depfile) fs.rmSync(path.resolve(w.cwd, w.depfile), { force: true });
  if (rsp !== undefined && !keep.rsp) fs.rmSync(rsp, { force: true });

  const outputs: Record<string, FileState | null> = {};
  w.outs.forEach((o, i) => {
    outputs[o] = writtenState(abs[i]!) ?? null;
  });
  result.outputs = outputs;
  return result;
}
