// The spawn helper, worker side: a small child process that starts commands for a worker thread
// (the helper itself is spawn-helper.ts).
//
// Why: on Linux libuv starts a process with fork(), which copies the page tables of the whole
// parent, and it does so synchronously on the calling thread. A build node holds the engine, the
// database and several V8 heaps (hundreds of MB), so each spawn blocked its worker for ~2.6 ms on
// a 4,000-edge build and more on bigger ones (measured: half of each worker's time went to
// `spawn` itself; the commands ran for the rest). The helper forks from a process of a few tens
// of MB, and asking it is a write to a pipe, so workers keep going while it starts commands.
//
// Protocol (one JSON object per line): requests {id, req: ExecRequest} and {kill: id}; replies
// {id, ...ExecResult}, and {id: 0} once when the helper is ready.
//
// Used where B runs as its own executable or as `node b.cjs`; under Deno, on Windows, for
// console jobs, or when B_SPAWNER=0, commands are spawned directly (exec.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { ExecRequest, ExecResult } from './messages.ts';
import { duplicateKey, isProtocolError, parseJson } from './protocol.ts';
import { NAME, TEXT, checkShape, int, num, opt, str, type Shape } from './shape.ts';
import { NOT_STARTED, PerlSpawner, closeHelper } from './spawn-perl.ts';

/** A command for the helper. Its `env` adds to the helper's (the worker's, when it started). */
export interface SpawnRequest {
  id: number;
  req: ExecRequest;
}

export type SpawnReply = ExecResult & { id: number };

export { NOT_STARTED };

// The Node helper's replies, declared once: the ready line, then one result per command.
const READY: Shape = { id: int(0, 0) };
const REPLY: Shape = {
  id: int(1),
  exit: int(-1, 2 ** 32),
  output: str(TEXT),
  start: num,
  end: num,
  signal: opt(str(NAME)),
  stdout: opt(str(TEXT)),
  spawnError: opt(str(TEXT)),
};

/**
 * Decodes one line of the Node helper (spawn-helper.ts): `{id: 0}` when it is ready, else a
 * command's result. A pipe to a child is a boundary like a socket: undefined for anything else,
 * an unknown field or a field given twice too, as shape.ts's decodeShape refuses them.
 */
export function decodeSpawnReply(line: string): SpawnReply | { id: 0 } | undefined {
  const v = parseJson(Buffer.from(line, 'utf8'));
  if (isProtocolError(v)) return undefined;
  const ready = typeof v === 'object' && v !== null && (v as { id?: unknown }).id === 0;
  if (checkShape(v, ready ? READY : REPLY, 'spawn helper reply') !== undefined || duplicateKey(line) !== undefined) return undefined;
  return v as SpawnReply | { id: 0 };
}

interface Pending {
  req: ExecRequest;
  resolve: (r: ExecResult) => void;
}

export class Spawner {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private broken = false;
  /**
   * The helper said it runs. Requests written before that wait in the pipe; if the helper dies
   * before it is ready it has read none of them, so they are started directly instead.
   */
  private ready = false;

