// `b node`: run a build node until stopped. Prints its id, workers and endpoints, then serves
// clients (the local ones over inproc, remote ones on --listen addresses).

import { LocalNode } from './runtime.ts';
import { onInterrupt } from './signals.ts';
import type { Logger } from './logger.ts';

export interface NodeCmdOptions {
  workers?: number;
  ioThreads?: number;
  listen?: string[];
}

export async function nodeCommand(o: NodeCmdOptions, log: Logger): Promise<number> {
  const node = await LocalNode.start({ workers: o.workers ?? 0, ioThreads: o.ioThreads ?? 1, listen: o.listen ?? [] }, log);
  const i = node.info;
  log.out(`node ${i.node}: ${i.workers} workers, ${o.ioThreads ?? 1} I/O threads, pid ${process.pid}`);
  for (const e of i.endpoints) log.out(`listening on ${e}`);
  let reason = 'stopped';
  const off = onInterrupt((sig) => {
    reason = `received ${sig}`;
    log.info(`${sig}: stopping node ${i.node}`);
    void node.stop(reason);
  });
  await node.done;
  off();
  log.info(`node ${i.node} stopped`);
  return 0;
}
