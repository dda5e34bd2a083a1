// Runtime benchmark: round trips per second of trivial work items through
// client -> broker -> worker -> client, B's runtime (the built executable, `b debug bench`)
// against a bare zeromq.js load-balancing broker written here with the same topology (a client
// DEALER in the main thread, a broker thread with frontend/backend ROUTERs, REQ workers in
// threads, inproc), the same message size and the same requests in flight, in one run.
//
//   node scripts/bench-runtime.ts [--items N] [--runs R]
//
// Both sides run on the same Node (the one the executable embeds, from node_modules) and the
// same libzmq. Reports medians of R runs for 1, 2, 4 workers and 1, 2 I/O threads.

import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

const root = path.resolve(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const ITEMS = opt('--items', 100_000);
const RUNS = opt('--runs', 3);
const INFLIGHT = 500;
const PAYLOAD = `{"k":"echo","d":"${'x'.repeat(17)}"}`; // 36 bytes, as `b debug bench --size 32`
const exe = path.join(root, 'dist', `b-${process.platform === 'darwin' ? 'macos' : process.platform}-${process.arch}`);
const zmqPath = require.resolve('zeromq');

// The bare broker and workers run from source strings in worker threads (same as B's threads).
const BROKER = `
const zmq = require(${JSON.stringify(zmqPath)});
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const front = new zmq.Router({ linger: 0, sendHighWaterMark: 100000, receiveHighWaterMark: 100000 });
  const back = new zmq.Router({ linger: 0, sendHighWaterMark: 100000, receiveHighWaterMark: 100000 });
  await front.bind('inproc://bare-front'); await back.bind('inproc://bare-back');
  parentPort.postMessage('bound');
  const ready = []; const queue = [];
  const fq = []; let fs = false; const bq = []; let bs = false;
  const fsend = (m) => { fq.push(m); if (!fs) { fs = true; (async () => { while (fq.length) await front.send(fq.shift()); fs = false; })(); } };
  const bsend = (m) => { bq.push(m); if (!bs) { bs = true; (async () => { while (bq.length) await back.send(bq.shift()); bs = false; })(); } };
  let stop = false;
  parentPort.on('message', () => { stop = true; front.close(); back.close(); });
  parentPort.unref();
  (async () => { try { for await (const [client, body] of front) { const w = ready.pop(); if (w) bsend([w, '', client, body]); else queue.push([client, body]); } } catch {} })();
  try { for await (const [w, , client, body] of back) {
    if (client.length && body) fsend([client, body]);
    const q = queue.shift(); if (q) bsend([w, '', q[0], q[1]]); else ready.push(w);
  } } catch {}
})();
`;
const WORKER = `
const zmq = require(${JSON.stringify(zmqPath)});
const { parentPort } = require('node:worker_threads');
(async () => {
  const s = new zmq.Request({ linger: 0 }); s.connect('inproc://bare-back');
  parentPort.on('message', () => s.close());
  parentPort.unref();
  try {
    await s.send(['', '']);
    for (;;) { const [client, body] = await s.receive(); await s.send([client, body]); }
  } catch {}
})();
`;

async function bare(workers: number, ioThreads: number): Promise<number> {
  // A fresh process per configuration: ZMQ_IO_THREADS only applies before the first socket.
  const out = execFileSync(process.execPath, [import.meta.filename, '--bare-child', String(workers), String(ioThreads), String(ITEMS)], { encoding: 'utf8' });
  return (JSON.parse(out) as { rtps: number }).rtps;
}

async function bareChild(workers: number, ioThreads: number, items: number): Promise<void> {
  const zmq = require('zeromq') as typeof import('zeromq');
  zmq.context.ioThreads = ioThreads;
  const broker = new Worker(BROKER, { eval: true });
  await new Promise((r) => broker.once('message', r));
  const ws = Array.from({ length: workers }, () => new Worker(WORKER, { eval: true }));
  const client = new zmq.Dealer({ linger: 0, sendHighWaterMark: 100000, receiveHighWaterMark: 100000 });
  client.connect('inproc://bare-front');
  const payload = Buffer.from(PAYLOAD);
  const run = async (n: number): Promise<number> => {
    let sent = 0;
    let done = 0;
    const t0 = process.hrtime.bigint();
    const q: Buffer[] = [];
    let sending = false;
    const send = (): void => {
      q.push(payload);
      if (sending) return;
      sending = true;
      void (async () => {
        while (q.length) await client.send(q.shift()!);
        sending = false;
      })();
    };
    for (; sent < Math.min(INFLIGHT, n); sent++) send();
    for await (const _ of client) {
      done++;
      if (sent < n) {
        sent++;
        send();
      }
      if (done === n) break;
    }
    return n / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  await run(200); // warm-up, as b debug bench does
  const rtps = await run(items);
  client.close();
  for (const w of ws) w.postMessage('stop');
  broker.postMessage('stop');
  await Promise.all([...ws, broker].map((w) => new Promise((r) => w.once('exit', r))));
  process.stdout.write(JSON.stringify({ rtps }));
}

function b(workers: number, ioThreads: number): number {
  const out = execFileSync(exe, ['debug', 'bench', '--workers', String(workers), '--io-threads', String(ioThreads), '--items', String(ITEMS), '--inflight', String(INFLIGHT), '--size', '32'], { encoding: 'utf8' });
  return (JSON.parse(out) as { rtps: number }).rtps;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  if (args[0] === '--bare-child') {
    await bareChild(Number(args[1]), Number(args[2]), Number(args[3]));
    return;
  }
  process.stdout.write(`runtime round trips/s, ${ITEMS} items of ${PAYLOAD.length} bytes, ${INFLIGHT} in flight, median of ${RUNS} runs (Node ${process.version})\n`);
  process.stdout.write('workers io-threads   bare zeromq.js          B    B/bare\n');
  for (const io of [1, 2]) {
    for (const w of [1, 2, 4]) {
      const bs: number[] = [];
      const rs: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        // Interleaved, so drift on the machine hits both sides alike.
        rs.push(await bare(w, io));
        bs.push(b(w, io));
      }
      const mb = median(bs);
      const mr = median(rs);
      process.stdout.write(`${String(w).padStart(7)} ${String(io).padStart(10)} ${mr.toFixed(0).padStart(16)} ${mb.toFixed(0).padStart(10)} ${(mb / mr).toFixed(2).padStart(9)}\n`);
    }
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-runtime failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
