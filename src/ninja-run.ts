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

export async function runCmd(w: CmdWork, ctx: Pick<TaskContext, 'signal' | 'wait'>): Promise<CmdResult> {
  for (const o of w.outs) fs.mkdirSync(path.dirname(path.resolve(w.cwd, o)), { recursive: true });
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
  if (r.exit !== 0 || r.spawnError !== undefined) return result;

  // Ninja knows no other deps types: it stops the build once such an edge has run.
  if (w.deps !== '' && w.deps !== 'gcc' && w.deps !== 'msvc') {
    result.depsError = `unknown deps type '${w.deps}'`;
    return result;
  }
  if (w.deps === 'msvc') {
    const s = parseShowIncludes(r.output, w.msvcPrefix || undefined);
    result.output = s.rest;
    result.deps = s.deps.map((d) => depKey(d, w.cwd));
  } else if (w.depfile !== '') {
    const df = path.resolve(w.cwd, w.depfile);
    let text: string | undefined;
    try {
      text = fs.readFileSync(df, 'utf8');
    } catch (e) {
      // Ninja treats a missing depfile as having no dependencies.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') result.depsError = `loading '${w.depfile}': ${(e as Error).message}`;
    }
    if (text !== undefined) {
      try {
        result.deps = parseDepfile(text).ins.map((d) => depKey(d, w.cwd));
      } catch (e) {
        result.depsError = `${w.depfile}: ${(e as Error).message}`;
      }
      // With `deps = gcc` Ninja moves the dependencies into its log and deletes the depfile.
      if (w.deps === 'gcc') fs.rmSync(df, { force: true });
    }
  }
  if (rsp !== undefined) fs.rmSync(rsp, { force: true });

  const outputs: Record<string, FileState | null> = {};
  for (const o of w.outs) outputs[o] = writtenState(path.resolve(w.cwd, o)) ?? null;
  result.outputs = outputs;
  return result;
}
