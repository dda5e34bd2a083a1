// `b debug ...`: internal jobs that exercise the runtime, used by the tests and benchmarks.
// - fib N: a recursive job whose items submit more items from inside workers;
// - throw: a job whose handler throws, to see the failure reply;
// - bench: round trips of trivial items through client -> broker -> worker -> client;
// - startup: how this process started (whether the executable's code cache was accepted).

import { LocalNode } from './runtime.ts';
import { onInterrupt } from './signals.ts';
import { UserError } from './errors.ts';
import type { Logger } from './logger.ts';

export interface DebugOptions {
  workers?: number;
  ioThreads?: number;
  items?: number;
  inflight?: number;
  size?: number;
}

export async function debugCmd(job: string, args: string[], o: DebugOptions, log: Logger): Promise<number> {
  if (job === 'startup') {
    // Set by sea-main.ts; absent when B runs as `node b.cjs`, from sources or under Deno.
    const cache = (globalThis as { __bCodeCache?: string }).__bCodeCache ?? 'not a single executable';
    const { spawnThread } = await import('./threads.ts');
    const probe = spawnThread({ kind: 'probe' }, 'b-probe');
    const thread = await new Promise<unknown>((resolve, reject) => {
      probe.once('message', resolve);
      probe.once('error', reject);
    }).finally(() => probe.terminate());
    log.out(JSON.stringify({ codeCache: cache, thread, node: process.version }));
    return 0;
  }
  const node = await LocalNode.start({ ...(o.workers !== undefined ? { workers: o.workers } : {}), ioThreads: o.ioThreads ?? 1 }, log);
  const { Client } = await import('./client.ts');
  const client = new Client(node.frontend);
  let interrupted = false;
  const off = onInterrupt(() => {
    interrupted = true;
    void node.stop('interrupted');
  });
  try {
    await client.hello('b debug');
    switch (job) {
      case 'fib': {
        const n = Number(args[0] ?? 10);
        if (!Number.isInteger(n) || n < 0 || n > 30) throw new UserError({ code: 'usage', message: 'b debug fib N: N from 0 to 30' });
        const r = JSON.parse((await client.submit({ k: 'fib', n })).toString()) as { v: number };
        log.out(JSON.stringify({ n, fib: r.v, workers: node.info.workers }));
        return 0;
      }
      case 'throw': {
        try {
          await client.submit({ k: 'throw', message: args[0] ?? 'thrown on purpose' });
          log.out(JSON.stringify({ failed: false }));
          return 1;
        } catch (e) {
          log.out(JSON.stringify({ failed: true, failure: (e as { failure?: unknown }).failure ?? String(e) }));
        }
        // The node keeps serving after a failure.
        const after = JSON.parse((await client.submit({ k: 'fib', n: 5 })).toString()) as { v: number };
        log.out(JSON.stringify({ after: after.v }));
        return 0;
      }
      case 'sleep': {
        const ms = Number(args[0] ?? 1000);
        await client.submit({ k: 'sleep', ms });
        return interrupted ? 130 : 0;
      }
      case 'bench': {
        const items = o.items ?? 100_000;
        const inflight = o.inflight ?? 500;
        const size = o.size ?? 32;
        const pad = 'x'.repeat(Math.max(0, size - 15));
        const payload = Buffer.from(`{"k":"echo","d":"${pad}"}`);
        // Warm-up: every worker started and answering.
        await Promise.all(Array.from({ length: 200 }, () => client.submit(payload)));
        let sent = 0;
        let done = 0;
        const t0 = process.hrtime.bigint();
        await new Promise<void>((resolve, reject) => {
          const next = (): void => {
            if (sent >= items) return;
            sent++;
            client.submit(payload).then(() => {
              done++;
              if (done === items) resolve();
              else next();
            }, reject);
          };
          for (let i = 0; i < Math.min(inflight, items); i++) next();
        });
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        log.out(JSON.stringify({ items, inflight, size: payload.length, workers: node.info.workers, ioThreads: o.ioThreads ?? 1, seconds: s, rtps: items / s }));
        return 0;
      }
      default:
        throw new UserError({ code: 'usage', message: `unknown debug job "${job}"`, hint: 'jobs: fib N, throw, sleep MS, bench' });
    }
  } finally {
    off();
    await node.stop('done');
    client.close();
  }
}
