// Every message payload B sends between threads and machines, declared once: work items (SUBMIT
// and WORK), their results (RESULT and DONE) and SUBMIT's routing meta here, NEED operations and
// their answers in need-messages.ts. Each is a discriminated union (`k` for work, `op` for NEED)
// with a strict validator: unknown or duplicate keys, wrong types and oversized fields are refused
// with a ProtocolError value, never thrown. Every receiver decodes a payload once with the parser
// here and then switches on the tag; nothing looks at bytes or substrings to guess what a payload
// is (the broker once did, and a node could make a client run `op:"build"` by hiding `"op":"need"`
// inside it).
//
// This module imports only protocol.ts and shape.ts (its schema language), so worker-side files
// (jobs, bfile-run, ninja-run, rexec) depend on it and on leaf utilities, never on the front ends
// that produce the messages.

import { type ProtocolError, duplicateKey, isProtocolError, parseJson } from './protocol.ts';
import {
  ANY, HEX_DIGEST, NAME, TEXT, arr, bool, checkShape, decodeShape, int, lit, nullable, num, obj, opt, rec, refuse, str, type Shape,
} from './shape.ts';

export { duplicateKey };

// ---------------------------------------------------------------------------------------------
// Work items (SUBMIT's second frame, WORK's payload), by kind.

export interface ExecRequest {
  /** Run through the shell (`/bin/sh -c` or `cmd /c`), as Ninja does with rule commands. */
  shell?: string;
  /** Or run this argv directly, without a shell. */
  argv?: string[];
  cwd?: string;
  /** Extra environment on top of the worker's environment. */
  env?: Record<string, string>;
  /** Give the command the terminal (Ninja's console pool): no capture, same process group. */
  console?: boolean;
  /** Bytes of output kept; beyond this the middle is elided. */
  maxOutput?: number;
  /** Also return stdout on its own (Bfile `run` returns it to the rule). */
  splitStdout?: boolean;
}

export interface RecordedCommand {
  cmd: string;
  cwd: string;
  env: string;
  exit: number;
  stdout: string;
}

/** Run one Bfile rule (bfile-run.ts). */
export interface RuleWork {
  k: 'rule';
  file: string;
  dir: string;
  rule: string;
  key: string;
  outs: string[];
  stem: string;
  replay?: RecordedCommand[];
  /** Its `run()` calls become actions (bfile-action.ts): asked of the build host (NEED `run`). */
  actions?: boolean;
  /**
   * For a node that sees the client's files: run the rule's side effects fenced (fence-rule.ts):
   * its commands and writes land in the attempt's sandbox, its outputs come back as blobs.
   */
  fenced?: boolean;
  /** With the action cache: what the rule's worker needs to answer a run() hit itself (bfile-hit.ts). */
  hits?: RunHitEnv;
}

/** The build host's action-cache context for a rule's worker (bfile-hit.ts). */
export interface RunHitEnv {
  /** The local action cache's directory (the worker uses it only if it is its own). */
  dir: string;
  base: string;
  /** The declared environment (action-env.ts declaredEnv). */
  env: Record<string, string>;
  platform: string;
  /** PATH, as the build host resolves programs. */
  path: string;
  /** Names the build: PATH lookups are kept per build. */
  build: string;
}

/** What a Ninja edge says about its command, wherever it runs (in place, fenced, sandboxed). */
export interface EdgeCommand {
  cmd: string;
  depfile: string;
  deps: string;
  msvcPrefix: string;
  rspfile: string;
  rspfileContent: string;
}

/** Run one Ninja edge's command (ninja-run.ts). */
export interface CmdWork extends EdgeCommand {
  k: 'cmd';
  cwd: string;
  outs: string[];
  console: boolean;
}

/**
 * One Ninja edge's command for a node that sees the client's files (shared filesystem), run
 * fenced (fence.ts): the build root is overlaid on the node, so the command reads the client's
 * tree but writes only into the attempt's own scratch layer; outputs come back as blobs the
 * client fetches for the one attempt it accepted. A node never runs a `cmd` for another machine.
 */
