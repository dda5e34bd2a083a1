// Fencing, node side, for Bfile rules: a rule body run for a client whose files this node sees
// must not write into the client's tree either (fence.ts says why for Ninja commands: a node
// frozen and declared dead resumes later, and an accept message only moves the race).
//
// A rule body is JavaScript that runs in the node's worker; what it changes in the tree goes
// through its context: `run()` (commands) and `write()`. Those are the side effects fenced here:
// - `run()` runs its command as a fenced Ninja command does (sandbox.ts fencedArgv): the build
//   root overlaid, writes under it landing in the attempt's upper layer. The commands of one
//   rule share that layer, so a later command sees an earlier one's files, as in place.
// - `write()` writes into the upper layer directly (what the overlay would do on a copy-up).
// - `read()`, `needDepfile()` and the output check read the merged view (mergedPath): the upper
//   layer where the attempt wrote, else the client's file. A file the attempt wrote itself is
//   read without `need` (the client has no copy to answer for: it is the rule's own, no input).
// When the body returns, its declared outputs go to the node's store and come back as blobs; the
// client fetches them, verified, only for the attempt it accepted (bfile.ts complete). Anything
// else the rule wrote under the root stays in the sandbox, removed with it, as for a Ninja edge
// (undeclared writes never reach the client from a node: declare them, or the rule runs here).
//
// Commands of one rule run one at a time here: two overlay mounts sharing an upper layer at once
// are undefined behaviour in overlayfs (Linux warns, and refuses with `index=on`). A rule that
// starts commands in parallel (Promise.all of run()) loses that parallelism on a node, not its
// result. A rule that writes or runs a command outside the build root, where nothing overlays,
// is handed back (`unfenceable`) and the client runs it itself. Not fenced: what a body does
// with Node's own `fs` module instead of its context (a Bfile is the client's code, trusted by
// the node to run; it is the late write of a dead attempt through the rule API that is kept out).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheDir, ensurePrivateDir } from './cachedir.ts';
import { execCommand } from './exec.ts';
import { nodeCas } from './rexec.ts';
import { FENCE_FAILED, fencedArgv, fenceSupport, overlayable, removeSandbox } from './sandbox.ts';
import { mergedPath, under } from './fence.ts';
import type { ExecResult, RexecOutput } from './messages.ts';
import type { TaskContext } from './task-context.ts';

/** Thrown where a rule cannot be fenced: the node answers `unfenceable` and the client runs the rule. */
export class Unfenceable extends Error {}

/**
 * A system call of the fence itself failed (its sandbox or the store: a full disk, ...): the
 * node's fault, not the rule's, even when it happens inside a `write()` the body called; the
 * item fails as `node.unhealthy` and the client runs it elsewhere or itself.
 */
export class NodeFault extends Error {}

