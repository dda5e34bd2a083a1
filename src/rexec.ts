// Remote execution without a shared filesystem, node side: a self-contained work item (command,
// working directory, input files as content digests, declared outputs) runs in a private sandbox
// in the node's work directory. Missing input blobs are fetched from the client in chunks (through
// the worker's client socket, so they follow the same route as any question back to the build's
// origin), outputs go into the node's store and come back as blobs.
//
// Commands name the client's absolute paths (CMake writes them), so the client's project
// directories are recreated under the sandbox and the command is rewritten to point there; for
// gcc/clang `-ffile-prefix-map=SANDBOX=` makes paths the compiler embeds in its output the
// client's again, so objects are identical to a local build's. Depfile paths and the command's
// output text are mapped back before they leave the node. The node writes only in its sandbox
// and its store: input paths are normalized and must stay inside the sandbox.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { execCommand } from './exec.ts';
import { Cas, CHUNK } from './cas.ts';
import { parseDepfile, parseShowIncludes } from './depfile.ts';
import { cacheDir, ensurePrivateDir } from './cachedir.ts';
import type { TaskContext } from './task-context.ts';
import { INLINE_OUTPUT_MAX, INLINE_RESULT_MAX, parseBlobAnswer, type RexecInput, type RexecOutput, type RexecResult, type RexecWork, type CasGetWork, type CasGetResult } from './messages.ts';
import { isProtocolError } from './protocol.ts';
export type { RexecInput, RexecOutput, RexecResult, RexecWork };
import { isolatedArgv, isolation, removeSandbox } from './sandbox.ts';
import { WorkerFailure } from './task-context.ts';
import { withLinkTrace } from './rexec-link.ts';
import { isSystem } from './rexec-client.ts';
import { digestFile, digestHex } from './hash.ts';

let cas: Cas | undefined;
let lastMaintenance = 0;

