// What comes back from a node is verified before the client uses it: outputs are hashed while
// they arrive and must match the digest and size the node announced (bounded), and a
// dependency the node says a compile read must be a regular file the client may read. A node is
// trusted to run the command, not to say what its result is; a mismatch fails the attempt, which
// then runs here.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { DIGEST_BYTES, digestFromHex } from './hash.ts';
import { stateOf } from './filestate.ts';
import { checkOutputPath } from './rexec-client.ts';
import type { FileState } from './database.ts';
import { INLINE_OUTPUT_MAX, INLINE_RESULT_MAX, type RexecOutput } from './messages.ts';
import type { Failure } from './protocol.ts';

/**
 * The largest output a node may announce: a claimed size is what the client will read before it
 * stops, so it is bounded too (a lying node would otherwise stream until the disk is full).
 */
export const MAX_OUTPUT_BYTES = 4 * 1024 ** 3;

/**
 * Copies a blob a node claims is `hex` of `size` bytes into `dest` (a temp file this creates,
 * O_EXCL|O_NOFOLLOW), hashing it while it arrives and reading no byte beyond `size`. Throws on a
 * short, long or different blob, with `dest` removed: what a node sends reaches an output's path
 * only after it is verified (the caller renames it into place).
 */
export async function fetchVerified(node: string, hex: string, size: number, dest: string, chunk: (offset: number, length: number) => Promise<Buffer>): Promise<void> {
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`node ${node} named an output by a malformed digest`);
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_OUTPUT_BYTES) throw new Error(`node ${node} announced an output of ${size} bytes (bound ${MAX_OUTPUT_BYTES})`);
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const fd = fs.openSync(dest, O_WRONLY | O_CREAT | O_EXCL | (O_NOFOLLOW ?? 0), 0o600);
  const h = createHash('sha256');
  let ok = false;
  try {
    const STEP = 1 << 20;
    for (let off = 0; off < size; ) {
      const want = Math.min(STEP, size - off);
      const buf = await chunk(off, want);
      if (buf.length === 0) throw new Error(`node ${node} has no blob ${hex} (at byte ${off} of ${size})`);
      if (buf.length > want) throw new Error(`node ${node} sent ${buf.length} bytes of blob ${hex} where ${want} were asked for`);
      h.update(buf);
      let w = 0;
      while (w < buf.length) w += fs.writeSync(fd, buf, w, buf.length - w, off + w);
      off += buf.length;
    }
    const got = h.digest('hex').slice(0, 2 * DIGEST_BYTES);
    if (got !== hex) throw new Error(`node ${node} sent other bytes than it claimed for an output (digest ${got.slice(0, 12)}, claimed ${hex.slice(0, 12)})`);
    ok = true;
  } finally {
    fs.closeSync(fd);
    if (!ok) fs.rmSync(dest, { force: true });
  }
}

/**
 * Writes an output that came inline in a result (RexecOutput.data) into `dest` (a temp file this
 * creates, O_EXCL|O_NOFOLLOW, with `mode`), as fetchVerified writes a fetched one but checked
 * before anything is created: its length must be the announced size and within
 * INLINE_OUTPUT_MAX and its digest the announced one, else it throws and nothing is written.
 * All at once (the bytes are here already): one hash, one write and fchmod instead of
 * fetchVerified's chunk loop and a chmod by path (0.5% of the client's CPU a compile).
 */
export function writeInline(hex: string, size: number, data: string, dest: string, mode = 0o600): void {
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error('the node named an inline output by a malformed digest');
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length > INLINE_OUTPUT_MAX) throw new Error(`the node sent an inline output of ${bytes.length} bytes (bound ${INLINE_OUTPUT_MAX})`);
  if (bytes.length !== size) throw new Error(`the node sent an inline output of ${bytes.length} bytes but announced ${size}`);
  const got = createHash('sha256').update(bytes).digest('hex').slice(0, 2 * DIGEST_BYTES);
  if (got !== hex) throw new Error(`node that ran it sent other bytes than it claimed for an output (digest ${got.slice(0, 12)}, claimed ${hex.slice(0, 12)})`);
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const fd = fs.openSync(dest, O_WRONLY | O_CREAT | O_EXCL | (O_NOFOLLOW ?? 0), 0o600);
  let ok = false;
  try {
    let w = 0;
    while (w < bytes.length) w += fs.writeSync(fd, bytes, w, bytes.length - w, w);
    fs.fchmodSync(fd, mode & 0o777);
    ok = true;
  } finally {
    fs.closeSync(fd);
    if (!ok) fs.rmSync(dest, { force: true });
  }
}

/** Why the inline outputs of one result are refused (more than INLINE_RESULT_MAX in all), or undefined. */
export function refusedInline(records: readonly RexecOutput[]): string | undefined {
  let total = 0;
  for (const r of records) if (r.data !== undefined) total += r.size;
  return total > INLINE_RESULT_MAX ? `the node sent ${total} bytes of outputs inline in one result (bound ${INLINE_RESULT_MAX})` : undefined;
}