export interface FencedWork extends EdgeCommand {
  k: 'fenced';
  /** The build root: the overlaid directory and the command's working directory. */
  cwd: string;
  outs: string[];
}

export interface RexecInput {
  /** Absolute path on the client. */
  path: string;
  /** Content digest (hex). */
  digest: string;
  size: number;
  exec: boolean;
}

/** A self-contained compile for a node without the client's files (rexec.ts). */
export interface RexecWork {
  k: 'rexec';
  cmd: string;
  cwd: string;
  /** Client directories recreated under the sandbox (the command's paths are rewritten). */
  roots: string[];
  inputs: RexecInput[];
  /** Absolute client paths of the declared outputs. */
  outputs: string[];
  depfile: string;
  deps: string;
  msvcPrefix: string;
  rspfile: string;
  rspfileContent: string;
  /** The command is a gcc/clang compile: add -ffile-prefix-map. */
  prefixMap: boolean;
  /** Extra environment (a Bfile `run()`'s `env` and the declared variables). */
  env?: Record<string, string>;
  /** Return stdout on its own too (a Bfile `run()` resolves with it). */
  stdout?: boolean;
  /** With the client's `--cache`: the node records the result in its own cache (node-cache.ts). */
  cache?: NodeCacheInfo;
  /** A link (rexec-link.ts): the node asks the linker for the files it read and reports them with their digests. */
  link?: boolean;
  /** The client takes small outputs inline in the result (RexecOutput.data); asked, so an older client's strict decoder never sees the field. */
  inline?: boolean;
}

/**
 * What an action's node-side cache key needs beyond a self-contained item: the client's base
 * directory (paths under it are written relative, as in action-key.ts), which inputs the edge
 * declares (the others are the superset shipped for headers), and the declared environment.
 */
export interface NodeCacheInfo {
  base: string;
  /** Absolute client paths of the declared inputs; each must be one of the item's inputs. */
  declared: string[];
  /** Declared environment (ninja-cache.ts KEY_ENV, B_CACHE_ENV): in the key, and set for the command. */
  env: Record<string, string>;
}

/**
 * An action as a node's cache keys it (node-cache.ts): a self-contained item without the inputs
 * it would ship, only the declared ones with their digests.
 */
export interface NodeAction extends EdgeCommand {
  cwd: string;
  base: string;
  /** Declared inputs: absolute client paths and content digests (hex). */
  inputs: { path: string; digest: string }[];
  /** Absolute client paths of the declared outputs. */
  outputs: string[];
  env: Record<string, string>;
}

/** Asks a node's cache for the results it recorded for an action (it ran them itself, or a cache writer uploaded them). */
export interface CacheLookupWork {
  k: 'cache-lookup';
  action: NodeAction;
}

/** One recorded result, paths relative to the recorder's base (action-key.ts markers). */
export interface CachedResultWire {
  /** Discovered dependencies and the digests (hex) they had. */
  deps: [string, string][];
  outputs: { path: string; digest: string; size: number; mode: number }[];
  output: string;
  /** stdout alone, for an action whose caller gets it (a Bfile `run()` resolves with it). */
  stdout?: string;
}

/** A cache writer's upload of a result it ran itself (`b node --cache-writers`); its blobs first, by cas-put. */
export interface CachePutWork {
  k: 'cache-put';
  action: NodeAction;
  result: CachedResultWire;
}

/** A cache writer's upload of one output blob (whole, at most CAS_PUT_MAX bytes). */
export interface CasPutWork {
  k: 'cas-put';
  digest: string;
  data: string;
}

/** The largest blob a cache writer uploads in one message (base64 stays under TEXT). */
export const CAS_PUT_MAX = 32 << 20;

