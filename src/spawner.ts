// The spawn helper: a small child process that starts commands for a worker thread.
//
// Why: on Linux libuv starts a process with fork(), which copies the page tables of the whole
// parent, and it does so synchronously on the calling thread. A build node holds the engine, the
// database and several V8 heaps (hundreds of MB), so each spawn blocked its worker for ~2.6 ms on
// a 4,000-edge build and more on bigger ones (measured: half of each worker's time went to
// `spawn` itself; the commands ran for the rest). The helper forks from a process of a few tens
// of MB, and asking it is a write to a pipe, so workers keep going while it starts commands.
//
// Protocol (one JSON object per line): requests {id, file, args, cwd, env?, split, max} and
// {kill: id, signal}; replies {id, exit, signal?, output, stdout?, start, end, spawnError?}.
// The helper ignores Ctrl-C (B stops commands itself, through it) and, when its stdin closes
// (B exited, however it died), stops every command it started and exits: no orphans.
//
// Used where B runs as its own executable or as `node b.cjs`; under Deno, on Windows, for
// console jobs, or when B_SPAWNER=0, commands are spawned directly (exec.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { ExecResult } from './exec.ts';

export interface SpawnRequest {
  id: number;
  file: string;
  args: string[];
  cwd: string | undefined;
  /** Extra environment on top of the helper's (which is the worker's, from when it started). */
  env?: Record<string, string>;
  split: boolean;
  max: number;
}

interface Reply extends ExecResult {
  id: number;
}

const GRACE_MS = 2000;

// ------------------------------------------------------------------------------------------
// The helper process.

/** Runs the helper: `B_SPAWNER=1 b` (main.ts calls this before anything else). */
export function serveSpawner(): void {
  delete process.env.B_SPAWNER;
  process.on('SIGINT', () => {});
  const children = new Map<number, ChildProcess>();
  const reply = (r: Reply): void => {
    process.stdout.write(JSON.stringify(r) + '\n');
  };
  const killGroup = (c: ChildProcess, signal: NodeJS.Signals): void => {
    if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
    try {
      process.kill(-c.pid, signal);
    } catch {
      try {
        c.kill(signal);
      } catch {
        // already gone
      }
    }
  };
  const run = (q: SpawnRequest): void => {
    const start = Date.now();
    let c: ChildProcess;
    try {
      c = spawn(q.file, q.args, { cwd: q.cwd, env: q.env ? { ...process.env, ...q.env } : process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    } catch (e) {
      reply({ id: q.id, exit: -1, output: '', start, end: Date.now(), spawnError: (e as Error).message });
      return;
    }
    children.set(q.id, c);
    const chunks: Buffer[] = [];
    const out: Buffer[] = [];
    let size = 0;
    let elided = 0;
    const take = (b: Buffer): void => {
      if (size + b.length <= q.max) {
        chunks.push(b);
        size += b.length;
      } else elided += b.length;
    };
    c.stdout?.on('data', (b: Buffer) => {
      take(b);
      if (q.split) out.push(b);
    });
    c.stderr?.on('data', take);
    let spawnError: string | undefined;
    c.on('error', (e) => (spawnError = e.message));
    c.on('close', (code, sig) => {
      children.delete(q.id);
      let output = Buffer.concat(chunks).toString('utf8');
      if (elided > 0) output += `\n[b: ${elided} more bytes of output elided]\n`;
      const r: Reply = { id: q.id, exit: code ?? -1, output, start, end: Date.now() };
      if (q.split) r.stdout = Buffer.concat(out).toString('utf8');
      if (sig) r.signal = sig;
      if (spawnError !== undefined) r.spawnError = spawnError;
      reply(r);
    });
  };
  reply({ id: 0, exit: 0, output: '', start: 0, end: 0 }); // ready
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let m: SpawnRequest | { kill: number; signal: NodeJS.Signals };
      try {
        m = JSON.parse(line) as typeof m;
      } catch {
        continue;
      }
      if ('kill' in m) {
        const c = children.get(m.kill);
        if (c !== undefined) killGroup(c, m.signal);
      } else run(m);
    }
  });
  process.stdin.on('end', () => {
    // B is gone: stop what it started, then leave.
    for (const c of children.values()) killGroup(c, 'SIGTERM');
    const t = setTimeout(() => {
      for (const c of children.values()) killGroup(c, 'SIGKILL');
      process.exit(0);
    }, GRACE_MS);
    if (children.size === 0) {
      clearTimeout(t);
      process.exit(0);
    }
    t.unref();
    const check = setInterval(() => {
      if (children.size === 0) process.exit(0);
    }, 50);
    check.unref();
  });
}

