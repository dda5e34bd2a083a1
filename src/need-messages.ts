// NEED operations (a running task's questions to the build host, and the client's build
// request) and their answers, declared once: as messages.ts does for work items and results,
// each op is a member of one union tagged by `op`, decoded once by parseNeed with a strict shape;
// who may ask which op is broker-policy.ts's call, after decoding.

import { duplicateKey, isProtocolError, parseJson, type Failure, type ProtocolError } from './protocol.ts';
import { HEX_DIGEST, LIST, NAME, SCALAR, TEXT, U32, arr, bool, checkShape, decodeShape, int, lit, nullable, num, obj, opt, rec, refuse, str, tagged, type Shape } from './shape.ts';

/** Start a build (or clean) of a directory: only from the client in this process. */
export interface BuildRequest {
  op: 'build' | 'clean' | 'clean-dead';
  dir: string;
  file?: string;
  targets: string[];
  keepGoing: number;
  dryRun: boolean;
  explain: boolean;
  events: boolean;
  env: Record<string, string>;
  /** Most commands at once, here and on other nodes (-j). */
  jobs?: number;
  /** Ninja's -l: no new command while the load average is above it (EngineOptions.loadLimit). */
  loadAverage?: number;
}

/** Answers a running rule depends on (its `need`, `ask`, `env`), for task `task`. */
export interface NeedRequest {
  op: 'need';
  task: number;
  keys: string[];
}

/** A chunk of an input blob of remote work item `task`. */
export interface BlobRequest {
  op: 'blob';
  task: number;
  digest: string;
  offset: number;
  length: number;
}

/** The node's state, for `b status`. */
export interface StatusRequest {
  op: 'status';
}

/**
 * A running Bfile rule's `run(cmd, opts)` as an action (bfile-action.ts): the build host that
 * owns task `task` places the command (here, or on a node with its inputs as blobs) or answers it
 * from the action cache. Its inputs are what the engine recorded the rule needing, never a list
 * the asker sends. Only from a worker of this process (broker-policy.ts mayAsk): a node may not ask.
 */
export interface RunRequest {
  op: 'run';
  task: number;
  /** Exactly one: a shell command line, or an argv. */
  shell?: string;
  argv?: string[];
  /** Working directory, absolute. */
  cwd: string;
  env?: Record<string, string>;
  /** Files it writes (keys, relative to the build root); absent: the rule's outputs. */
  outputs?: string[];
  /** The depfile it writes (a key); absent: the `-MF` it names, if any. */
  depfile?: string;
  /** false: never from or into the action cache. */
  cache?: boolean;
  /** false: runs on this machine only. */
  remote?: boolean;
}

export type NeedOp = BuildRequest | NeedRequest | BlobRequest | StatusRequest | RunRequest;
export type NeedOpName = NeedOp['op'];

const BUILD: Shape = {
  op: str(16), dir: str(), file: opt(str()), targets: arr(str()), keepGoing: int(0, 1e9), dryRun: bool, explain: bool, events: bool,
  env: rec(str(), 100_000), jobs: opt(int(0, 1 << 20)), loadAverage: opt(num),
};
const NEED_OPS: Record<NeedOpName, Shape> = {
  build: { ...BUILD, op: lit('build') },
  clean: { ...BUILD, op: lit('clean') },
  'clean-dead': { ...BUILD, op: lit('clean-dead') },
  need: { op: lit('need'), task: U32, keys: arr(str(), LIST) },
  blob: { op: lit('blob'), task: U32, digest: str(32, HEX_DIGEST), offset: int(), length: int(1, 1 << 20) },
  status: { op: lit('status') },
  run: {
    op: lit('run'), task: U32, shell: opt(str()), argv: opt(arr(str(), 10_000)), cwd: str(), env: opt(rec(str(), 10_000)),
    outputs: opt(arr(str(), 10_000)), depfile: opt(str()), cache: opt(bool), remote: opt(bool),
  },
};

