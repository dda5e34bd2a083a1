// The engine's vocabulary (Shake's "types" layer): what a front end describes (actions, build
// descriptions), what the engine answers (Answer), reports (BuildEvent, BuildSummary) and needs
// from its host (EngineHost). No logic here beyond decoding those values: engine.ts runs builds, database.ts remembers them,
// bfile.ts and ninja-build.ts describe them.

import type { FileState, Trace } from './database.ts';
import type { Failure } from './protocol.ts';
import type { RemotePayload, Reply, TaskMeta, WorkItem } from './messages.ts';
import type { BuildEvent, CacheOutcome, DirtyReason, Termination } from './need-messages.ts';

// Declared with the other messages a node sends its clients (they cross a thread or a socket).
export type { BuildEvent, CacheOutcome, DirtyReason, Termination };

/**
 * Keys that are not files start with a NUL, which no path holds: an oracle (a Bfile's
 * `oracle` rule) is ORACLE + its name, an environment variable ENV + its name. Declared here,
 * once, because the front end asks them, the host answers them and the snapshot lists them.
 */
export const ORACLE = '\u0000';
export const ENV = '\u0000env:';

/** The variable an ENV key asks for, or undefined for any other key. */
export function envName(key: string): string | undefined {
  return key.startsWith(ENV) ? key.slice(ENV.length) : undefined;
}

/** A unit of work that produces keys. Built by a front end (bfile.ts, ninja-build.ts). */
export interface Action {
  id: string;
  /** Files it writes (keys). */
  outputs: string[];
  /** The non-file key it answers, if any. */
  answers?: string;
  /** What it does (command line, rule source): a change means it must run again. */
  fingerprint: number;
  /** Keys needed before it runs, recorded as its first dependency group. */
  inputs: string[];
  /** Keys built before it runs that are not dependencies (Ninja's order-only inputs). */
  orderOnly: string[];
  /** Keys built whenever this action is wanted, without blocking it (Ninja's |@). */
  validations: string[];
  pool: string;
  /** Produces no files and runs nothing: its answer combines its inputs' (Ninja phony). */
  phony: boolean;
  /** Runs on every build. */
  always: boolean;
  /** A changed fingerprint alone does not make it run (Ninja generator rules). */
  generator: boolean;
  /** Shown in progress lines; empty shows the action id. */
  description: string;
  /** What to send a worker (encoded only if it leaves this thread). */
  work(): WorkItem;
  /** Turns a worker's result into the outcome, or a failure. */
  complete(result: Reply, ctx: RunContext): Promise<Completed | Failure>;
  /**
   * When the trace verifies but the action's own source changed (an edited Bfile), a payload
   * that runs it again against its recorded commands without executing them: if it would do
   * exactly the same, it is up to date after all.
   */
  replay?(trace: Trace): WorkItem | undefined;
  replayed?(result: Reply): { same: boolean; reason: string; extra: string };
  /** Where it may run: another node (and what that node must have), or only here. */
  placement?: TaskMeta;
  /**
   * The work item for another node, or undefined if the action cannot run on such a node; asked
   * for lazily. `shared`: a node that sees this machine's files gets a fenced item (fence.ts),
   * one that does not a self-contained one (inputs as content digests, rexec.ts).
   */
  remote?(shared: boolean): Buffer | undefined;
  /**
   * Whether the recorded fingerprint can be trusted without computing the current one (Ninja:
   * the trace was verified against a byte-identical manifest, so the command cannot differ; this
   * spares a no-op build from evaluating every command line).
   */
  trustsFingerprint?(trace: Trace): boolean;
  /** A trace to store after this one verified (to mark it checked against the current manifest). */
  stamp?(trace: Trace): Trace | undefined;
  /**
   * The outcome from the action cache (outputs already written), or undefined to run it. Asked
   * once its inputs are built; `answer` builds or reads keys without recording them (the
   * dependencies a cached result lists, to compare their digests).
   */
  lookup?(inputs: Answer[], answer: (keys: string[]) => Promise<Answer[]>): Promise<Completed | undefined>;
  /** Runs before the inputs are built; may add inputs and outputs (Ninja dyndep files). */
  prepare?(answer: (key: string) => Promise<Answer>): Promise<void>;
}

