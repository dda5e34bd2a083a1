// The spawn helper process (`B_SPAWNER=1 b`, see spawner.ts for why and the protocol): reads
// requests on stdin, starts each command with exec.ts's execDirect (same capture, process group
// and kill escalation as a direct spawn), and writes results on stdout. It ignores Ctrl-C (B
// stops commands itself, through it) and, when its stdin closes (B exited, however it died),
// stops every command it started and exits: no orphans.

import { execDirect } from './exec.ts';
import type { SpawnReply, SpawnRequest } from './spawner.ts';

export function serveSpawner(): void {
  delete process.env.B_SPAWNER;
  process.on('SIGINT', () => {});
  const running = new Map<number, AbortController>();
  const reply = (r: SpawnReply): void => {
    if (!gone) process.stdout.write(JSON.stringify(r) + '\n');
  };
  // B closed its end of the pipe (it exited, however it died): a reply can no longer be
  // written. Without a listener the EPIPE is an unhandled 'error' and a stack trace on the
  // terminal after the build; it means the same as stdin's end: stop the commands and leave.
  let gone = false;
  let closing = false;
  const leave = (): void => {
    if (gone) return;
    gone = true;
    closing = true;
    if (running.size === 0) process.exit(0);
    for (const ac of running.values()) ac.abort();
  };
  process.stdout.on('error', leave);
  const run = (q: SpawnRequest): void => {
    const ac = new AbortController();
    running.set(q.id, ac);
    void execDirect(q.req, ac.signal).then((r) => {
      running.delete(q.id);
      reply({ id: q.id, ...r });
      if (closing && running.size === 0) process.exit(0);
    });
  };
  if (!gone) process.stdout.write('{"id":0}\n'); // ready (spawner.ts's READY)
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let m: SpawnRequest | { kill: number };
      try {
        m = JSON.parse(line) as typeof m;
      } catch {
        continue;
      }
      if ('kill' in m) running.get(m.kill)?.abort();
      else run(m);
    }
  });
  // B is gone: stop what it started (execDirect escalates to SIGKILL), then leave.
  process.stdin.on('end', leave);
  process.stdin.on('error', leave);
}
