// Fencing, node side: a Ninja edge's command for a client whose files this node sees (shared
// filesystem) runs so that an attempt the client gave up on can never write into its tree.
//
// The problem: the client declares a node dead when it stops answering (SIGSTOP, a network cut)
// and runs the item again elsewhere; the node's command may still be running, or resume later,
// and write its output on top of the result the client accepted. Ids on results already keep a
// late *answer* out (peers.ts); the files need the same fence.
//
// Why an overlay, and no "accept" message: the node could write to temp names and rename them
// into place when the client says it accepted the attempt, but a node can be stopped between that
// message and its rename and be declared dead again: the same race one step later. Only the
// client can place bytes safely, so the node never writes in the client's tree at all: the build
// root is overlaid (sandbox.ts fencedArgv) with an upper layer in the attempt's sandbox, the
// command reads the client's files at their own paths (no rewriting, identical objects, any
// command, not only compiles), and what it writes lands in the sandbox. The declared outputs go
// into the node's store and come back as digests; the client fetches them, verified, only for an
// attempt it accepted (ninja-build.ts), exactly as for self-contained items (rexec.ts). A late
// write of a dead attempt lands in a sandbox nobody reads, removed with it (or at the node's next
// start, sweepWork). Sending shared-filesystem items as self-contained ones instead would fence
// too, but only compiles can be made self-contained: links and custom commands would stop
// running on nodes at all.
//
// What the overlay does not cover: writes outside the build root (a command writing into the
// source tree or /tmp), and files the command writes that the edge does not declare (they stay
// in the sandbox, as they would on a node without the files). An edge whose outputs, depfile or
// rspfile lie outside the root, or whose outputs are not regular files, is not run here: the
// result says so and the client runs it itself.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { execCommand } from './exec.ts';
import { cacheDir, ensurePrivateDir } from './cachedir.ts';
import { discoveredDeps } from './ninja-run.ts';
import { nodeCas } from './rexec.ts';
import { FENCE_FAILED, fencedArgv, fenceSupport, overlayable, removeSandbox } from './sandbox.ts';
import { WorkerFailure, type TaskContext } from './task-context.ts';
import type { FencedResult, FencedWork } from './messages.ts';

/** `p` relative to the root, or undefined when it is the root itself or outside it. */
export function under(root: string, p: string): string | undefined {
  const rel = path.relative(root, path.resolve(root, p));
  return rel === '' || rel.startsWith('..') || path.isAbsolute(rel) ? undefined : rel;
}

/**
 * A path as an attempt sees it, read from outside its namespace: in the upper layer where the
 * attempt wrote it, else the client's file as it is (left alone, as `restat` allows); undefined
 * when the attempt deleted it or a directory above it (a whiteout: a character device 0/0).
 * Paths outside the root are not overlaid and read as they are. Not seen: a directory the
 * attempt removed and made again (overlayfs marks it opaque by an xattr, not read here), whose
 * old entries would read as the client's.
 */
export function mergedPath(root: string, upper: string, p: string): string | undefined {
  const rel = under(root, p);
  if (rel === undefined) return path.resolve(root, p);
  const parts = rel.split(path.sep);
  for (let i = 1; i <= parts.length; i++) {
    const st = fs.lstatSync(path.join(upper, ...parts.slice(0, i)), { throwIfNoEntry: false });
    if (st === undefined) return path.join(root, rel);
    if (st.isCharacterDevice() && st.rdev === 0) return undefined;
    if (!st.isDirectory()) return i === parts.length ? path.join(upper, rel) : path.join(root, rel);
  }
  return path.join(upper, rel);
}

function refused(why: string): FencedResult {
  return { exit: -1, output: '', outputs: [], deps: [], unfenceable: why };
}