/**
 * A Bfile `run()` executed in place on this machine (bfile-exec.ts), as an action the build host
 * placed here (bfile-action.ts); never accepted from another machine (see BUILD_KINDS).
 */
export interface RunWork {
  k: 'run';
  /** A shell command line, or an argv run without a shell: exactly one of the two. */
  shell?: string;
  argv?: string[];
  cwd: string;
  env?: Record<string, string>;
  /** Absolute path of the depfile the command writes ('' for none): its dependencies come back. */
  depfile: string;
}

/** What a node can run identically (toolchain.ts). */
export interface ProbeWork {
  k: 'probe';
  tools?: string[];
  /** A file the client just wrote, and what it contains: same paths, same files? */
  file?: string;
  expect?: string;
}

/** A chunk of a blob in a node's store (remote execution outputs). */
export interface CasGetWork {
  k: 'cas-get';
  digest: string;
  offset: number;
  length: number;
}

/** Kinds that exist to test and measure the runtime itself; never accepted from another machine. */
export type TestWork =
  | { k: 'echo'; d?: unknown }
  | ({ k: 'exec' } & ExecRequest)
  | { k: 'fib'; n: number }
  | { k: 'throw'; message: string }
  | { k: 'sleep'; ms: number };

export type BuildWork = RuleWork | CmdWork | FencedWork | RexecWork | RunWork | ProbeWork | CasGetWork | CacheLookupWork | CachePutWork | CasPutWork;
export type WorkItem = BuildWork | TestWork;
export type WorkKind = WorkItem['k'];

const EXEC_FIELDS: Shape = {
  shell: opt(str()), argv: opt(arr(str(), 10_000)), cwd: opt(str()), env: opt(rec(str(), 10_000)),
  console: opt(bool), maxOutput: opt(int(0, TEXT)), splitStdout: opt(bool),
};

const ENV = rec(str(), 1000);
const NODE_CACHE_INFO = obj({ base: str(), declared: arr(str()), env: ENV });
const NODE_ACTION = obj({
  cmd: str(), cwd: str(), base: str(), inputs: arr(obj({ path: str(), digest: str(32, HEX_DIGEST) })), outputs: arr(str(), 10_000),
  depfile: str(), deps: str(NAME), msvcPrefix: str(NAME), rspfile: str(), rspfileContent: str(TEXT), env: ENV,
});
const CACHED_RESULT = obj({
  deps: arr(arr(str(), 2)), outputs: arr(obj({ path: str(), digest: str(32, HEX_DIGEST), size: int(), mode: int(0, 0o7777) }), 10_000), output: str(TEXT), stdout: opt(str(TEXT)),
});

const RECORDED = obj({ cmd: str(), cwd: str(), env: str(TEXT), exit: int(-1, 0xffff), stdout: str(TEXT) });

