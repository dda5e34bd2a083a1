// `b exec -- CMD ARGS...`: run commands on the node's workers. With --count M it runs M items
// (each sees its index in $B_ITEM), which makes it a small parallel runner and the simplest way
// to push work through the whole runtime (client -> broker -> worker -> client) end to end.

import { LocalNode, defaultJobs, initZmq } from './runtime.ts';
import { onInterrupt } from './signals.ts';
import { UserError, RemoteFailure } from './errors.ts';
import type { Logger } from './logger.ts';
import { resultOrThrow } from './messages.ts';

export interface ExecCmdOptions {
  workers?: number;
  /** Commands at once (default: CPUs + 2, as Ninja's -j). */
  jobs?: number;
  ioThreads?: number;
  count?: number;
  json?: boolean;
  shell?: boolean;
}

export async function execCmd(argv: string[], o: ExecCmdOptions, log: Logger): Promise<number> {
  if (argv.length === 0) throw new UserError({ code: 'usage', message: 'b exec needs a command after --', hint: 'example: b exec --count 4 -- sh -c "echo $B_ITEM"' });
  const count = o.count ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new UserError({ code: 'usage', message: `--count must be a positive integer, got ${String(o.count)}` });
  const node = await LocalNode.start({ ...(o.workers !== undefined ? { workers: o.workers } : {}), jobs: o.jobs ?? defaultJobs(), ioThreads: o.ioThreads ?? 1 }, log);
  const { Client } = await import('./client.ts');
  await initZmq(o.ioThreads ?? 1);
  const client = new Client(node.frontend);
  let interrupted = false;
  const off = onInterrupt((sig) => {
    interrupted = true;
    log.info(`${sig}: stopping`);
    void node.stop(`received ${sig}`);
  });
  let failed = 0;
  const t0 = Date.now();
  try {
    await client.hello('b exec');
    const cwd = process.cwd();
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const item = o.shell
        ? { k: 'exec', shell: argv.join(' '), cwd, env: { B_ITEM: String(i) } }
        : { k: 'exec', argv, cwd, env: { B_ITEM: String(i) } };
      // Decoded in its own step, so that a malformed result counts as this item's failure.
      jobs.push(client.submit(item).then((buf) => resultOrThrow('exec', buf, 'the local node')).then(
        (r) => {
          const bad = r.exit !== 0;
          if (bad) failed++;
          if (o.json) log.out(JSON.stringify({ item: i, exit: r.exit, signal: r.signal ?? null, start: r.start, end: r.end, output: r.output, error: r.spawnError ?? null }));
          else {
            if (r.output) log.raw(r.output);
            if (r.spawnError) log.error(`item ${i}: cannot run ${argv[0]}: ${r.spawnError}`);
            else if (bad) log.error(`item ${i}: ${argv.join(' ')} exited with ${r.signal ?? r.exit}`);
          }
        },
        (e: unknown) => {
          failed++;
          const f = e instanceof RemoteFailure ? e.failure : { code: 'error', message: String(e) };
          if (o.json) log.out(JSON.stringify({ item: i, exit: null, failure: f }));
          else if (!interrupted) log.error(`item ${i}: ${f.message}`);
        },
      ));
    }
    await Promise.all(jobs);
  } finally {
    off();
    await node.stop('done');
    client.close();
  }
  if (interrupted) {
    log.error('interrupted');
    return 130;
  }
  if (!o.json) log.info(`${count} item${count === 1 ? '' : 's'}: ${count - failed} ok, ${failed} failed, ${((Date.now() - t0) / 1000).toFixed(2)} s on ${node.info.workers} workers, ${node.info.jobs} at once`);
  return failed > 0 ? 1 : 0;
}