/** Runs a fence operation; a failed system call in it becomes a NodeFault. */
function infra<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (typeof err.code === 'string' && typeof err.syscall === 'string') throw new NodeFault(`node infrastructure error: ${err.message}`);
    throw e;
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export class RuleFence {
  readonly root: string;
  private readonly sandbox: string;
  private readonly upper: string;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(root: string, sandbox: string) {
    this.root = root;
    this.sandbox = sandbox;
    this.upper = path.join(sandbox, 'upper');
  }

  /** A fence for one attempt of a rule whose build root is `root`; throws Unfenceable when this node cannot fence. */
  static open(root: string, task: number): RuleFence {
    const workRoot = path.join(cacheDir(), 'work');
    const fence = fenceSupport(workRoot);
    if (!fence.ok) throw new Unfenceable(`this node cannot fence rules (${fence.why})`);
    if (!overlayable(root)) throw new Unfenceable(`the build root ${root} cannot be overlaid (a relative path, or one with , : or \\)`);
    return infra(() => {
      ensurePrivateDir(workRoot);
      // Named as other sandboxes are (pid first): sweepWork removes those of a killed node.
      const sandbox = fs.mkdtempSync(path.join(workRoot, `${process.pid}-${task}-`));
      try {
        for (const d of ['upper', 'ovl', '.tmp']) fs.mkdirSync(path.join(sandbox, d));
      } catch (e) {
        removeSandbox(sandbox);
        throw e;
      }
      return new RuleFence(root, sandbox);
    });
  }

  /** One side effect at a time (see the header: one overlay per upper layer). */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Runs a rule's command fenced: `cmd` a shell line or an argv, in `cwd` (inside the root). */
  run(cmd: string | string[], cwd: string, env: Record<string, string> | undefined, ctx: Pick<TaskContext, 'signal' | 'wait'>): Promise<ExecResult> {
    const rel = path.relative(this.root, cwd);
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new Unfenceable(`run() in ${cwd}, outside the build root ${this.root}`);
    const line = Array.isArray(cmd) ? cmd.map(shellQuote).join(' ') : cmd;
    // Started in the root and entering `cwd` inside the namespace: a directory an earlier command
    // of this rule made exists only in the overlay.
    const inner = rel === '' ? line : `cd ${shellQuote(rel)} && ${line}`;
    return this.serial(async () => {
      const r = await ctx.wait(execCommand({
        argv: fencedArgv(cacheDir(), this.sandbox, this.root, inner), cwd: this.root,
        env: { ...(env ?? {}), TMPDIR: path.join(this.sandbox, '.tmp') }, splitStdout: true,
      }, ctx.signal));
      if (r.exit === FENCE_FAILED && r.output.includes('b-fence: cannot overlay')) throw new Unfenceable(r.output.trim().split('\n').slice(-3).join('; '));
      return r;
    });
  }

  /** A rule's write(): into the attempt's upper layer. */
  write(abs: string, content: string | Uint8Array): Promise<void> {
    const rel = under(this.root, abs);
    if (rel === undefined) throw new Unfenceable(`write() of ${abs}, outside the build root ${this.root}`);
    return this.serial(async () => {
      const p = path.join(this.upper, rel);
      infra(() => {
        fs.mkdirSync(path.dirname(p), { recursive: true });
        fs.rmSync(p, { force: true }); // a whiteout left by a command that deleted it
        fs.writeFileSync(p, content);
      });
    });
  }

  /** Whether an error is this fence's (handing the rule back, or failing itself): never the rule's failure. */
  refuses(e: unknown): boolean {
    return e instanceof Unfenceable || e instanceof NodeFault;
  }

  /** Where to read `abs` as this attempt sees it; undefined if the attempt deleted it. */
  view(abs: string): string | undefined {
    return mergedPath(this.root, this.upper, abs);
  }

  /** Whether this attempt wrote `abs` (it reads from the upper layer). */
  wrote(abs: string): boolean {
    const p = this.view(abs);
    return p !== undefined && p.startsWith(this.upper + path.sep);
  }

  /**
   * The declared outputs as blobs in the node's store, after the body returned: each as the
   * attempt left it (digest null when it left none), or why it cannot be carried back.
   */
  async outputs(outs: string[]): Promise<RexecOutput[]> {
    return this.serial(async () => {
      const store = nodeCas();
      const r: RexecOutput[] = [];
      for (const o of outs) {
        const abs = path.resolve(this.root, o);
        if (under(this.root, abs) === undefined) throw new Unfenceable(`output ${o} is outside the build root ${this.root}`);
        const p = this.view(abs);
        const st = p === undefined ? undefined : fs.lstatSync(p, { throwIfNoEntry: false });
        if (st === undefined) {
          r.push({ path: abs, digest: null, size: 0, mode: 0 });
          continue;
        }
        if (!st.isFile()) throw new Unfenceable(`output ${o} is not a regular file (a fenced result carries files only)`);
        const put = infra(() => store.putFile(p!));
        r.push({ path: abs, digest: put.hex, size: put.size, mode: st.mode & 0o777 });
      }
      return r;
    });
  }

  /** Removes the sandbox once every side effect has settled (a late one lands nowhere). */
  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    removeSandbox(this.sandbox);
  }
}