const WORK: Record<WorkKind, Shape> = {
  rule: {
    k: lit('rule'), file: str(), dir: str(), rule: str(), key: str(), outs: arr(str()), stem: str(), replay: opt(arr(RECORDED)), fenced: opt(bool), actions: opt(bool),
    hits: opt(obj({ dir: str(), base: str(), env: ENV, platform: str(NAME), path: str(TEXT), build: str(NAME) })),
  },
  cmd: {
    k: lit('cmd'), cmd: str(), cwd: str(), outs: arr(str()), depfile: str(), deps: str(NAME), msvcPrefix: str(NAME),
    rspfile: str(), rspfileContent: str(TEXT), console: bool,
  },
  fenced: {
    k: lit('fenced'), cmd: str(), cwd: str(), outs: arr(str()), depfile: str(), deps: str(NAME), msvcPrefix: str(NAME),
    rspfile: str(), rspfileContent: str(TEXT),
  },
  rexec: {
    k: lit('rexec'), cmd: str(), cwd: str(), roots: arr(str(), 10_000),
    inputs: arr(obj({ path: str(), digest: str(32, HEX_DIGEST), size: int(), exec: bool })),
    outputs: arr(str()), depfile: str(), deps: str(NAME), msvcPrefix: str(NAME), rspfile: str(), rspfileContent: str(TEXT), prefixMap: bool,
    env: opt(rec(str(), 10_000)), stdout: opt(bool),
    cache: opt(NODE_CACHE_INFO), link: opt(bool), inline: opt(bool),
  },
  'cache-lookup': { k: lit('cache-lookup'), action: NODE_ACTION },
  'cache-put': { k: lit('cache-put'), action: NODE_ACTION, result: CACHED_RESULT },
  'cas-put': { k: lit('cas-put'), digest: str(32, HEX_DIGEST), data: str(TEXT, /^[A-Za-z0-9+/]*={0,2}$/) },
  run: { k: lit('run'), shell: opt(str()), argv: opt(arr(str(), 10_000)), cwd: str(), env: opt(rec(str(), 10_000)), depfile: str() },
  probe: { k: lit('probe'), tools: opt(arr(str(NAME), 256)), file: opt(str()), expect: opt(str(NAME)) },
  'cas-get': { k: lit('cas-get'), digest: str(32, HEX_DIGEST), offset: int(), length: int(0, 1 << 20) },
  echo: { k: lit('echo'), d: opt(ANY) },
  exec: { k: lit('exec'), ...EXEC_FIELDS },
  fib: { k: lit('fib'), n: int(0, 40) },
  throw: { k: lit('throw'), message: str(NAME) },
  sleep: { k: lit('sleep'), ms: int(0, 24 * 3600 * 1000) },
};

/**
 * The kinds a build sends to other machines; the others are reachable only inside a process.
 * Not `cmd`: another machine's Ninja command runs fenced or self-contained, never on its files.
 */
export const BUILD_KINDS: ReadonlySet<string> = new Set<WorkKind>(['rule', 'fenced', 'rexec', 'probe', 'cas-get', 'cache-lookup', 'cache-put', 'cas-put']);

/**
 * Kinds that read or write this node's own cache: they run here, never passed on to another
 * node (whose cache is its own), and the writes only for a key listed by `--cache-writers`.
 */
export const CACHE_KINDS: ReadonlySet<string> = new Set<WorkKind>(['cache-lookup', 'cache-put', 'cas-put']);
export const CACHE_WRITE_KINDS: ReadonlySet<string> = new Set<WorkKind>(['cache-put', 'cas-put']);

/** Decodes a work item: its kind is read once, from the parsed object, and checked against it. */
export function parseWork(payload: Buffer | undefined, maxBytes = Number.MAX_SAFE_INTEGER): WorkItem | ProtocolError {
  if (payload !== undefined && payload.length > maxBytes) return { error: 'size', message: `work item of ${payload.length} bytes is larger than ${maxBytes}` };
  const v = parseJson(payload);
  if (isProtocolError(v)) return v;
  const k = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as { k?: unknown }).k : undefined;
  if (typeof k !== 'string' || !Object.hasOwn(WORK, k)) return refuse(`work item: unknown kind ${JSON.stringify(k)?.slice(0, 64) ?? 'undefined'}`);
  return decodeShape<WorkItem>(payload, `work item "${k}"`, WORK[k as WorkKind], maxBytes);
}

/** Encodes a work item (the producer's side): the same bytes every reader decodes. */
export function encodeWork(w: WorkItem): Buffer {
  return Buffer.from(JSON.stringify(w), 'utf8');
}

// ---------------------------------------------------------------------------------------------
// Results (RESULT and DONE payloads), by the kind of work that produced them.

export interface FileStateWire {
  size: number;
  mtime: number;
  ctime: number;
  ino: number;
  digest: string;
  racy: boolean;
}

export interface ExecResult {
  /** Exit status; -1 if the command could not start or died of a signal. */
  exit: number;
  signal?: string;
  /** stdout and stderr as one interleaved stream. */
  output: string;
  /** stdout alone, when asked for with splitStdout. */
  stdout?: string;
  /** Wall-clock start and end, ms since the epoch (used by tests to observe overlap). */
  start: number;
  end: number;
  /** Set when the command could not be started at all. */
  spawnError?: string;
}

