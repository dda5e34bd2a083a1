// What a worker can do with a work item. A work item is a small JSON object whose `k` names the
// kind; results are JSON too. The broker never looks inside either.

import { execCommand, type ExecRequest, type ExecResult } from './exec.ts';
import type { RuleWork } from './bfile.ts';
import type { CmdWork } from './ninja-build.ts';
import type { ProbeWork } from './toolchain.ts';
import type { RexecWork } from './rexec.ts';

export interface TaskContext {
  worker: string;
  task: number;
  signal: AbortSignal;
  /** Runs another work item through the broker (any worker, possibly this one) and waits. */
  submit(work: Buffer | object): Promise<Buffer>;
  /** Asks the build engine questions (see engine.ts) and waits for the answers. */
  need(request: object): Promise<Buffer>;
  /**
   * Waits for `p` (a command this task started) suspended: the worker runs other items
   * meanwhile, so running commands hold no thread.
   */
  wait<R>(p: Promise<R>): Promise<R>;
}

export type WorkItem =
  | { k: 'echo'; d?: unknown }
  | ({ k: 'exec' } & ExecRequest)
  | { k: 'fib'; n: number }
  | { k: 'throw'; message: string }
  | { k: 'sleep'; ms: number }
  | RuleWork
  | CmdWork
  | ProbeWork
  | RexecWork
  | { k: 'cas-get'; digest: string; offset: number; length: number };

export type Handler = (item: WorkItem, ctx: TaskContext) => Promise<unknown>;

const extra = new Map<string, Handler>();

/** Adds a kind of work (the build engine registers its rule runner here). */
export function registerHandler(kind: string, h: Handler): void {
  extra.set(kind, h);
}

const ECHO = Buffer.from('{"k":"echo"');

function json(x: unknown): Buffer {
  return Buffer.from(JSON.stringify(x), 'utf8');
}

export async function handle(payload: Buffer, ctx: TaskContext): Promise<Buffer> {
  // Trivial items are answered without a parse: they exist to measure the runtime itself.
  if (payload.length >= ECHO.length && payload.subarray(0, ECHO.length).equals(ECHO)) return payload;
  const item = JSON.parse(payload.toString('utf8')) as WorkItem;
  switch (item.k) {
    case 'echo':
      return payload;
    case 'exec': {
      const r: ExecResult = await ctx.wait(execCommand(item, ctx.signal));
      return json(r);
    }
    case 'fib': {
      // A recursive job: each level asks the broker to run the two smaller ones, so it proves
      // that work submitted from inside a worker completes even with a single worker.
      if (item.n < 2) return json({ v: item.n });
      const [a, b] = await Promise.all([ctx.submit({ k: 'fib', n: item.n - 1 }), ctx.submit({ k: 'fib', n: item.n - 2 })]);
      const va = (JSON.parse(a.toString()) as { v: number }).v;
      const vb = (JSON.parse(b.toString()) as { v: number }).v;
      return json({ v: va + vb });
    }
    case 'throw':
      throw new Error(item.message);
    case 'rexec': {
      const { runRexec } = await import('./rexec.ts');
      return json(await runRexec(item, ctx));
    }
    case 'cas-get': {
      const { casGet } = await import('./rexec.ts');
      return json(casGet(item));
    }
    case 'probe': {
      const { probe } = await import('./toolchain.ts');
      return json(await ctx.wait(probe(item)));
    }
    case 'cmd': {
      const { runCmd } = await import('./ninja-run.ts');
      return json(await runCmd(item, ctx));
    }
    case 'rule': {
      const { runRule } = await import('./bfile-run.ts');
      return json(await runRule(item, ctx));
    }
    case 'sleep':
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, item.ms);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new Error('cancelled'));
        }, { once: true });
      });
      return json({ slept: item.ms });
    default: {
      const k = (item as { k?: unknown }).k;
      const h = typeof k === 'string' ? extra.get(k) : undefined;
      if (h === undefined) throw new Error(`this node cannot run work of kind ${JSON.stringify(k)}`);
      const out = await h(item, ctx);
      return Buffer.isBuffer(out) ? out : json(out);
    }
  }
}