  private constructor(child: ChildProcess) {
    this.child = child;
    child.unref();
    let buf = '';
    child.stdout?.setEncoding('utf8');
    // Every complete reply of one read in one pass: split once, keep the unfinished tail.
    child.stdout?.on('data', (d: string) => {
      const lines = (buf + d).split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') continue;
        const r = decodeSpawnReply(line);
        if (r === undefined) {
          // The helper is B's own code: a reply it cannot have sent is a bug, not a command's fault.
          lost(`sent a malformed reply (${JSON.stringify(line.slice(0, 200))}; this is a bug in B, please report it)`);
          child.kill('SIGKILL');
          return;
        }
        if (!('exit' in r)) {
          this.ready = true;
          continue;
        }
        const p = this.pending.get(r.id);
        if (p === undefined) continue;
        this.pending.delete(r.id);
        const { id: _id, ...result } = r;
        p.resolve(result);
      }
    });
    const lost = (why: string): void => {
      if (this.broken) return;
      this.broken = true;
      // What it had not answered fails rather than runs again: it may still be running, and a
      // command run twice at once could clobber its own outputs. Later commands start directly.
      const left = [...this.pending.values()];
      this.pending.clear();
      const now = Date.now();
      for (const p of left) {
        if (!this.ready) {
          p.resolve(NOT_STARTED);
          continue;
        }
        p.resolve({ exit: -1, output: '', start: now, end: now, spawnError: `B's spawn helper (pid ${child.pid ?? '?'}) ${why} while this command ran; it was not retried, so that it cannot run twice: build again` });
      }
    };
    child.on('exit', (code, sig) => lost(sig ? `was killed by ${sig}` : `exited (${code ?? '?'})`));
    child.on('error', (e) => lost(`failed: ${e.message}`));
    child.stdin?.on('error', (e) => lost(`stopped reading: ${e.message}`));
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as { unref?: () => void } | null)?.unref?.();
  }

  /**
   * This thread's helper, started on first use (workers start it when they start, so it is up
   * by their first command); undefined where it is not used. Every command goes through it, the
   * first one too: a command spawned directly is a child of B itself, and one that B's SIGKILL
   * leaves running would write its outputs during the next build.
   */
  static get(): Spawner | undefined {
    if (current !== undefined) return current.broken ? undefined : current;
    if (unavailable) return undefined;
    const argv = selfArgv();
    if (argv === undefined || process.platform === 'win32' || process.env.B_SPAWNER === '0') {
      unavailable = true;
      return undefined;
    }
    try {
      const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, B_SPAWNER: '1' }, stdio: ['pipe', 'pipe', 'inherit'], detached: true });
      current = new Spawner(child);
      return current;
    } catch {
      unavailable = true;
      return undefined;
    }
  }

  /** The helper of this thread if it has one already (never starts one). */
  static existing(): Spawner | undefined {
    return current !== undefined && !current.broken ? current : undefined;
  }

  run(req: ExecRequest): { id: number; done: Promise<ExecResult> } {
    const id = this.nextId++;
    const done = new Promise<ExecResult>((resolve) => this.pending.set(id, { req, resolve }));
    // As the Perl/Python helper's: a running command keeps this process alive, the helper does not.
    if (this.pending.size === 1) (this.child.stdout as { ref?: () => void } | null)?.ref?.();
    void done.then(() => {
      if (this.pending.size === 0) (this.child.stdout as { unref?: () => void } | null)?.unref?.();
    });
    this.child.stdin?.write(JSON.stringify({ id, req } satisfies SpawnRequest) + '\n');
    return { id, done };
  }

  /** Stops a command (SIGTERM, then SIGKILL after a grace period, as exec.ts does). */
  kill(id: number): void {
    if (!this.pending.has(id) || this.broken) return;
    this.child.stdin?.write(JSON.stringify({ kill: id }) + '\n');
  }

  killAll(): void {
    for (const id of this.pending.keys()) this.kill(id);
  }

  get running(): number {
    return this.pending.size;
  }

  /**
   * Closes the helper (it stops its commands and exits) and resolves once it has exited, or
   * after `ms`: B waits for its helpers, so no helper outlives a clean exit and their CPU time
   * (and their commands') shows in B's own resource usage, as a process tree's should.
   */
  close(ms = 3000): Promise<void> {
    this.broken = true;
    return closeHelper(this.child, ms);
  }
}

let current: Spawner | undefined;
let unavailable = false;
let perl: PerlSpawner | undefined;
let perlUnavailable = false;

/**
 * This thread's small helper for the requests it can run (spawn-perl.ts: a fork from a Node
 * process costs milliseconds; Python's posix_spawn on Linux, spawn-python.ts, or a fork from
 * Perl elsewhere, a fraction of one), started on first use; undefined where there is neither,
 * under Deno, or with B_SPAWNER=0 or B_SPAWNER=node.
 */
export function fastSpawner(req?: ExecRequest, prefer?: 'perl' | 'python'): PerlSpawner | undefined {
  // A console job never goes to a helper: known before one is started.
  if (req?.console === true) return undefined;
  const h = helper(prefer);
  return h !== undefined && (req === undefined || h.accepts(req)) ? h : undefined;
}

function helper(prefer?: 'perl' | 'python'): PerlSpawner | undefined {
  if (perl !== undefined) return perl.broken ? undefined : perl;
  if (perlUnavailable) return undefined;
  const mode = process.env.B_SPAWNER;
  if (mode === '0' || mode === 'node' || (globalThis as { Deno?: unknown }).Deno !== undefined) {
    perlUnavailable = true;
    return undefined;
  }
  perl = PerlSpawner.start(prefer);
  if (perl === undefined) perlUnavailable = true;
  return perl;
}

/**
 * Starts this thread's helper now (workers and local builds do, so it is up by their first
 * command). `prefer`: which script, where both can run (a handful of commands is better served
 * by Perl, which is up in ~2 ms; many by Python, whose spawns are cheaper).
 */
export function startSpawner(prefer?: 'perl' | 'python'): void {
  if (fastSpawner(undefined, prefer) === undefined) Spawner.get();
}

/** The helpers' running commands. */
export function spawnedCount(): number {
  return (current?.running ?? 0) + (perl?.running ?? 0);
}

/** Stops every command the helpers run (they escalate to SIGKILL). */
export function killSpawned(): void {
  current?.killAll();
  perl?.killAll();
}

/** Closes this thread's helpers, if it started any (worker stopping). */
export function closeSpawner(): Promise<void> {
  const closing = Promise.all([current?.close(), perl?.close()]);
  // A later build in this thread (ninja's manifest regeneration, then the build) starts new ones.
  perl = undefined;
  current = undefined;
  return closing.then(() => undefined);
}

/** How to start this program again: the executable itself, or node with the bundle. */
function selfArgv(): string[] | undefined {
  const exe = path.basename(process.execPath).toLowerCase();
  if ((globalThis as { Deno?: unknown }).Deno !== undefined || exe.startsWith('deno')) return undefined;
  if (/^node(\.exe)?$/.test(exe)) {
    const script = process.argv[1];
    // Only the bundle: running the TypeScript sources directly has no single entry to restart.
    return script !== undefined && /\.c?js$/.test(script) ? [process.execPath, script] : undefined;
  }
  return [process.execPath];
}
