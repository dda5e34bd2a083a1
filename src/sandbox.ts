// Tenants apart on a node: a command run for one client must not change the node's store or
// another client's sandbox (both live under the node's cache directory, writable by the node's
// user, which is also the user commands run as).
//
// Linux: each remote command runs in its own mount and PID namespace (util-linux `unshare`, in
// every Debian) where the whole cache directory is bind-mounted read-only and only the command's
// own sandbox is writable again, with a fresh /proc (without a PID namespace, /proc/<node
// pid>/root would lead back into the node's writable view of the store). This is sccache-dist's
// bubblewrap setup with nothing but `unshare` and `mount`. A node that is not root adds a user
// namespace (`unshare -r`) so that it may mount. Measured here: about 70 ms more per command
// (four processes: unshare, sh, mount x3) on a loaded 2-CPU machine, against 300+ ms compiles.
//
// Where that is unavailable (another OS, a kernel or container refusing namespaces) commands run
// unisolated, the node says so at start and in `b status`, and what still holds is that every
// blob is verified when it enters the store and again when it is copied into a sandbox.
//
// /tmp stays shared with the node's other commands (the compiler's temp files go to TMPDIR,
// which is set inside the sandbox).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Isolation {
  /** 'namespaces': store and other sandboxes read-only; 'none': commands run unisolated. */
  kind: 'namespaces' | 'none';
  /** For `b status` and the node's start-up line. */
  text: string;
}

// $1: the cache directory (read-only), $2: the sandbox (writable), $3: the command. `cd "$PWD"`
// re-enters the working directory through the new mounts (the old one is on the writable view).
const SCRIPT = 'mount -o bind,ro "$1" "$1" && mount --bind "$2" "$2" && mount -o remount,bind,rw "$2" && cd "$PWD" && exec /bin/sh -c "$3"';

function unshareArgs(): string[] {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  return ['-m', '-p', '-f', '--mount-proc', '--propagation', 'private', ...(root ? [] : ['-r']), '--'];
}

/** The argv that runs `cmd` with only `sandbox` writable under `cacheDir`. */
export function isolatedArgv(cacheDir: string, sandbox: string, cmd: string): string[] {
  return ['unshare', ...unshareArgs(), '/bin/sh', '-c', SCRIPT, 'b-sandbox', cacheDir, sandbox, cmd];
}

let probed: Isolation | undefined;

/**
 * What isolation commands get on this machine, found once per thread by trying it: a command in
 * a scratch sandbox must write there and fail to write beside it.
 */
export function isolation(): Isolation {
  if (probed !== undefined) return probed;
  if (process.platform !== 'linux') {
    probed = { kind: 'none', text: `none on ${process.platform}: commands of different clients can change each other's files and the store (blobs are still verified when stored and when used)` };
    return probed;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'b-isolation-'));
  try {
    const sb = path.join(dir, 'sb');
    fs.mkdirSync(sb);
    const [file, ...args] = isolatedArgv(dir, sb, 'echo ok > mine; echo bad > ../outside 2>/dev/null; exit 0');
    const r = spawnSync(file!, args, { cwd: sb, encoding: 'utf8', timeout: 10_000 });
    const wrote = fs.existsSync(path.join(sb, 'mine'));
    const escaped = fs.existsSync(path.join(dir, 'outside'));
    if (r.status === 0 && wrote && !escaped) {
      probed = { kind: 'namespaces', text: 'Linux mount+PID namespace per command: the store and other sandboxes are read-only to it' };
    } else {
      const why = r.error?.message ?? (r.stderr.trim().split('\n')[0] || (escaped ? 'a write outside the sandbox was not refused' : `exit ${r.status}`));
      probed = { kind: 'none', text: `NONE (unshare failed: ${why}): commands of different clients can change each other's files and the store (blobs are still verified when stored and when used)` };
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return probed;
}

// A fenced command (fence.ts): as above, plus an overlay over the client's build root ($3), whose
// upper layer is in the attempt's sandbox. The command sees the client's tree at its own paths
// (nothing is rewritten, objects are identical) and every write under the root lands in the
// sandbox. `cd "$PWD"` re-enters the root through the overlay. A set-up that fails exits with
// FENCE_FAILED and says so, not as the command: the command did not run, the client runs it.
export const FENCE_FAILED = 254;
const FENCE_SCRIPT = '{ mount -o bind,ro "$1" "$1" && mount --bind "$2" "$2" && mount -o remount,bind,rw "$2" && ' +
  'mount -t overlay b-fence -o "lowerdir=$3,upperdir=$2/upper,workdir=$2/ovl" "$3" && cd "$PWD"; } || ' +
  `{ echo "b-fence: cannot overlay $3" >&2; exit ${FENCE_FAILED}; }; exec /bin/sh -c "$4"`;

/** Whether an overlay option string can name `dir` (mount(8) splits on `,` and lowerdir on `:`). */
export function overlayable(dir: string): boolean {
  return path.isAbsolute(dir) && !/[,:\\\n]/.test(dir);
}

/** The argv that runs `cmd` in `root` with writes under `root` going to `sandbox`/upper. */
export function fencedArgv(cacheDir: string, sandbox: string, root: string, cmd: string): string[] {
  return ['unshare', ...unshareArgs(), '/bin/sh', '-c', FENCE_SCRIPT, 'b-fence', cacheDir, sandbox, root, cmd];
}

let fenceProbed: { ok: boolean; why: string } | undefined;

/**
 * Whether this machine can fence commands, found once per thread by trying it in `workRoot`
 * (where sandboxes live: an upper layer must be on a filesystem overlayfs accepts, not on an
 * overlay itself): a write into an overlaid directory must land in the upper layer and leave the
 * directory itself unchanged.
 */
export function fenceSupport(workRoot: string): { ok: boolean; why: string } {
  if (fenceProbed !== undefined) return fenceProbed;
  if (process.platform !== 'linux') return (fenceProbed = { ok: false, why: `no overlay mounts on ${process.platform}` });
  fs.mkdirSync(workRoot, { recursive: true, mode: 0o700 });
  // Named as sandboxes are (pid first), so that sweepWork removes it if this process dies here.
  const dir = fs.mkdtempSync(path.join(workRoot, `${process.pid}-probe-`));
  try {
    const root = path.join(dir, 'root');
    const sb = path.join(dir, 'sb');
    for (const d of [root, sb, path.join(sb, 'upper'), path.join(sb, 'ovl')]) fs.mkdirSync(d);
    fs.writeFileSync(path.join(root, 'in'), 'x');
    const [file, ...args] = fencedArgv(sb, sb, root, 'cat in > out');
    const r = spawnSync(file!, args, { cwd: root, encoding: 'utf8', timeout: 10_000 });
    const fenced = fs.existsSync(path.join(sb, 'upper', 'out')) && !fs.existsSync(path.join(root, 'out'));
    fenceProbed = r.status === 0 && fenced
      ? { ok: true, why: '' }
      : { ok: false, why: r.error?.message ?? (r.stderr.trim().split('\n')[0] || (r.status === 0 ? 'the write was not fenced' : `exit ${r.status}`)) };
  } finally {
    removeSandbox(dir);
  }
  return fenceProbed;
}

/** Removes a sandbox; an overlay's work directory is left mode 000 by the kernel, so it is opened first. */
export function removeSandbox(dir: string): void {
  for (const w of [path.join(dir, 'ovl', 'work'), path.join(dir, 'sb', 'ovl', 'work')]) {
    try {
      fs.chmodSync(w, 0o700);
    } catch {
      // none there (not a fenced sandbox, or the mount never ran)
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
}
