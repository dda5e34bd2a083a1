// The engine's vocabulary (Shake's "types" layer): what a front end describes (actions, build
// descriptions), what the engine answers (Answer), reports (BuildEvent, BuildSummary) and needs
// from its host (EngineHost). No logic here: engine.ts runs builds, database.ts remembers them,
// bfile.ts and ninja-build.ts describe them.

import type { FileState, Trace } from './database.ts';
import type { Failure } from './protocol.ts';
import type { TaskMeta } from './peers.ts';

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
  /** What to send a worker. `ctx` lets it depend on keys while it runs. */
  work(): Buffer;
  /** Turns a worker's result into the outcome, or a failure. */
  complete(result: Buffer, ctx: RunContext): Promise<Completed | Failure>;
  /**
   * When the trace verifies but the action's own source changed (an edited Bfile), a payload
   * that runs it again against its recorded commands without executing them: if it would do
   * exactly the same, it is up to date after all.
   */
  replay?(trace: Trace): Buffer | undefined;
  replayed?(result: Buffer): { same: boolean; reason: string; extra: string };
  /** Where it may run: another node (and what that node must have), or only here. */
  placement?: TaskMeta;
  /**
   * A self-contained work item (inputs as content digests) for nodes that do not share this
   * machine's files, or undefined if the action cannot run on such a node. Asked for lazily.
   */
  remote?(): Buffer | undefined;
  /**
   * Whether the recorded fingerprint can be trusted without computing the current one (Ninja:
   * the trace was verified against a byte-identical manifest, so the command cannot differ; this
   * spares a no-op build from evaluating every command line).
   */
  trustsFingerprint?(trace: Trace): boolean;
  /** A trace to store after this one verified (to mark it checked against the current manifest). */
  stamp?(trace: Trace): Trace | undefined;
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
}

export interface RunContext {
  /** Builds keys on behalf of the running action, recording them as a dependency group. */
  need(keys: string[]): Promise<Answer[]>;
  /** Copies a blob from the node that ran the action into `dest` (remote execution outputs). */
  fetch(digestHex: string, size: number, dest: string): Promise<void>;
}

export interface BuildDescription {
  /** Directory relative file keys are resolved against. */
  root: string;
  actionFor(key: string): Action | undefined;
  defaults(): string[];
  pools: Map<string, number>;
  /** Human form of a key, for messages. */
  show(key: string): string;
}

export interface Answer {
  key: string;
  hash: string;
  value?: string;
}

export interface BuildEvent {
  event: 'start' | 'run' | 'finish' | 'output';
  /** When it happened (ms since the epoch). */
  t?: number;
  key: string;
  action?: string;
  description?: string;
  status?: 'ok' | 'failed' | 'skipped';
  ran?: boolean;
  ms?: number;
  node?: string;
  reason?: string;
  /** Why it ran where it ran (e.g. fell back to this machine because a node died). */
  note?: string;
  bytes?: { sent: number; received: number };
  output?: string;
  error?: Failure;
}

export interface EngineHost {
  /** Runs work on some worker; `task` is called with the broker task id when it is dispatched. */
  submit(payload: Buffer, task: (id: number) => void, meta?: TaskMeta, remote?: () => Buffer | undefined): Promise<{ ok: true; payload: Buffer; worker: string; note?: string } | { ok: false; failure: Failure }>;
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