export function parseNeed(payload: Buffer | undefined): NeedOp | ProtocolError {
  const v = parseJson(payload);
  if (isProtocolError(v)) return v;
  const op = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as { op?: unknown }).op : undefined;
  if (typeof op !== 'string' || !Object.hasOwn(NEED_OPS, op)) return refuse(`NEED: unknown op ${JSON.stringify(op)?.slice(0, 64) ?? 'undefined'}`);
  return decodeShape<NeedOp>(payload, `NEED "${op}"`, NEED_OPS[op as NeedOpName], 64 << 20);
}

export interface WireAnswer {
  key: string;
  hash: string;
  value?: string;
}

export interface NeedAnswer {
  answers: WireAnswer[];
}

const NEED_ANSWER: Shape = { answers: arr(obj({ key: str(), hash: str(NAME), value: opt(str(TEXT)) })) };

export function parseNeedAnswer(payload: Buffer | undefined): NeedAnswer | ProtocolError {
  return decodeShape<NeedAnswer>(payload, 'NEED answer', NEED_ANSWER, 64 << 20);
}

/** The answer to a `run` NEED: how the command ended, what it printed, where it ran. */
export interface RunAnswer {
  exit: number;
  signal?: string;
  spawnError?: string;
  output: string;
  stdout: string;
  /** 'local', or the id of the node that ran it. */
  node: string;
  /** With the action cache on and the action cacheable: restored ('local'), from a node's cache ('node:<id>') or recorded ('miss'). */
  cache?: 'local' | 'miss' | `node:${string}`;
}

const RUN_ANSWER: Shape = {
  exit: int(-1, 0xffff), signal: opt(str(NAME)), spawnError: opt(str(TEXT)), output: str(TEXT), stdout: str(TEXT), node: str(NAME),
  cache: opt(str(NAME, /^(?:local|miss|node:\S+)$/)),
};

export function parseRunAnswer(payload: Buffer | undefined): RunAnswer | ProtocolError {
  return decodeShape<RunAnswer>(payload, 'run answer', RUN_ANSWER, 64 << 20);
}

// ---------------------------------------------------------------------------------------------
// What a build node answers to the client thread of `b build` and to `b status`: the build's
// progress events (NDJSON batches), its reply, and a node's status. They cross a thread (the
// in-process node) or a socket (`b status` of a remote node), so they are declared and
// validated here like every other message, never cast from JSON where they are read.

/** The action cache's part in an action: restored here, from a node's cache, or recorded. */
export type CacheOutcome = 'local' | 'miss' | `node:${string}`;
const CACHE_OUTCOME = str(NAME, /^(?:local|miss|node:\S+)$/);

/**
 * Why an action runs, as data: each renderer words it (ninja-status.ts in `-d explain`'s words,
 * progress.ts in B's). Keys are shown keys (BuildDescription.show).
 */
export type DirtyReason =
  /** No trace: never built here (or its last run failed). `exists`: its first output is on disk. */
  | { kind: 'never-built'; output: string; exists: boolean }
  | { kind: 'always' }
  | { kind: 'command-changed'; output: string }
  | { kind: 'output-missing'; output: string }
  | { kind: 'output-modified'; output: string }
  /** An output the trace does not list (a dyndep file or an edited manifest added it). */
  | { kind: 'output-new'; output: string; exists: boolean }
  /** The list of inputs itself changed (an edited manifest). */
  | { kind: 'inputs-changed'; output: string }
  /** An input's answer changed. `generated`: some action produces it. */
  | { kind: 'input-changed'; output: string; input: string; generated: boolean }
  /** A dependency discovered by an earlier run (depfile, Bfile need) failed to build. */
  | { kind: 'dependency-failed'; output: string; input: string }
  /** A Bfile rule whose source changed and that would now run other commands. */
  | { kind: 'rule-changed'; detail: string };

