// Running a command for a rule: captured output (stdout and stderr interleaved, as Ninja shows
// them), timing, and cancellation that reaches the whole process tree. Each command gets its own
// process group so that Ctrl-C stops everything B started even when the command forks, and a
// stopped build never leaves orphans behind.

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { NOT_STARTED, Spawner, fastSpawner, killSpawned, spawnedCount } from './spawner.ts';
import type { ExecRequest, ExecResult } from './messages.ts';

export type { ExecRequest, ExecResult };

const running = new Set<ChildProcess>();
const GRACE_MS = 2000;

function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    if (process.platform !== 'win32') process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Stops every command this thread started: SIGTERM now, SIGKILL after a grace period. */
export function killAll(): void {
  for (const c of running) {
    killTree(c, 'SIGTERM');
    const t = setTimeout(() => killTree(c, 'SIGKILL'), GRACE_MS);
    t.unref();
  }
  killSpawned(); // the helpers escalate to SIGKILL themselves
}

export function runningCount(): number {
  return running.size + spawnedCount();
}

/**
 * The signal a stopped build sends its commands: the one B received (the AbortSignal's reason,
 * set by cmd-build.ts), as ninja's SubprocessSet::Clear forwards it; SIGTERM otherwise.
 */
export function stopSignal(signal: AbortSignal | undefined): 'SIGINT' | 'SIGTERM' | 'SIGHUP' {
  const r: unknown = signal?.reason;
  return r === 'SIGINT' || r === 'SIGHUP' ? r : 'SIGTERM';
}

/**
 * Runs a command: through this thread's spawn helper where there is one (spawner.ts: a fork
 * from this big process costs milliseconds and blocks the thread), else directly.
 */
export async function execCommand(req: ExecRequest, signal?: AbortSignal): Promise<ExecResult> {
  // No shared slots in a build in the calling thread (build-local.ts): no turn for them.
  if (slots !== undefined) await slots.acquire();
  try {
    if (signal?.aborted) return await execDirect(req, signal);
    const helper = fastSpawner(req);
    const fast = helper?.run(req);
    if (helper !== undefined && fast !== undefined) {
      const onAbort = (): void => helper.kill(fast.id, stopSignal(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      let r: ExecResult | typeof NOT_STARTED;
      try {
        r = await fast.done; // not .finally(): that was two promises and turns more per command
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
      if (r !== NOT_STARTED) return r;
    }
    const sp = req.console ? undefined : Spawner.get();
    if (sp === undefined) return await execDirect(req, signal);
    const { id, done } = sp.run(req);
    const onAbort = (): void => sp.kill(id); // the helper stops it as execDirect does here
    signal?.addEventListener('abort', onAbort, { once: true });
    let r: ExecResult | typeof NOT_STARTED;
    try {
      r = await done;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return r === NOT_STARTED ? await execDirect(req, signal) : r;
  } finally {
    slots?.release();
  }
}

/**
 * The node's command slots (`b node --jobs`, `b build -j`), shared by all its worker threads:
 * since a worker runs other items while its commands run, threads no longer bound commands.
 * An Int32Array on a SharedArrayBuffer: [in use, limit]; waiting is Atomics.waitAsync, so a
 * worker waiting for a slot still serves its other tasks.
 */
class CommandSlots {
  private readonly a: Int32Array;
  constructor(buf: SharedArrayBuffer) {
    this.a = new Int32Array(buf);
  }

  async acquire(): Promise<void> {
    for (;;) {
      const used = Atomics.load(this.a, 0);
      if (used < Atomics.load(this.a, 1)) {
        if (Atomics.compareExchange(this.a, 0, used, used + 1) === used) return;
        continue;
      }
      const w = Atomics.waitAsync(this.a, 0, used);
      if (w.async) await w.value;
    }
  }

  release(): void {
    Atomics.sub(this.a, 0, 1);
    Atomics.notify(this.a, 0, 1);
  }
}

let slots: CommandSlots | undefined;

/** Bounds this thread's commands by the node's shared slots (see newCommandSlots). */
export function useCommandSlots(buf: SharedArrayBuffer | undefined): void {
  slots = buf !== undefined ? new CommandSlots(buf) : undefined;
}

/** The shared state of `limit` command slots, for useCommandSlots in every worker. */
export function newCommandSlots(limit: number): SharedArrayBuffer {
  const buf = new SharedArrayBuffer(8);
  const a = new Int32Array(buf);
  a[1] = limit;
  return buf;
}

/** Starts the command from this process (and, in the spawn helper, from that one). */
export function execDirect(req: ExecRequest, signal?: AbortSignal): Promise<ExecResult> {
  return new Promise((resolve) => {
    const start = Date.now();
    const max = req.maxOutput ?? 4 * 1024 * 1024;
    const env = req.env ? { ...process.env, ...req.env } : process.env;
    let child: ChildProcess;
    const detached = process.platform !== 'win32' && !req.console;
    const stdio: StdioOptions = req.console ? 'inherit' : ['ignore', 'pipe', 'pipe'];
    try {
      if (req.argv !== undefined) {
        const [file, ...args] = req.argv;
        if (file === undefined) throw new Error('empty command');
        child = spawn(file, args, { cwd: req.cwd, env, stdio, detached });
      } else if (req.shell !== undefined) {
        const win = process.platform === 'win32';
        child = spawn(win ? 'cmd.exe' : '/bin/sh', win ? ['/d', '/s', '/c', req.shell] : ['-c', req.shell], {
          cwd: req.cwd,
          env,
          stdio,
          detached,
          windowsVerbatimArguments: win,
        });
      } else {
        throw new Error('exec request has neither shell nor argv');
      }
    } catch (e) {
      resolve({ exit: -1, output: '', start, end: Date.now(), spawnError: (e as Error).message });
      return;
    }
    running.add(child);
    const chunks: Buffer[] = [];
    let size = 0;
    let elided = 0;
    const take = (b: Buffer): void => {
      if (size + b.length <= max) {
        chunks.push(b);
        size += b.length;
      } else {
        elided += b.length;
      }
    };
    const out: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => {
      take(b);
      if (req.splitStdout) out.push(b);
    });
    child.stderr?.on('data', take);
    let spawnError: string | undefined;
    child.on('error', (e) => {
      spawnError = e.message;
    });
    const onAbort = (): void => {
      killTree(child, stopSignal(signal));
      setTimeout(() => killTree(child, 'SIGKILL'), GRACE_MS).unref();
    };
    if (signal) {
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
    child.on('close', (code, sig) => {
      running.delete(child);
      signal?.removeEventListener('abort', onAbort);
      let output = Buffer.concat(chunks).toString('utf8');
      if (elided > 0) output += `\n[b: ${elided} more bytes of output elided]\n`;
      const r: ExecResult = { exit: code ?? -1, output, start, end: Date.now() };
      if (req.splitStdout) r.stdout = Buffer.concat(out).toString('utf8');
      if (sig) r.signal = sig;
      if (spawnError !== undefined) r.spawnError = spawnError;
      resolve(r);
    });
  });
}
