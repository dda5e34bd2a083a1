// Shared test helpers: uvu suites whose tests have timeouts and are counted for the summary
// line, the built `b` executable, child processes and temp dirs that are always cleaned up.

import { suite as uvuSuite } from 'uvu';
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const root = path.resolve(import.meta.dirname, '..');
const exeName = `b-${process.platform === 'darwin' ? 'macos' : process.platform === 'win32' ? 'win' : process.platform}-${process.arch}${process.platform === 'win32' ? '.exe' : ''}`;
/** The built single executable for this machine (npm test builds it first). */
export const B = process.env.B_EXE ?? path.join(root, 'dist', exeName);

export const tally = { passed: 0, failed: 0, skipped: 0 };
/** Milliseconds each suite's tests took, for the runner's slowest-files line (the suite must stay under 15 minutes). */
export const suiteMs = new Map<string, number>();

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
const cleanups = new Set<() => void | Promise<void>>();

export function onCleanup(f: () => void | Promise<void>): void {
  cleanups.add(f);
}

export async function cleanupAll(): Promise<void> {
  for (const c of children) killTree(c, 'SIGKILL');
  children.clear();
  for (const f of cleanups) {
    try {
      await f();
    } catch {
      // best effort: keep cleaning the rest
    }
  }
  cleanups.clear();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

process.on('exit', () => {
  for (const c of children) killTree(c, 'SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function killTree(c: ChildProcess, sig: NodeJS.Signals): void {
  if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  try {
    process.kill(-c.pid, sig);
  } catch {
    try {
      c.kill(sig);
    } catch {
      // gone
    }
  }
}

export interface TestOptions {
  /** ms; default 60 s */
  timeout?: number;
}

type Fn = () => Promise<void> | void;

/** A uvu suite whose tests time out and are counted. Call `.run()` at the end of the file. */
export function suite(name: string): {
  (title: string, fn: Fn, opts?: TestOptions): void;
  skip(title: string, why: string): void;
  after(fn: Fn): void;
  run(): void;
} {
  const s = uvuSuite(name);
  const t = (title: string, fn: Fn, opts: TestOptions = {}): void => {
    const ms = opts.timeout ?? 60_000;
    s(title, async () => {
      let timer: NodeJS.Timeout | undefined;
      const t0 = Date.now();
      try {
        await Promise.race([
          Promise.resolve().then(fn),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
          }),
        ]);
        tally.passed++;
      } catch (e) {
        tally.failed++;
        throw e;
      } finally {
        clearTimeout(timer);
        suiteMs.set(name, (suiteMs.get(name) ?? 0) + Date.now() - t0);
      }
    });
  };
  t.skip = (title: string, why: string): void => {
    tally.skipped++;
    process.stdout.write(`\n  SKIPPED ${name}: ${title}: ${why}\n`);
  };
  t.after = (fn: Fn): void => s.after(async () => {
    await fn();
  });
  t.run = (): void => s.run();
  return t;
}

/** A fresh temp dir, removed when the test run ends. */
export function tmp(prefix = 'b-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.add(d);
  return d;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions extends SpawnOptions {
  timeout?: number;
  input?: string;
}

/** Starts a process in its own process group, registered for cleanup. */
export function start(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, ...opts });
  children.add(c);
  c.on('exit', () => children.delete(c));
  return c;
}

/** Runs a command to completion (killed after `timeout` ms) and collects its output. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const c = start(cmd, args, opts);
    let stdout = '';
    let stderr = '';
    c.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    if (opts.input !== undefined) c.stdin?.end(opts.input);
    else c.stdin?.end();
    const ms = opts.timeout ?? 60_000;
    const timer = setTimeout(() => {
      killTree(c, 'SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out after ${ms} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, ms);
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs the built `b` executable. */
export function b(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(B, args, opts);
}

/** Waits until `f` returns a truthy value, polling; rejects after `ms`. */
export async function until<T>(f: () => T | Promise<T>, ms = 10_000, what = 'condition'): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Collects a child's stdout lines as they arrive. */
export function lines(c: ChildProcess): string[] {
  const out: string[] = [];
  let buf = '';
  c.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    out.push(...parts);
  });
  return out;
}

export function exited(c: ChildProcess, ms = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve({ code: c.exitCode, signal: c.signalCode });
    const timer = setTimeout(() => reject(new Error(`process ${c.pid} did not exit within ${ms} ms`)), ms);
    c.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** A `b node` on tcp loopback started by a test (startNode), with what it printed. */
export interface TestNode {
  proc: ChildProcess;
  /** The first endpoint it listens on. */
  endpoint: string;
  endpoints: string[];
  id: string;
  out: string[];
  err: () => string;
}

/** Starts `b node` on a free loopback port and waits until it listens. */
export async function startNode(args: string[] = [], env: Record<string, string> = {}): Promise<TestNode> {
  const proc = start(B, ['node', '--listen', 'tcp://127.0.0.1:*', '--heartbeat', '100', ...args], { env: { ...process.env, ...env } });
  const out = lines(proc);
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await until(() => out.some((l) => l.startsWith('listening on tcp://')), 30_000, `node start (${err})`);
  const endpoints = out.filter((l) => l.startsWith('listening on tcp://')).map((l) => l.slice('listening on '.length));
  return { proc, endpoint: endpoints[0]!, endpoints, id: /^node (\S+):/.exec(out[0] ?? '')?.[1] ?? '', out, err: () => err };
}

/** Stops a test's node (a frozen one too) the way a user does: Ctrl-C, twice. */
export async function stopNode(n: { proc: ChildProcess }): Promise<void> {
  if (n.proc.exitCode !== null || n.proc.signalCode !== null) return;
  n.proc.kill('SIGCONT');
  n.proc.kill('SIGINT');
  n.proc.kill('SIGINT');
  await exited(n.proc, 20_000);
}
