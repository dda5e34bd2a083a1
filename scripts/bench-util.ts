// What the benchmark scripts share: where the repository and the host's executable are, numeric
// and string options, and a scratch directory that is removed, with the processes a script
// started, on every way out (normal end, an error, Ctrl-C, SIGTERM).

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const root = path.resolve(import.meta.dirname, '..');
/** The executable `npm run build:host` makes for this machine. */
export const hostExe = path.join(root, 'dist', `b-${process.platform === 'darwin' ? 'macos' : process.platform}-${process.arch}`);

/**
 * The Python that times commands (getrusage of its children). Debian's, not a version manager's
 * shim: pyenv's shim runs its own subprocesses before it execs Python, and they are reaped by
 * the process that then becomes Python, so its RUSAGE_CHILDREN counted ~70 ms of pyenv in every
 * figure (`node -e 0` read 100 ms of CPU, ninja's serd no-op 59-86 ms instead of 3).
 */
export const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

const args = process.argv.slice(2);

/** `--name N` on the command line, or `def`. */
export function numOpt(name: string, def: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
}

/** `--name VALUE` on the command line, or undefined. */
export function strOpt(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/**
 * A fresh temp directory (`prefix` in its name) and a list of child processes: on exit the
 * processes are SIGKILLed and the directory removed; SIGINT and SIGTERM exit through that path.
 */
export function scratch(prefix: string): { dir: string; procs: ChildProcess[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const procs: ChildProcess[] = [];
  process.on('exit', () => {
    for (const p of procs) p.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => process.exit(130));
  return { dir, procs };
}

/**
 * A `b node` on loopback `port` in a private mount namespace where a tmpfs hides `hide` (it
 * cannot see the client's projects, as a node on another machine), its cache under `world`;
 * pushed on `procs` so the script's exit kills it. Resolves with its address once it listens.
 */
export async function startHiddenLoopbackNode(exe: string, hide: string, world: string, port: number, procs: ChildProcess[], extra: string[] = []): Promise<string> {
  const cache = path.join(world, `node-cache-${port}`);
  const script = `mount -t tmpfs none '${hide}' && exec '${exe}' node --workers 2 ${extra.join(' ')} --listen tcp://127.0.0.1:${port}`;
  const p = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { env: { ...process.env, B_CACHE_DIR: cache }, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  let out = '';
  p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 300 && !out.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 100));
  if (!out.includes('listening on')) throw new Error(`node did not start: ${out}`);
  return `tcp://127.0.0.1:${port}`;
}
