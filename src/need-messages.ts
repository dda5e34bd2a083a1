// NEED operations (a running task's questions to the build host, and the client's build
// request) and their answers, declared once: as messages.ts does for work items and results,
// each op is a member of one union tagged by `op`, decoded once by parseNeed with a strict shape;
// who may ask which op is broker-policy.ts's call, after decoding.

import { isProtocolError, parseJson, type ProtocolError } from './protocol.ts';
import { HEX_DIGEST, LIST, NAME, TEXT, U32, arr, bool, decodeShape, int, lit, num, obj, opt, rec, refuse, str, type Shape } from './shape.ts';

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
