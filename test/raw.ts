// A raw protocol client and simulated users, for tests written as an attacker would write them:
// what any program that can reach a node's port (with an allowed key or without) could send.
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import * as zmq from 'zeromq';
import { b } from './helpers.ts';
import { T, decode, encode, isProtocolError } from '../src/protocol.ts';
import { readKeyPair, type KeyPair } from '../src/keys.ts';

/** A config dir with its own client key pair (one per simulated user or machine). */
export async function user(dir: string, name: string): Promise<{ env: Record<string, string>; key: KeyPair }> {
  const cfg = path.join(dir, name);
  const env = { B_CONFIG_DIR: cfg };
  const r = await b(['keygen', '--show'], { env: { ...process.env, ...env } });
  assert.is(r.code, 0, r.stderr);
  return { env, key: readKeyPair(path.join(cfg, 'client.key')) };
}

/** A raw protocol client (DEALER): what any program that can reach the port could send. */
export class Raw {
  readonly sock: zmq.Dealer;
  readonly got: { type: number; id: number; json: unknown }[] = [];
  /** Called with each message as it arrives (to answer a node's NEEDs). */
  onMessage: ((m: { type: number; id: number; json: unknown }) => void) | undefined;

  constructor(address: string, opts: { key?: KeyPair; serverKey?: string; routingId?: string } = {}) {
    const sock = new zmq.Dealer({
      linger: 0,
      ...(opts.routingId !== undefined ? { routingId: opts.routingId } : {}),
      ...(opts.key && opts.serverKey ? { curvePublicKey: opts.key.publicKey, curveSecretKey: opts.key.secretKey, curveServerKey: opts.serverKey } : {}),
    });
    this.sock = sock;
    sock.connect(address);
    void (async () => {
      try {
        for (;;) {
          const m = await sock.receive();
          const d = decode(m);
          if (isProtocolError(d)) continue;
          let json: unknown;
          try {
            json = d.payload ? JSON.parse(d.payload.toString()) : undefined;
          } catch {
            json = d.payload?.toString();
          }
          const msg = { type: d.type, id: d.id, json };
          this.got.push(msg);
          this.onMessage?.(msg);
        }
      } catch {
        // closed
      }
    })();
  }

  send(frames: (Buffer | string)[]): Promise<void> {
    return this.sock.send(frames);
  }

  hello(name = 'raw'): Promise<void> {
    return this.send(encode(T.HELLO, 0, { protocol: 1, b: 'raw', role: 'client', name }));
  }

  close(): void {
    this.sock.close();
  }
}