export async function runFenced(w: FencedWork, ctx: TaskContext): Promise<FencedResult> {
  const fence = fenceSupport(path.join(cacheDir(), 'work'));
  if (!fence.ok) return refused(`this node cannot fence commands (${fence.why})`);
  const root = w.cwd;
  if (!overlayable(root)) return refused(`the build root ${root} cannot be overlaid (a relative path, or one with , : or \\)`);
  for (const p of [...w.outs, ...(w.depfile !== '' ? [w.depfile] : []), ...(w.rspfile !== '' ? [w.rspfile] : [])]) {
    if (under(root, p) === undefined) return refused(`${p} is outside the build root ${root}`);
  }
  try {
    return await inOverlay(w, ctx, root);
  } catch (e) {
    // As runRexec: a failed system call here is the node's fault, not the build's.
    const err = e as NodeJS.ErrnoException;
    if (typeof err.code === 'string' && typeof err.syscall === 'string') {
      throw new WorkerFailure({ code: 'node.unhealthy', message: `node infrastructure error: ${err.message}`, hint: 'free space in the node\'s cache directory (B_CACHE_DIR) or fix its disk' });
    }
    throw e;
  }
}

async function inOverlay(w: FencedWork, ctx: TaskContext, root: string): Promise<FencedResult> {
  const store = nodeCas();
  const workRoot = path.join(cacheDir(), 'work');
  ensurePrivateDir(workRoot);
  // Named as rexec sandboxes are (pid first): sweepWork removes those of a killed node.
  const sandbox = fs.mkdtempSync(path.join(workRoot, `${process.pid}-${ctx.task}-`));
  const upper = path.join(sandbox, 'upper');
  try {
    for (const d of ['upper', 'ovl', '.tmp']) fs.mkdirSync(path.join(sandbox, d));
    // Directories made in the upper layer appear in the merged tree: Ninja creates output (and
    // depfile) directories before the command; here they exist only for this attempt.
    for (const o of [...w.outs, ...(w.depfile !== '' ? [w.depfile] : [])]) {
      fs.mkdirSync(path.dirname(path.join(upper, under(root, o)!)), { recursive: true });
    }
    if (w.rspfile !== '') {
      const rsp = path.join(upper, under(root, w.rspfile)!);
      fs.mkdirSync(path.dirname(rsp), { recursive: true });
      fs.writeFileSync(rsp, w.rspfileContent);
    }
    const r = await ctx.wait(execCommand({ argv: fencedArgv(cacheDir(), sandbox, root, w.cmd), cwd: root, env: { TMPDIR: path.join(sandbox, '.tmp') } }, ctx.signal));
    if (r.exit === FENCE_FAILED && r.output.includes('b-fence: cannot overlay')) return refused(r.output.trim().split('\n').slice(-3).join('; '));
    const result: FencedResult = { exit: r.exit, output: r.output, outputs: [], deps: [] };
    if (r.signal) result.signal = r.signal;
    if (r.spawnError !== undefined) result.spawnError = r.spawnError;
    if (r.exit !== 0 || r.spawnError !== undefined) return result;

    // The merged view, read from outside the namespace: the upper layer where the command wrote,
    // else the client's file as it is (an output the command left alone, as `restat` allows).
    const merged = (p: string): string | undefined => mergedPath(root, upper, p);
    const d = discoveredDeps(w, r.output, w.depfile !== '' ? merged(w.depfile) : undefined, root);
    result.output = d.output;
    result.deps = d.deps;
    if (d.depsError !== undefined) result.depsError = d.depsError;
    if (d.unknownType) return result;
    // `deps = gcc` deletes the depfile: it is in the sandbox, removed with it.
    for (const o of w.outs) {
      const p = merged(o);
      const abs = path.resolve(root, o);
      const st = p === undefined ? undefined : fs.lstatSync(p, { throwIfNoEntry: false });
      if (st === undefined) {
        result.outputs.push({ path: abs, digest: null, size: 0, mode: 0 });
        continue;
      }
      if (!st.isFile()) return refused(`output ${o} is not a regular file (a fenced result carries files only)`);
      const put = store.putFile(p!);
      result.outputs.push({ path: abs, digest: put.hex, size: put.size, mode: st.mode & 0o777 });
    }
    return result;
  } finally {
    removeSandbox(sandbox);
  }
}
