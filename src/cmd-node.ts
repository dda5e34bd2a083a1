// `b node`: run a build node until stopped. Prints its id, workers and endpoints, then serves
// clients: local ones over inproc, other machines on --listen addresses (CurveZMQ with --key and
// --allow). The first Ctrl-C hands queued work back to its clients and lets running items finish
// (up to --drain seconds); a second one stops at once.

import { LocalNode, defaultJobs, type NodeOptions } from './runtime.ts';
import type { Logger } from './logger.ts';

export async function nodeCommand(o: NodeOptions & { drainSeconds?: number }, log: Logger): Promise<number> {
  // Sandboxes of an earlier node process killed mid-command, and what this one can isolate.
  const { sweepWork } = await import('./rexec.ts');
  const swept = sweepWork();
  if (swept > 0) log.info(`removed ${swept} sandboxes left by a node that was killed`);
  const { fenceSupport, isolation } = await import('./sandbox.ts');
  const iso = isolation();
  if (iso.kind === 'none') log.warn(`isolation of remote compiles: ${iso.text}`);
  else log.info(`isolation of remote compiles: ${iso.text}`);
  const { cacheDir } = await import('./cachedir.ts');
  const fence = fenceSupport(`${cacheDir()}/work`);
  if (!fence.ok) log.warn(`commands on a client's shared files cannot be fenced here (${fence.why}): clients send this node only self-contained compiles`);
  const node = await LocalNode.start({ ...o, jobs: o.jobs ?? defaultJobs() }, log);
  const i = node.info;
  log.out(`node ${i.node}: ${i.workers} workers, ${i.jobs} jobs, ${o.ioThreads ?? 1} I/O threads, pid ${process.pid}`);
  for (const e of i.endpoints) log.out(`listening on ${e}`);
  // Say who may use it: every listening node is keyed unless --insecure (runtime.ts security()).
  if ((o.listen ?? []).length > 0) {
    log.info(o.keyFile !== undefined
      ? `clients: CurveZMQ with ${o.keyFile}; the keys in ${(o.allow ?? []).join(', ')} may connect`
      : o.insecure
        ? 'clients: anyone who can connect (--insecure: no keys, plaintext)'
        : 'clients: CurveZMQ with this user\'s own key (b keygen --show); only this user\'s clients may connect');
  }
  if ((o.cacheWriters ?? []).length > 0) log.info(`action cache: the keys in ${(o.cacheWriters ?? []).join(', ')} may upload results; every other result is one this node ran`);
  const drainMs = (o.drainSeconds ?? 30) * 1000;
  let signals = 0;
  const handler = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      log.info(`${sig}: node ${i.node} stops taking work; queued work goes back to its clients; running work may finish for ${drainMs / 1000} s (again to stop now)`);
      void node.stop(`received ${sig}`, drainMs);
    } else {
      log.info(`${sig}: stopping now`);
      void node.stop(`received ${sig}`, 0);
      node.hurry();
    }
  };
  const sigs: NodeJS.Signals[] = process.platform === 'win32' ? ['SIGINT'] : ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of sigs) process.on(s, handler);
  await node.done;
  for (const s of sigs) process.off(s, handler);
  log.info(`node ${i.node} stopped`);
  return 0;
}
