// NEEDs a broker forwards for work it runs for another node's client: a rule running here on an
// item that came from elsewhere asks for answers, which only the build's origin has, so the
// question goes back to the client session that gave us the item, under an id of ours. The
// answer is accepted only from that session (bound to its key): another client cannot answer,
// or fail, a rule it did not run. A session that leaves fails its pending questions, so no rule
// waits forever.

import type { Frames } from './zmq.ts';
import { T, encode } from './protocol.ts';
import type { ClientState } from './broker-types.ts';

const EMPTY = Buffer.alloc(0);

/** A forwarded NEED: who asked (and under which id), and the one session allowed to answer. */
interface Forward {
  reply: (body: Frames) => void;
  reqId: number;
  to: ClientState;
}

export class NeedForwards {
  private readonly open = new Map<number, Forward>();
  private next = 1;

  private readonly dropped: (reason: string) => void;

  /** `dropped` counts a refused message under its reason (the node's status). */
  constructor(dropped: (reason: string) => void) {
    this.dropped = dropped;
  }

  /** Sends `question` (already re-addressed to `to`'s task id) to `to`; its answer goes to `reply` as `reqId`. */
  send(to: ClientState, question: object, reply: (body: Frames) => void, reqId: number): void {
    const id = this.next;
    this.next = (this.next + 1) >>> 0 || 1;
    this.open.set(id, { reply, reqId, to });
    to.send(encode(T.NEED, id, question));
  }

  /** An ANSWER or FAILURE from `c` to question `id`: passed on only if `c` is the session asked. */
  answer(c: ClientState, type: number, id: number, payload: Buffer | undefined): void {
    const f = this.open.get(id);
    if (f === undefined || f.to !== c) {
      this.dropped('answer.unasked');
      return;
    }
    this.open.delete(id);
    f.reply(encode(type === T.ANSWER ? T.ANSWER : T.FAILURE, f.reqId, payload ?? EMPTY));
  }

  /** `c` left: the questions waiting for its answers fail now. */
  clientGone(c: ClientState): void {
    for (const [id, f] of this.open) {
      if (f.to !== c) continue;
      this.open.delete(id);
      f.reply(encode(T.FAILURE, f.reqId, { code: 'client.gone', message: `client ${c.name} left before answering` }));
    }
  }
}