// Where a node may say a compile read files: the client's project directories it sent, and the
// system's own headers and libraries. Never devices or kernel files (/dev/zero would be hashed
// forever), and nothing else of the client's disk: a dependency named here is hashed, and, if it
// lies in the project, shipped to nodes by later builds.
const SYSTEM_DEPS = ['/usr/', '/opt/', '/lib/', '/lib64/', '/nix/'];

/** Why a dependency a node reported is refused, or undefined if it is a file the client may read. */
/**
 * Fetches an output's blob next to `dest` and renames it into place with its mode: readers never
 * see half an output, and a failed fetch leaves nothing. The error's message, or undefined.
 */
export async function fetchIntoPlace(
  rec: { digest: string; size: number; mode: number; data?: string }, dest: string, fetch: (hex: string, size: number, dest: string) => Promise<void>,
): Promise<string | undefined> {
  const tmp = `${dest}.b-remote-${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  try {
    if (rec.data !== undefined) writeInline(rec.digest, rec.size, rec.data, tmp, rec.mode);
    else {
      await fetch(rec.digest, rec.size, tmp);
      fs.chmodSync(tmp, rec.mode & 0o777);
    }
    fs.renameSync(tmp, dest);
    return undefined;
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    return (e as Error).message;
  }
}

export function refusedDependency(dep: string, roots: string[]): string | undefined {
  if (!path.isAbsolute(dep) || path.normalize(dep) !== dep) return `${dep} is not a normalized absolute path`;
  const allowed = (p: string): boolean => roots.some((r) => p === r || p.startsWith(r.endsWith('/') ? r : r + '/')) || SYSTEM_DEPS.some((s) => p.startsWith(s));
  if (!allowed(dep)) return `${dep} is outside the project directories and the system's`;
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dep, { throwIfNoEntry: false });
  } catch {
    st = undefined;
  }
  if (st === undefined) return undefined; // missing here: recorded as missing, as a local depfile's would be
  if (!st.isFile()) return `${dep} is not a regular file`;
  let real: string;
  try {
    real = fs.realpathSync.native(dep);
  } catch {
    return `${dep} cannot be resolved`;
  }
  if (!allowed(real)) return `${dep} leads to ${real}, outside the project directories and the system's`;
  return undefined;
}


/**
 * Makes the client's declared outputs what an accepted remote attempt left (`records`: the
 * node's outputs as blobs): each one present there is fetched (verified, fetchVerified) next to
 * its place and renamed; each one the attempt left missing (the command deleted it, or never
 * wrote it) is removed here, so no stale copy survives that the database would then record as
 * this attempt's output. Paths are checked first (checkOutputPath: inside the build root, no
 * symlink out of it). A failure names the output and asks the engine to run the action here.
 */
export async function placeOutputs(
  root: string, rule: string, declared: string[], records: RexecOutput[], fetch: (hex: string, size: number, dest: string) => Promise<void>,
): Promise<{ outs: Map<string, FileState | undefined>; received: number } | Failure> {
  const outs = new Map<string, FileState | undefined>();
  let received = 0;
  const tooMuch = refusedInline(records);
  if (tooMuch !== undefined) return { code: 'remote.fetch', message: `rule ${rule}: ${tooMuch}`, where: rule, fields: { retryLocal: true } };
  for (const o of declared) {
    const abs = path.resolve(root, o);
    const rec = records.find((x) => x.path === abs);
    let dest: string;
    try {
      dest = rec?.digest == null ? checkRemovable(root, o, rule) : checkOutputPath(root, o, rule);
    } catch (e) {
      return { code: 'remote.output', message: (e as Error).message, where: rule };
    }
    if (rec === undefined || rec.digest === null) {
      try {
        fs.unlinkSync(dest);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') return { code: 'remote.output', message: `rule ${rule}: the node's attempt left no ${o}, and the copy here cannot be removed (${code})`, where: rule, hint: `remove ${o} by hand` };
      }
      outs.set(o, undefined);
      continue;
    }
    const failed = await fetchIntoPlace({ digest: rec.digest, size: rec.size, mode: rec.mode, ...(rec.data !== undefined ? { data: rec.data } : {}) }, dest, fetch);
    if (failed !== undefined) return { code: 'remote.fetch', message: `fetching ${o} from the node failed: ${failed}`, where: rule, fields: { retryLocal: true } };
    received += rec.size;
    outs.set(o, stateOf(fs.statSync(dest), digestFromHex(rec.digest), true));
  }
  return { outs, received };
}

/** As checkOutputPath for an output to remove: inside the root, its directory not through a symlink out of it, nothing created. */
function checkRemovable(root: string, out: string, rule: string): string {
  const abs = path.resolve(root, out);
  const rel = path.relative(root, abs);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`rule ${rule}: output ${out} is outside the build root ${root}; refusing to remove it for a remote result`);
  const realRoot = fs.realpathSync(root);
  let dir = path.dirname(abs);
  while (!fs.existsSync(dir) && dir !== path.dirname(dir)) dir = path.dirname(dir);
  const real = fs.realpathSync(dir);
  if (real !== realRoot && !real.startsWith(realRoot + path.sep)) throw new Error(`rule ${rule}: output ${out} goes through a symlink out of the build root (${real}); refusing to remove it for a remote result`);
  return abs;
}