// ------------------------------------------------------------------------------------------
// The worker side.

interface Pending {
  q: SpawnRequest;
  resolve: (r: ExecResult) => void;
}

export class Spawner {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private broken = false;
  /** The helper said it runs (until then commands start directly: no one waits for its boot). */
  private ready = false;

  private constructor(child: ChildProcess) {
    this.child = child;
    child.unref();
    let buf = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let r: Reply;
        try {
          r = JSON.parse(line) as Reply;
        } catch {
          continue;
        }
        if (r.id === 0) {
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
        p.resolve({ exit: -1, output: '', start: now, end: now, spawnError: `B's spawn helper (pid ${child.pid ?? '?'}) ${why} while this command ran; it was not retried, so that it cannot run twice: build again` });
      }
    };
    child.on('exit', (code, sig) => lost(sig ? `was killed by ${sig}` : `exited (${code ?? '?'})`));
    child.on('error', (e) => lost(`failed: ${e.message}`));
    child.stdin?.on('error', (e) => lost(`stopped reading: ${e.message}`));
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as { unref?: () => void } | null)?.unref?.();
  }

  /**
   * The helper of this thread when it is ready; undefined where it is not used, or not yet. It
   * starts at the thread's DIRECT_FIRST-th command: a small build (CMake's try_compile, one
   * edited file) spawns a few commands and would only pay for another process starting.
   */
  static get(): Spawner | undefined {
    if (current !== undefined) return current.broken || !current.ready ? undefined : current;
    if (unavailable || ++commands < DIRECT_FIRST) return undefined;
    const argv = selfArgv();
    if (argv === undefined || process.platform === 'win32' || process.env.B_SPAWNER === '0') {
      unavailable = true;
      return undefined;
    }
    try {
      const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, B_SPAWNER: '1' }, stdio: ['pipe', 'pipe', 'inherit'], detached: true });
      current = new Spawner(child);
      return undefined;
    } catch {
      unavailable = true;
      return undefined;
    }
  }

  /** The helper of this thread if it has one already (never starts one). */
  static existing(): Spawner | undefined {
    return current !== undefined && !current.broken ? current : undefined;
  }

  run(q: Omit<SpawnRequest, 'id'>): { id: number; done: Promise<ExecResult> } {
    const id = this.nextId++;
    const done = new Promise<ExecResult>((resolve) => {
      this.pending.set(id, { q: { ...q, id }, resolve });
    });
    this.child.stdin?.write(JSON.stringify({ ...q, id }) + '\n');
    return { id, done };
  }

  kill(id: number, signal: NodeJS.Signals): void {
    if (!this.pending.has(id) || this.broken) return;
    this.child.stdin?.write(JSON.stringify({ kill: id, signal }) + '\n');
  }

  killAll(signal: NodeJS.Signals): void {
    for (const id of this.pending.keys()) this.kill(id, signal);
  }

  get running(): number {
    return this.pending.size;
  }

  /** Closes the helper (it stops its commands and exits). */
  close(): void {
    this.broken = true;
    this.child.stdin?.end();
  }
}

let current: Spawner | undefined;
let unavailable = false;
let commands = 0;
const DIRECT_FIRST = 16;

/** Closes this thread's helper, if it started one (worker stopping). */
export function closeSpawner(): void {
  current?.close();
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