const OUT = { output: str() };
const DIRTY_REASON = tagged('kind', {
  'never-built': { ...OUT, exists: bool },
  always: {},
  'command-changed': OUT,
  'output-missing': OUT,
  'output-modified': OUT,
  'output-new': { ...OUT, exists: bool },
  'inputs-changed': OUT,
  'input-changed': { ...OUT, input: str(), generated: bool },
  'dependency-failed': { ...OUT, input: str() },
  'rule-changed': { detail: str(TEXT) },
});

/**
 * How a command that failed ended, as data (ninja's ExitStatus, n2's Termination): renderers
 * derive `FAILED: [code=N]` and the build's exit code from it, never from a message.
 */
export type Termination =
  | { kind: 'exit'; code: number }
  | { kind: 'signal'; signal: string }
  | { kind: 'spawn-error'; message: string };

const TERMINATION = tagged('kind', {
  exit: { code: int(-0x7fffffff, 0x7fffffff) },
  signal: { signal: str(NAME) },
  'spawn-error': { message: str(TEXT) },
});

const FAILURE = obj({ code: str(NAME), message: str(TEXT), hint: opt(str(TEXT)), where: opt(str()), fields: opt(rec(SCALAR, 256)) });
const SENT_RECEIVED = obj({ sent: int(), received: int() });

export interface BuildEvent {
  /** `command`: one command a Bfile rule ran as an action (bfile-farm.ts): where, and the cache's part. */
  event: 'start' | 'run' | 'finish' | 'output' | 'command';
  /** When it happened (ms since the epoch). */
  t?: number;
  key: string;
  action?: string;
  description?: string;
  status?: 'ok' | 'failed' | 'skipped';
  ran?: boolean;
  ms?: number;
  node?: string;
  /** Why it ran (`run` and `finish` events of actions that ran). */
  reason?: DirtyReason;
  /** How its command ended, when it failed because of that (`finish` events). */
  termination?: Termination;
  /** Why it ran where it ran (e.g. fell back to this machine because a node died). */
  note?: string;
  bytes?: { sent: number; received: number };
  /** Action cache outcome of a cacheable action (`finish` events). */
  cache?: CacheOutcome;
  cacheBytes?: number;
  output?: string;
  error?: Failure;
}

const BUILD_EVENT: Shape = {
  event: str(NAME, /^(?:start|run|finish|output|command)$/), t: opt(num), key: str(), action: opt(str()), description: opt(str(TEXT)),
  status: opt(str(NAME, /^(?:ok|failed|skipped)$/)), ran: opt(bool), ms: opt(num), node: opt(str(NAME)), reason: opt(DIRTY_REASON),
  termination: opt(TERMINATION), note: opt(str(TEXT)), bytes: opt(SENT_RECEIVED), cache: opt(CACHE_OUTCOME), cacheBytes: opt(int()),
  output: opt(str(TEXT)), error: opt(FAILURE),
};

/**
 * A batch of events as the node sends it: one JSON object per line. All or nothing. Each line is
 * checked as decodeShape checks a payload (JSON, shape, no duplicate key), from the batch's text
 * decoded once: a Buffer per line decoded again was two copies of every event (two events a
 * remote compile).
 */
export function parseEventBatch(payload: Buffer): BuildEvent[] | ProtocolError {
  if (payload.length > 64 << 20) return refuse(`build events of ${payload.length} bytes are more than ${64 << 20}`);
  const out: BuildEvent[] = [];
  for (const line of payload.toString('utf8').split('\n')) {
    if (line === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      return { error: 'json', message: `payload is not valid JSON: ${(e as Error).message}` };
    }
    const bad = checkShape(v, BUILD_EVENT, 'build event');
    if (bad) return bad;
    const dup = duplicateKey(line);
    if (dup !== undefined) return refuse(`build event has the field "${dup.slice(0, 64)}" twice`);
    out.push(v as BuildEvent);
  }
  return out;
}

