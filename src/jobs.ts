// What a worker can do with a work item: decodes it once (messages.ts: strict, by kind) and
// runs the handler of its kind. Results are JSON too. The broker never looks inside either.
// A build in the caller's own thread (build-local.ts) runs build items through runBuildWork and
// gets the outcome as an object: nothing crossed a thread, so nothing is encoded.

import { execCommand } from './exec.ts';
import { isProtocolError } from './protocol.ts';
import { BUILD_KINDS, encodeWork, parseWork, type BuildWork, type Outcome, type WorkItem } from './messages.ts';
import type { TaskContext } from './task-context.ts';

export type { TaskContext } from './task-context.ts';
export type { WorkItem } from './messages.ts';

function json(x: unknown): Buffer {
  return Buffer.from(JSON.stringify(x), 'utf8');
}

/** Whether a work item is one a build runs here (the others exist to test the runtime). */
export function isBuildWork(item: WorkItem): item is BuildWork {
  return item.k === 'cmd' || item.k === 'run' || BUILD_KINDS.has(item.k);
}

/** Runs a build's work item here; its result as an object, tagged with its kind. */
export async function runBuildWork(item: BuildWork, ctx: TaskContext): Promise<Outcome> {
  switch (item.k) {
    case 'rexec': {
      const { runRexec } = await import('./rexec.ts');
      const r = await runRexec(item, ctx);
      if (item.cache !== undefined) {
        const { recordRexec } = await import('./node-cache.ts');
        // A full disk or a removed cache directory costs the entry, not the item.
        await recordRexec(item, r).catch(() => false);
      }
      return { k: 'rexec', r };
    }
    case 'cache-lookup': {
      const { cacheLookup } = await import('./node-cache.ts');
      return { k: 'cache-lookup', r: await cacheLookup(item) };
    }
    case 'cache-put': {
      const { cachePut } = await import('./node-cache.ts');
      return { k: 'cache-put', r: await cachePut(item) };
    }
    case 'cas-put': {
      const { casPut } = await import('./node-cache.ts');
      return { k: 'cas-put', r: casPut(item) };
    }
    case 'fenced': {
      const { runFenced } = await import('./fence.ts');
      return { k: 'fenced', r: await runFenced(item, ctx) };
    }
    case 'cas-get': {
      const { casGet } = await import('./rexec.ts');
      return { k: 'cas-get', r: casGet(item) };
    }
    case 'probe': {
      const { probe } = await import('./toolchain.ts');
      return { k: 'probe', r: await ctx.wait(probe(item)) };
    }
    case 'cmd': {
      const { runCmd } = await import('./ninja-run.ts');
      return { k: 'cmd', r: await runCmd(item, ctx) };
    }
    case 'run': {
      const { runHere } = await import('./bfile-exec.ts');
      return { k: 'run', r: await runHere(item, ctx) };
    }
    case 'rule': {
      const { runRule } = await import('./bfile-run.ts');
      return { k: 'rule', r: await runRule(item, ctx) };
    }
  }
}

export async function handle(payload: Buffer, ctx: TaskContext): Promise<Buffer> {
  const item = parseWork(payload);
  if (isProtocolError(item)) throw new Error(`refused work item: ${item.message}`);
  switch (item.k) {
    case 'echo':
      return payload;
    case 'exec':
      return json(await ctx.wait(execCommand(item, ctx.signal)));
    case 'fib': {
      // A recursive job: each level asks the broker to run the two smaller ones, so it proves
      // that work submitted from inside a worker completes even with a single worker.
      if (item.n < 2) return json({ v: item.n });
      const [a, b] = await Promise.all([ctx.submit(encodeWork({ k: 'fib', n: item.n - 1 })), ctx.submit(encodeWork({ k: 'fib', n: item.n - 2 }))]);
      return json({ v: fibValue(a) + fibValue(b) });
    }
    case 'throw':
      throw new Error(item.message);
    case 'sleep':
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, item.ms);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new Error('cancelled'));
        }, { once: true });
      });
      return json({ slept: item.ms });
    default:
      return json((await runBuildWork(item, ctx)).r);
  }
}

function fibValue(b: Buffer): number {
  const v = (JSON.parse(b.toString('utf8')) as { v?: unknown }).v;
  if (typeof v !== 'number') throw new Error('fib: malformed result');
  return v;
}