export interface RuleResult {
  outputs: Record<string, FileStateWire | null>;
  value?: string;
  output: string;
  commands: RecordedCommand[];
  /** Replay: whether the rule, run against its recorded commands, did exactly the same. */
  replay?: { same: boolean; reason?: string };
  /** A fenced rule (RuleWork.fenced): its outputs as blobs in the node's store (`outputs` is then empty). */
  fenced?: RexecOutput[];
  /** Set when the node could not fence this rule: the client runs it itself. */
  unfenceable?: string;
  /** run() calls its worker answered from the local action cache (bfile-hit.ts): the command, bytes restored, ms. */
  hits?: { cmd: string; bytes: number; ms: number }[];
}

export interface CmdResult {
  exit: number;
  signal?: string;
  output: string;
  outputs: Record<string, FileStateWire | null>;
  /** Dependencies read from the depfile or /showIncludes (canonical, relative to cwd). */
  deps: string[];
  depsError?: string;
  spawnError?: string;
}

export interface RexecOutput {
  path: string;
  digest: string | null;
  size: number;
  mode: number;
  /** The blob itself (base64), when it is small (INLINE_OUTPUT_MAX): the client then needs no `cas-get`. */
  data?: string;
}

/**
 * Bounds of inline outputs: a compile's object is typically 2-200 KiB, and a result carrying more
 * than ~1 MiB would hold a broker's socket as long as the chunked fetch it replaces would.
 */
export const INLINE_OUTPUT_MAX = 256 << 10;
export const INLINE_RESULT_MAX = 1 << 20;

export interface RexecResult {
  exit: number;
  signal?: string;
  output: string;
  spawnError?: string;
  outputs: RexecOutput[];
  /** Absolute client paths from the depfile or /showIncludes. */
  deps: string[];
  /** Bytes of inputs this node had to fetch. */
  fetched: number;
  ms: number;
  /** stdout on its own, when the work item asked for it. */
  stdout?: string;
  /**
   * For a link: the digest (hex) of each of `deps` as the node read it (null: neither shipped
   * nor a file of its system), so the client can check the node's system libraries are its own.
   */
  depDigests?: (string | null)[];
}

/** What a Bfile `run()` executed in place left (bfile-exec.ts): the outputs are in the tree. */
export interface RunResult {
  exit: number;
  signal?: string;
  /** stdout and stderr as one interleaved stream, and stdout alone. */
  output: string;
  stdout: string;
  spawnError?: string;
  /** Dependencies the depfile names (as written there: relative to cwd, or absolute). */
  deps: string[];
  depsError?: string;
}

/** What a fenced command left (fence.ts): outputs as blobs in the node's store, dependencies as a `cmd`'s. */
export interface FencedResult {
  exit: number;
  signal?: string;
  output: string;
  spawnError?: string;
  /** Absolute client paths of the declared outputs; digest null when the command left none. */
  outputs: RexecOutput[];
  /** Dependencies read from the depfile or /showIncludes (canonical, relative to cwd). */
  deps: string[];
  depsError?: string;
  /** Set when the node could not fence this command: the client runs it itself. */
  unfenceable?: string;
}

/**
 * A work item's payload for another node, asked for lazily: `shared` says whether that node sees
 * this machine's files (then a fenced item, else a self-contained one); undefined when the item
 * cannot run on such a node.
 */
export type RemotePayload = (shared: boolean) => Buffer | undefined;

export interface ToolPrint {
  /** Resolved absolute path, or null when the tool is not installed. */
  path: string | null;
  /** First line of `tool --version`. */
  version: string;
  /** Digest of the whole `--version` output: what is compared. */
  hash: string;
}

