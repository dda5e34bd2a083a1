// The process broker's thread: starts a Broker (with the build engine plugged in), tells the
// parent when it runs, and stops it when the parent asks (a second stop request hurries the
// drain). The parent side is runtime.ts.

import { parentPort } from 'node:worker_threads';
import { closeSpawner } from './spawner.ts';
import { Broker } from './broker.ts';
import type { BrokerData } from './broker-types.ts';
import { isProtocolError } from './protocol.ts';
import { decodeToBroker, threadBug, type FromBroker } from './thread-messages.ts';

function post(m: FromBroker): void {
  parentPort?.postMessage(m);
}

export async function runBroker(data: BrokerData): Promise<void> {
  const b = new Broker(data);
  process.on('uncaughtException', (e) => b.log('error', `broker: uncaught: ${(e as Error).stack ?? String(e)}`));
  process.on('unhandledRejection', (e) => b.log('error', `broker: unhandled rejection: ${String(e)}`));
  let stopReason: string | undefined;
  let drainMs = 0;
  let wake: (() => void) | undefined;
  const onParent = (raw: unknown): void => {
    const m = decodeToBroker(raw);
    if (isProtocolError(m)) return b.log('error', threadBug('the broker thread', m));
    // The only message (thread-messages.ts ToBroker): stop; a second one hurries the drain.
    if (stopReason !== undefined) b.hurry = true;
    stopReason = m.reason;
    drainMs = m.drainMs ?? 0;
    wake?.();
  };
  parentPort?.on('message', onParent);
  try {
    // The build engine is loaded with the broker but only does work when a client asks.
    const { BuildHost } = await import('./build-host.ts');
    b.needHandler = new BuildHost(b);
    await b.start();
    post({ type: 'started', node: data.nodeId, workers: b.workerCount, jobs: b.slotCount, endpoints: b.endpoints });
    if (stopReason === undefined) await new Promise<void>((r) => (wake = r));
  } catch (e) {
    post({ type: 'failed', message: (e as Error).message });
    stopReason = 'start failed';
  }
  await b.stop(stopReason ?? 'stopped', drainMs);
  await closeSpawner(); // the broker's own, if it fingerprinted a tool for a node
  post({ type: 'stopped' });
  parentPort?.off('message', onParent); // Deno: removeAllListeners throws ERR_NOT_IMPLEMENTED
  parentPort?.unref();
}