export function nodeCas(): Cas {
  cas ??= new Cas();
  if (Date.now() - lastMaintenance > 60_000) {
    lastMaintenance = Date.now();
    try {
      cas.maintain();
    } catch {
      // maintenance is best effort; another worker may be doing it
    }
  }
  return cas;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Rewrites client paths under `roots` to the sandbox (longest roots first). A root is replaced
 * where a path starts: at the start, after a separator or quote, or glued to a flag (`-I/x`).
 */
export function relocate(text: string, roots: string[], sandbox: string): string {
  let out = text;
  for (const r of [...roots].sort((a, b) => b.length - a.length)) {
    out = out.replace(new RegExp(`(^|[\\s'"=:,(]|-[A-Za-z_]+)${escapeRe(r)}(?=$|[/\\s'";:,=)])`, 'g'), (_m, pre: string) => `${pre}${sandbox}${r}`);
  }
  return out;
}

/** A path inside the sandbox for a client path; refuses anything that would escape it. */
export function inSandbox(sandbox: string, clientPath: string): string {
  if (!path.isAbsolute(clientPath)) throw new Error(`not an absolute path: ${clientPath}`);
  const p = path.join(sandbox, path.normalize(clientPath));
  if (p !== sandbox && !p.startsWith(sandbox + path.sep)) throw new Error(`path escapes the sandbox: ${clientPath}`);
  return p;
}

async function fetchBlob(ctx: TaskContext, store: Cas, input: RexecInput): Promise<number> {
  const w = store.writer(input.digest);
  try {
    for (let off = 0; off < input.size || (off === 0 && input.size === 0); off += CHUNK) {
      const buf = await ctx.need({ op: 'blob', task: ctx.task, digest: input.digest, offset: off, length: Math.min(CHUNK, input.size - off) });
      const data = Buffer.from(blobData(buf), 'base64');
      w.write(data);
      if (input.size === 0) break;
    }
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
  return input.size;
}

export async function runRexec(w: RexecWork, ctx: TaskContext): Promise<RexecResult> {
  try {
    return await runInSandbox(w, ctx);
  } catch (e) {
    // A system call that failed on this node (its disk is full, its store unwritable, out of
    // file descriptors...) is the node's fault, not the build's: the client runs the item
    // elsewhere or locally and stops sending here for a while (peers.ts, 'node.unhealthy').
    const err = e as NodeJS.ErrnoException;
    if (typeof err.code === 'string' && typeof err.syscall === 'string') {
      throw new WorkerFailure({ code: 'node.unhealthy', message: `node infrastructure error: ${err.message}`, hint: 'free space in the node\'s cache directory (B_CACHE_DIR) or fix its disk' });
    }
    throw e;
  }
}

/** Sandboxes of processes that are gone (a node killed mid-command): removed at node start. */
export function sweepWork(): number {
  const workRoot = path.join(cacheDir(), 'work');
  let names: string[];
  try {
    names = fs.readdirSync(workRoot);
  } catch {
    return 0;
  }
  let swept = 0;
  for (const n of names) {
    const pid = Number(n.split('-')[0]);
    if (pid === process.pid && Number.isInteger(pid)) continue;
    if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) continue;
    removeSandbox(path.join(workRoot, n));
    swept++;
  }
  return swept;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function runInSandbox(w: RexecWork, ctx: TaskContext): Promise<RexecResult> {
  const t0 = Date.now();
  const store = nodeCas();
  const workRoot = path.join(cacheDir(), 'work');
  ensurePrivateDir(workRoot);
  const sandbox = fs.mkdtempSync(path.join(workRoot, `${process.pid}-${ctx.task}-`));
  try {
    // Inputs this node lacks, a few at a time.
    const fetchAll = async (inputs: RexecInput[]): Promise<number> => {
      const missing = inputs.filter((i, k) => !store.has(i.digest) && inputs.findIndex((j) => j.digest === i.digest) === k);
      let n = 0;
      for (let k = 0; k < missing.length; k += 8) {
        const sizes = await Promise.all(missing.slice(k, k + 8).map((i) => fetchBlob(ctx, store, i)));
        n += sizes.reduce((a, b) => a + b, 0);
      }
      return n;
    };
    let fetched = await fetchAll(w.inputs);
    for (const i of w.inputs) {
      const dst = inSandbox(sandbox, i.path);
      fs.mkdirSync(path.dirname(dst), { recursive: true });
      // A verified copy, never a link: a command that writes to an input must not change the
      // store, and a blob changed in the store since it was stored is fetched again.
      if (!store.materialize(i.digest, dst, i.exec ? 0o755 : 0o644)) {
        fetched += await fetchAll([i]);
        if (!store.materialize(i.digest, dst, i.exec ? 0o755 : 0o644)) throw new Error(`input ${i.path} (blob ${i.digest.slice(0, 12)}) does not match its digest`);
      }
    }
    for (const o of w.outputs) fs.mkdirSync(path.dirname(inSandbox(sandbox, o)), { recursive: true });
    const cwd = inSandbox(sandbox, w.cwd);
    fs.mkdirSync(cwd, { recursive: true });
    let cmd = relocate(w.cmd, w.roots, sandbox);
    // Right after the compiler: gcc applies the last matching map, so a project's own
    // -ffile-prefix-map (relocated above, `-ffile-prefix-map=SANDBOX/src=.`) still wins for the
    // paths it names, as it does in a local build (appended, ours made every object name the
    // client's absolute source path, and objects differed between checkouts).
    // The compile is the line's last part (a Bfile's `mkdir -p obj && cc ...`; a Ninja compile is
    // one part), so the map goes after that part's program.
    if (w.prefixMap) cmd = withAfterLastProgram(cmd, ` -ffile-prefix-map=${sandbox}=`);
    // A link names the files it read (rexec-link.ts): the system's must be the client's too.
    const trace = path.join(sandbox, '.tmp', 'b-link.d');
    if (w.link === true) cmd = withLinkTrace(cmd, trace) ?? cmd;
    if (w.rspfile !== '') fs.writeFileSync(inSandbox(sandbox, w.rspfile), relocate(w.rspfileContent, w.roots, sandbox));
    const tmpDir = path.join(sandbox, '.tmp');
    fs.mkdirSync(tmpDir);
    // The declared environment the client's cache keys on (node-cache.ts) is the command's too, and
    // a Bfile run()'s own env on top.
    const env = { ...(w.cache?.env ?? {}), ...(w.env ?? {}), TMPDIR: tmpDir };
    const split = w.stdout === true ? { splitStdout: true } : {};
    const r = await ctx.wait(execCommand(isolation().kind === 'namespaces' ? { argv: isolatedArgv(cacheDir(), sandbox, cmd), cwd, env, ...split } : { shell: cmd, cwd, env, ...split }, ctx.signal));
    const back = (s: string): string => s.split(sandbox).join('');
    const result: RexecResult = { exit: r.exit, output: back(r.output), outputs: [], deps: [], fetched, ms: Date.now() - t0 };
    if (w.stdout === true) result.stdout = back(r.stdout ?? '');
    if (r.signal) result.signal = r.signal;
    if (r.spawnError !== undefined) result.spawnError = r.spawnError;
    if (r.exit !== 0 || r.spawnError !== undefined) return result;
    if (w.link === true) {
      // A path the node rewrote (an -rpath rexec-link.ts did not catch) written into the binary
      // would make it differ from the client's: such a link is the client's to run.
      const leaked = w.outputs.find((o) => {
        try {
          return fs.readFileSync(inSandbox(sandbox, o)).includes(sandbox);
        } catch {
          return false;
        }
      });
      if (leaked !== undefined) return { ...result, exit: 1, spawnError: `the link wrote the node's sandbox path into ${leaked}; it runs on the client` };
      const read = linkRead(trace, cwd, back, w.inputs);
      if (read !== undefined) {
        result.deps = read.deps;
        result.depDigests = read.digests;
      }
    } else if (w.deps === 'msvc') {
      const s = parseShowIncludes(r.output, w.msvcPrefix || undefined);
      result.output = back(s.rest);
      result.deps = s.deps.map(back);
    } else if (w.depfile !== '') {
      try {
        result.deps = parseDepfile(fs.readFileSync(inSandbox(sandbox, w.depfile), 'utf8')).ins.map((d) => back(path.resolve(cwd, d)));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    let inlined = 0;
    for (const o of w.outputs) {
      const p = inSandbox(sandbox, o);
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(p);
      } catch {
        st = undefined;
      }
      if (st === undefined || !st.isFile()) {
        result.outputs.push({ path: o, digest: null, size: 0, mode: 0 });
        continue;
      }
      const put = store.putFile(p);
      const rec: RexecOutput = { path: o, digest: put.hex, size: put.size, mode: st.mode & 0o777 };
      // Small outputs ride in the result: the client's cas-get per output was a round trip and
      // ~0.3 ms of its CPU per action (scripts/bench-client-cpu.ts). Still in the store, for relays' misses and the cache.
      if (w.inline === true && put.size <= INLINE_OUTPUT_MAX && inlined + put.size <= INLINE_RESULT_MAX) {
        const bytes = fs.readFileSync(p);
        if (bytes.length === put.size) {
          rec.data = bytes.toString('base64');
          inlined += put.size;
        }
      }
      result.outputs.push(rec);
    }
    return result;
  } finally {
    fs.rmSync(sandbox, { recursive: true, force: true });
  }
}

/**
 * The files a link read (its `-Wl,--dependency-file`), as client paths, each with the digest of
 * the bytes it read: a shipped input's, or a system file's hashed now (null for anything else);
 * undefined if the linker wrote no such file (one without the option fails the link instead).
 */
function linkRead(trace: string, cwd: string, back: (s: string) => string, inputs: RexecInput[]): { deps: string[]; digests: (string | null)[] } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(trace, 'utf8');
  } catch {
    return undefined;
  }
  const shipped = new Map(inputs.map((i) => [i.path, i.digest]));
  const deps = [...new Set(parseDepfile(text).ins.map((d) => back(path.resolve(cwd, d))))];
  const digests = deps.map((d) => {
    const s = shipped.get(d);
    if (s !== undefined) return s;
    if (!isSystem(d)) return null;
    try {
      return digestHex(digestFile(d));
    } catch {
      return null;
    }
  });
  return { deps, digests };
}

/** Serves part of a blob from this node's store (a client fetching outputs). */
/** The bytes of a blob answer, decoded once and validated (the client may be hostile). */
function blobData(buf: Buffer): string {
  const a = parseBlobAnswer(buf);
  if (isProtocolError(a)) throw new Error(`malformed blob answer: ${a.message}`);
  return a.data;
}

export function casGet(w: CasGetWork): CasGetResult {
  return { data: nodeCas().read(w.digest, w.offset, Math.min(w.length, CHUNK)).toString('base64') };
}

/**
 * `cmd` with `text` inserted right after the program of its last part (parts split at `&&`, `||`,
 * `;` and newlines outside quotes).
 */
export function withAfterLastProgram(cmd: string, text: string): string {
  let start = 0;
  let q: string | undefined;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (q !== undefined) {
      if (c === q) q = undefined;
    } else if (c === "'" || c === '"') q = c;
    else if (c === ';' || c === '\n') start = i + 1;
    else if ((c === '&' || c === '|') && cmd[i + 1] === c) start = ++i + 1;
  }
  const m = /^\s*\S+/.exec(cmd.slice(start));
  if (m === null) return cmd;
  const at = start + m[0].length;
  return cmd.slice(0, at) + text + cmd.slice(at);
}