export interface ProbeResult {
  platform: string;
  tools: Record<string, ToolPrint>;
  sharedFs?: boolean;
  /** Whether this node can run a command fenced (fence.ts); without it, shared files are not used. */
  fence?: boolean;
  /** What a command run for one client is kept from (sandbox.ts), for `b status`. */
  isolation?: string;
}

export interface CasGetResult {
  /** Base64 of the chunk; empty when the node has no such blob. */
  data: string;
}

export interface CacheLookupResult {
  /** Results recorded for the action's key, newest first, whose blobs the node holds (verified). */
  results: CachedResultWire[];
}

export interface CachePutResult {
  /** Whether the result is now in the node's cache (false: a blob it names was not uploaded). */
  stored: boolean;
}

export interface ResultOf {
  rule: RuleResult;
  cmd: CmdResult;
  rexec: RexecResult;
  run: RunResult;
  fenced: FencedResult;
  probe: ProbeResult;
  'cas-get': CasGetResult;
  'cache-lookup': CacheLookupResult;
  'cache-put': CachePutResult;
  'cas-put': CachePutResult;
  exec: ExecResult;
}

/** An output as a blob in the store of the node that ran it (digest null: the attempt left none). */
const STORED_OUTPUT = obj({
  path: str(), digest: nullable(str(32, HEX_DIGEST)), size: int(), mode: int(0, 0o7777),
  data: opt(str(4 * Math.ceil(INLINE_OUTPUT_MAX / 3), /^[A-Za-z0-9+/]*={0,2}$/)),
});
const FILE_STATE = nullable(obj({ size: int(), mtime: num, ctime: num, ino: num, digest: str(NAME), racy: bool }));

const RESULTS: { [K in keyof ResultOf]: Shape } = {
  rule: {
    outputs: rec(FILE_STATE), value: opt(str(TEXT)), output: str(TEXT), commands: arr(RECORDED),
    replay: opt(obj({ same: bool, reason: opt(str(TEXT)) })), fenced: opt(arr(STORED_OUTPUT)), unfenceable: opt(str(TEXT)),
    hits: opt(arr(obj({ cmd: str(TEXT), bytes: int(), ms: num }))),
  },
  cmd: { exit: int(-1, 0xffff), signal: opt(str(NAME)), output: str(TEXT), outputs: rec(FILE_STATE), deps: arr(str()), depsError: opt(str(TEXT)), spawnError: opt(str(TEXT)) },
  rexec: {
    exit: int(-1, 0xffff), signal: opt(str(NAME)), output: str(TEXT), spawnError: opt(str(TEXT)),
    outputs: arr(STORED_OUTPUT), deps: arr(str()), fetched: int(), ms: num, stdout: opt(str(TEXT)),
    depDigests: opt(arr(nullable(str(32, HEX_DIGEST)))),
  },
  run: {
    exit: int(-1, 0xffff), signal: opt(str(NAME)), output: str(TEXT), stdout: str(TEXT), spawnError: opt(str(TEXT)), deps: arr(str()),
    depsError: opt(str(TEXT)),
  },
  fenced: {
    exit: int(-1, 0xffff), signal: opt(str(NAME)), output: str(TEXT), spawnError: opt(str(TEXT)),
    outputs: arr(STORED_OUTPUT), deps: arr(str()),
    depsError: opt(str(TEXT)), unfenceable: opt(str(TEXT)),
  },
  probe: {
    platform: str(NAME), tools: rec(obj({ path: nullable(str()), version: str(NAME), hash: str(NAME) }), 256), sharedFs: opt(bool),
    fence: opt(bool), isolation: opt(str(NAME)),
  },
  'cas-get': { data: str(TEXT, /^[A-Za-z0-9+/]*={0,2}$/) },
  'cache-lookup': { results: arr(CACHED_RESULT, 16) },
  'cache-put': { stored: bool },
  'cas-put': { stored: bool },
  exec: { exit: int(-1, 0xffff), signal: opt(str(NAME)), output: str(TEXT), stdout: opt(str(TEXT)), start: num, end: num, spawnError: opt(str(TEXT)) },
};

