// Renders build events for a person: Ninja-style `[done/total] description` lines (one updating
// line on a smart terminal), the full output of any command that printed something, and for a
// failure the rule, its command and its output. `--events FILE` gets every event as NDJSON.

import * as fs from 'node:fs';
import type { Logger } from './logger.ts';
import type { BuildEvent, DirtyReason } from './engine.ts';
import { formatStatus } from './status-format.ts';
import { CacheTally, cachedSuffix } from './cache-tally.ts';

export interface ProgressOptions {
  explain: boolean;
  /** NINJA_STATUS-style format; default "[%f/%t] ". */
  status?: string;
  eventsFile?: string;
  verbose?: boolean;
}

export class Progress {
  private started = 0;
  private finished = 0;
  private failed = 0;
  private running = 0;
  private readonly t0 = Date.now();
  private readonly events: number | undefined;
  private readonly log: Logger;
  private readonly opts: ProgressOptions;
  private readonly descriptions = new Map<string, string>();
  /** Where each rule ran, counted per node (summary line). */
  readonly nodes = new Map<string, number>();
  /** Commands of Bfile rules that ran on other nodes, by node. */
  readonly commandNodes = new Map<string, number>();
  /** Action cache hits and misses (summary line). */
  readonly cache = new CacheTally();

  constructor(log: Logger, opts: ProgressOptions) {
    this.log = log;
    this.opts = opts;
    this.events = opts.eventsFile !== undefined ? fs.openSync(opts.eventsFile, 'w') : undefined;
  }

  /** One event (from a build in this thread, or decoded from the node's batches by cmd-build.ts). */
  one(e: BuildEvent): void {
    if (this.events !== undefined) fs.writeSync(this.events, JSON.stringify(e) + '\n');
    this.event(e);
  }

  private statusPrefix(): string {
    // B knows no total up front: it is the rules started so far (the count still to start is 0).
    return formatStatus(this.opts.status ?? '[%f/%t] ', {
      started: this.started, finished: this.finished, total: Math.max(this.started, this.finished), running: this.running,
      elapsedMs: Date.now() - this.t0, currentRate: -1, predicted: 0,
    });
  }

  event(e: BuildEvent): void {
    switch (e.event) {
      case 'run':
        this.started++;
        this.running++;
        this.descriptions.set(e.key, e.description ?? e.key);
        if (this.opts.explain && e.reason) this.log.info(`explain: ${e.key}: ${reasonText(e.reason)}`);
        // Like Ninja: a smart terminal shows each rule as it starts (on one updating line);
        // otherwise a line is printed when a rule finishes.
        if (this.log.smartTerminal) this.log.status(this.statusPrefix() + (e.description ?? e.key));
        return;
      case 'finish': {
        if (!e.ran) return;
        this.running = Math.max(0, this.running - 1);
        this.finished++;
        this.cache.event(e);
        this.log.status(this.statusPrefix() + (this.descriptions.get(e.key) ?? e.key) + cachedSuffix(e.cache));
        this.descriptions.delete(e.key);
        if (e.node) this.nodes.set(e.node, (this.nodes.get(e.node) ?? 0) + 1);
        if (e.status === 'failed') {
          this.failed++;
          this.log.clearStatus();
          const where = e.error?.where && e.error.where !== e.key ? ` (${e.error.where})` : '';
          let text = `FAILED: ${e.key}${where}\n`;
          if (e.error?.message) text += `${e.error.message}\n`;
          if (e.output) text += e.output.endsWith('\n') ? e.output : `${e.output}\n`;
          this.log.raw(text);
        } else if (e.output) {
          this.log.finishStatus();
          this.log.raw(e.output.endsWith('\n') ? e.output : `${e.output}\n`);
        }
        return;
      }
      case 'command':
        // A Bfile rule's command run as an action (bfile-farm.ts): the cache's count, and where.
        this.cache.event(e);
        if (e.node !== undefined && e.node !== 'local') this.commandNodes.set(e.node, (this.commandNodes.get(e.node) ?? 0) + 1);
        return;
      default:
        return;
    }
  }

  get counts(): { started: number; finished: number; failed: number } {
    return { started: this.started, finished: this.finished, failed: this.failed };
  }

  close(): void {
    this.log.finishStatus();
    if (this.events !== undefined) fs.closeSync(this.events);
  }
}

/** Why a rule runs, in B's words (`--explain`). */
export function reasonText(r: DirtyReason): string {
  switch (r.kind) {
    case 'never-built': return 'never built';
    case 'always': return 'always runs';
    case 'command-changed': return 'command changed';
    case 'output-missing': return `output ${r.output} is missing`;
    case 'output-modified': return `output ${r.output} was modified`;
    case 'output-new': return `output ${r.output} is new`;
    case 'inputs-changed': return 'inputs changed';
    case 'input-changed': return `${r.input} changed`;
    case 'dependency-failed': return `dependency ${r.input} failed to build`;
    case 'rule-changed': return r.detail !== '' ? r.detail : 'rule changed';
  }
}
