// Entry point of every thread B starts: the process broker or a worker (see threads.ts).

import { parentPort, workerData } from 'node:worker_threads';

async function main(): Promise<void> {
  const data = workerData as { kind?: string };
  if (data.kind === 'broker') {
    const { runBroker } = await import('./broker-thread.ts');
    await runBroker(workerData);
  } else if (data.kind === 'worker') {
    const { runWorker } = await import('./worker.ts');
    await runWorker(workerData);
  } else if (data.kind === 'probe') {
    // `b debug startup`: how this thread's code was compiled (threads.ts).
    const rejected = (globalThis as { __bThreadCacheRejected?: boolean }).__bThreadCacheRejected;
    parentPort?.postMessage({ threadCache: rejected === undefined ? 'none' : rejected ? 'rejected' : 'accepted' });
  } else {
    throw new Error(`unknown thread kind ${String(data.kind)}`);
  }
}

void main();