/** Decodes the result of a work item of kind `k` (from a worker, or from another machine). */
export function parseResult<K extends keyof ResultOf>(k: K, payload: Buffer | undefined): ResultOf[K] | ProtocolError {
  return decodeShape<ResultOf[K]>(payload, `${k} result`, RESULTS[k], Number.MAX_SAFE_INTEGER);
}

/**
 * Decodes a result that may be of several kinds (a Ninja edge's result is a `cmd` result, or a
 * `rexec` one when a node without this machine's files ran it): parsed once, then checked
 * against each kind's shape; the first that fits names the kind.
 */
export function parseResultOf<K extends keyof ResultOf>(kinds: readonly K[], payload: Buffer | undefined): Outcome<K> | ProtocolError {
  const v = parseJson(payload);
  if (isProtocolError(v)) return v;
  let why: ProtocolError | undefined;
  for (const k of kinds) {
    const e = checkShape(v, RESULTS[k], `${k} result`);
    if (e === undefined) {
      const dup = duplicateKey(payload!.toString('utf8'));
      if (dup !== undefined) return refuse(`${k} result has the field "${dup.slice(0, 64)}" twice`);
      return { k, r: v } as Outcome<K>;
    }
    why ??= e;
  }
  return why ?? refuse('no result kind given');
}

/** A work item's result, tagged with its kind. */
export type Outcome<K extends keyof ResultOf = keyof ResultOf> = { [P in K]: { k: P; r: ResultOf[P] } }[K];

/**
 * A worker's answer as the engine hands it to an action: the bytes, when the work ran in another
 * thread or on another machine (decoded by the receiver, once, strictly); or the outcome itself
 * when it ran in the receiver's own thread (build-local.ts), where nothing crossed a boundary
 * and encoding it to JSON and back cost ~50 µs an edge.
 */
export type Reply = Buffer | Outcome;

/** The outcome in a reply, if it is one of `kinds`. */
export function outcomeOf<K extends keyof ResultOf>(kinds: readonly K[], reply: Reply): Outcome<K> | ProtocolError {
  if (Buffer.isBuffer(reply)) return parseResultOf(kinds, reply);
  return (kinds as readonly string[]).includes(reply.k) ? (reply as Outcome<K>) : refuse(`a ${reply.k} result where ${kinds.join(' or ')} was expected`);
}

/** As parseResult, for callers whose peer must not be trusted: a refusal becomes an Error. */
export function resultOrThrow<K extends keyof ResultOf>(k: K, payload: Buffer | undefined, from: string): ResultOf[K] {
  const r = parseResult(k, payload);
  if (isProtocolError(r)) throw new Error(`malformed ${k} result from ${from}: ${r.message}`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// SUBMIT meta (first frame): routing facts about a work item.

export interface TaskMeta {
  /** Nodes this item already went through. */
  via?: string[];
  /** May run on another node (false: console jobs, local-only work). */
  remote?: boolean;
  /** Program the command runs first: nodes must have the same one (fingerprint). */
  tool?: string;
  /** Absolute build root: the node must see the same files there (shared filesystem). */
  root?: string;
}

const META: Shape = { via: opt(arr(str(NAME), 64)), remote: opt(bool), tool: opt(str(NAME)), root: opt(str()) };

export function parseMeta(payload: Buffer | undefined): TaskMeta | ProtocolError {
  return decodeShape<TaskMeta>(payload, 'SUBMIT meta', META, 1 << 20);
}

/** A chunk of a blob, answering a `blob` NEED (need-messages.ts): a `cas-get` result's shape. */
export function parseBlobAnswer(payload: Buffer | undefined): CasGetResult | ProtocolError {
  return decodeShape<CasGetResult>(payload, 'blob answer', RESULTS['cas-get'], 64 << 20);
}