export interface Completed {
  /** States of the outputs as written (undefined: the action did not create it). */
  outputs: Map<string, FileState | undefined>;
  /** Dependencies discovered while or after it ran (depfile), as one group. */
  discovered: string[];
  value: string | undefined;
  output: string;
  extra: string;
  /** Bytes moved to and from another node for this action (remote execution). */
  bytes?: { sent: number; received: number };
  /** Action cache: restored from the local cache or a node's, or cacheable and not found (then recorded). */
  cache?: CacheOutcome;
  /** Bytes of outputs restored from the cache. */
  cacheBytes?: number;
}


export interface RunContext {
  /** Builds keys on behalf of the running action, recording them as a dependency group. */
  need(keys: string[]): Promise<Answer[]>;
  /** Copies a blob from the node that ran the action into `dest` (remote execution outputs). */
  fetch(digestHex: string, size: number, dest: string): Promise<void>;
  /** The other node that ran it; undefined when it ran in this process. */
  node?: string | undefined;
}

export interface BuildDescription {
  /** Directory relative file keys are resolved against. */
  root: string;
  actionFor(key: string): Action | undefined;
  defaults(): string[];
  pools: Map<string, number>;
  /** Human form of a key, for messages. */
  show(key: string): string;
  /**
   * Who starts first among ready actions, and when (Ninja manifests: ninja's critical-path
   * order, start-order.ts). Without it the engine hands a freed -j token to the newest waiter.
   * `jobs`: -j, 0 for no limit.
   */
  startOrder?(targets: string[], jobs: number): StartOrder;
}

/** Hands out -j tokens and pool slots to ready actions in a front end's order. */
export interface StartOrder {
  acquire(a: Action): Promise<void>;
  release(a: Action): void;
  /** In a dry run, resolves when the action started may be taken as finished. */
  dryFinish?(): Promise<void>;
}

export interface Answer {
  key: string;
  hash: string;
  value?: string;
}

/**
 * A command's termination from the typed fields a front end puts in its Failure (`exit`:
 * number, `signal`: string, `spawnError`: string); undefined when the failure is not a
 * command's (a depfile error after a successful command, a dependency, ...).
 */
export function terminationOf(f: Failure): Termination | undefined {
  const x = f.fields;
  if (x === undefined) return undefined;
  if (typeof x.spawnError === 'string') return { kind: 'spawn-error', message: x.spawnError };
  if (typeof x.signal === 'string' && x.signal !== '') return { kind: 'signal', signal: x.signal };
  if (typeof x.exit === 'number' && x.exit !== 0) return { kind: 'exit', code: x.exit };
  return undefined;
}

/** A command that ended as an interrupted one does (status 130, or SIGINT/SIGTERM/SIGHUP): the build stops. */
export function interrupts(t: Termination | undefined): boolean {
  if (t === undefined) return false;
  if (t.kind === 'exit') return t.code === 130;
  return t.kind === 'signal' && (t.signal === 'SIGINT' || t.signal === 'SIGTERM' || t.signal === 'SIGHUP');
}

export interface EngineHost {
  /** Runs work on some worker; `task` is called with the broker task id when it is dispatched. */
  submit(item: WorkItem, task: (id: number) => void, meta?: TaskMeta, remote?: RemotePayload): Promise<{ ok: true; payload: Reply; worker: string; note?: string } | { ok: false; failure: Failure }>;
  event(e: BuildEvent): void;
  /** Copies a blob from a node's store into a local file. */
  fetch(node: string, digestHex: string, size: number, dest: string): Promise<void>;
}

export interface EngineOptions {
  /** Most actions running at once (local and on other nodes); 0: no limit beyond the workers. */
  jobs?: number;
  keepGoing: number;
  dryRun: boolean;
  explain: boolean;
  /**
   * Ninja's -l: start no new action while the 1-minute load average exceeds this, unless none
   * is running (so the build always progresses). Undefined or <= 0: no limit.
   */
  loadLimit?: number;
}

export class BuildError extends Error {
  readonly failure: Failure;
  /** Already reported (the action's own failure, not a dependency's). */
  readonly counted: boolean;
  constructor(f: Failure, counted = false) {
    super(f.message);
    this.failure = f;
    this.counted = counted;
  }
}

export interface BuildSummary {
  ok: boolean;
  ran: number;
  upToDate: number;
  failed: number;
  errors: Failure[];
}
