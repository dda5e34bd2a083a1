// A fake build node for tests that attack or count what the client sends: a CurveZMQ ROUTER on
// loopback with a key the client pins, that welcomes and answers pings like a node and hands
// every work item to the test. It runs nothing; the test writes its answers by hand.
import * as zmq from 'zeromq';
import { T, decode, encode, isProtocolError, type Decoded } from '../src/protocol.ts';
import { platform, toolPrint } from '../src/toolchain.ts';
import type { KeyPair } from '../src/keys.ts';
import { user } from './raw.ts';

export type Reply = (frames: Buffer[]) => Promise<void>;

/** This test's user (its own key) and a fake node's socket, bound, with its key pair. */
export async function fakeNode(dir: string): Promise<{ u: Awaited<ReturnType<typeof user>>; nodeKey: KeyPair; fake: zmq.Router; endpoint: string }> {
  const u = await user(dir, 'cfg');
  const nodeKey = zmq.curveKeyPair();
  const fake = new zmq.Router({ linger: 0, curveServer: true, curvePublicKey: nodeKey.publicKey, curveSecretKey: nodeKey.secretKey });
  await fake.bind('tcp://127.0.0.1:*');
  return { u, nodeKey, fake, endpoint: fake.lastEndpoint! };
}

/**
 * Serves `fake` until it is closed (the promise ends then): HELLO gets a WELCOME with `workers`
 * slots and PING a PONG; every message is shown to `seen` first (with its sender's routing id,
 * for messages the test sends later), a SUBMIT's work item to `submit`, anything else to `other`.
 */
export function serveFake<W extends { k: string }>(fake: zmq.Router, h: {
  workers: number;
  seen?: (d: Decoded, rid: Buffer) => void;
  submit?: (w: W, d: Decoded, reply: Reply) => Promise<void>;
  other?: (d: Decoded, reply: Reply) => void;
}): Promise<void> {
  return (async () => {
    try {
      for (;;) {
        const [rid, ...body] = await fake.receive();
        const d = decode(body);
        if (isProtocolError(d) || rid === undefined) continue;
        const reply: Reply = (f) => fake.send([rid, ...f]);
        h.seen?.(d, rid);
        if (d.type === T.HELLO) await reply(encode(T.WELCOME, 0, { protocol: 1, b: 'fake', node: 'fake', workers: h.workers, local: h.workers, platform: platform() }));
        else if (d.type === T.PING) await reply(encode(T.PONG, d.id, { node: 'fake', free: h.workers }));
        else if (d.type === T.SUBMIT) await h.submit?.(JSON.parse(d.payload2!.toString()) as W, d, reply);
        else h.other?.(d, reply);
      }
    } catch {
      // closed
    }
  })();
}

/**
 * The answer of a node that does not share the client's files and has the client's own tools
 * (their fingerprints taken here), so the client sends it self-contained compiles.
 */
export async function apartProbe(w: { tools?: string[]; file?: string }, d: Decoded, reply: Reply): Promise<void> {
  const tools = Object.fromEntries(await Promise.all((w.tools ?? []).map(async (t) => [t, await toolPrint(t)] as const)));
  await reply(encode(T.RESULT, d.id, { platform: platform(), tools, ...(w.file !== undefined ? { sharedFs: false } : {}) }));
}