export interface BuildReply {
  ok: boolean;
  ran: number;
  upToDate: number;
  failed: number;
  errors: Failure[];
  dead: string[];
  notices: string[];
  ms: number;
  /** Files hashed and stat'ed by the engine (a no-op build hashes none). */
  hashed: number;
  stats: number;
  /** ZeroMQ messages this process's broker sent and received during the build. */
  messages?: { sent: number; received: number };
  /** File bytes sent to nodes (inputs) and received from them (outputs). */
  bytes?: { sent: number; received: number };
  /** Milliseconds spent loading the build file, opening the database, building. */
  phases?: { load: number; db: number; build: number };
  /** Why no no-op snapshot was written after this build (for --verbose); absent when one was. */
  noSnapshot?: string;
  /** With `--cache-upload`: results stored in nodes' caches (once per node), blob bytes sent, nodes. */
  uploaded?: { results: number; bytes: number; nodes: number };
  /** Worker threads the build node had started by the end of the build (for --verbose). */
  workersStarted?: number;
}

const BUILD_REPLY: Shape = {
  ok: bool, ran: int(), upToDate: int(), failed: int(), errors: arr(FAILURE), dead: arr(str()), notices: arr(str(TEXT)), ms: num,
  hashed: int(), stats: int(), messages: opt(SENT_RECEIVED), bytes: opt(SENT_RECEIVED), phases: opt(obj({ load: num, db: num, build: num })),
  noSnapshot: opt(str(TEXT)), uploaded: opt(obj({ results: int(), bytes: int(), nodes: int() })), workersStarted: opt(int()),
};

export function parseBuildReply(payload: Buffer | undefined): BuildReply | ProtocolError {
  return decodeShape<BuildReply>(payload, 'build reply', BUILD_REPLY, 64 << 20);
}

/** A node this node uses, as its status shows it (peers.ts). */
export interface PeerStatus {
  address: string;
  node: string | null;
  alive: boolean;
  workers: number;
  inflight: number;
  incompatible: string | null;
  unhealthy: boolean;
  secure: boolean;
  /** Tool name to the version line the node reported. */
  tools: Record<string, string>;
  sent: number;
  done: number;
  failed: number;
  requeued: number;
  deaths: number;
}

/** What a node says of itself to `b status` (broker.ts status()). */
export interface NodeStatus {
  node: string;
  b: string;
  protocol: number;
  platform: string;
  pid: number;
  uptime: number;
  workers: number;
  /** Command slots (items running at once). */
  jobs: number;
  running: number;
  busy: number;
  queued: number;
  endpoints: string[];
  secure: boolean;
  insecure: boolean;
  files: string;
  /** Names and key prefixes only: routing ids are credentials on keyed sockets. */
  clients: { name: string; role: string; remote: boolean; key: string; tasks: number }[];
  peers: PeerStatus[];
  stats: Record<string, number>;
  messages: { sent: number; received: number };
  dropped: Record<string, number>;
}

const PEER_STATUS = obj({
  address: str(), node: nullable(str(NAME)), alive: bool, workers: int(), inflight: int(), incompatible: nullable(str(TEXT)), unhealthy: bool,
  secure: bool, tools: rec(str(NAME), 256), sent: int(), done: int(), failed: int(), requeued: int(), deaths: int(),
});

const NODE_STATUS: Shape = {
  node: str(NAME), b: str(NAME), protocol: int(), platform: str(NAME), pid: int(), uptime: int(), workers: int(), jobs: int(), running: int(),
  busy: int(), queued: int(), endpoints: arr(str(), 256), secure: bool, insecure: bool, files: str(TEXT),
  clients: arr(obj({ name: str(NAME), role: str(NAME), remote: bool, key: str(NAME), tasks: int() }), 100_000),
  peers: arr(PEER_STATUS, 10_000), stats: rec(num, 256), messages: SENT_RECEIVED, dropped: rec(int(), 256),
};

export function parseNodeStatus(payload: Buffer | undefined): NodeStatus | ProtocolError {
  return decodeShape<NodeStatus>(payload, 'node status', NODE_STATUS, 64 << 20);
}
