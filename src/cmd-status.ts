// `b status --node ADDR`: who is there, how busy, how healthy, and whether it can run this
// machine's work identically (platform, compilers, files). Also `b keygen`.

import { initZmq } from './runtime.ts';
import { clientKeyPair, isLoopback, parseNodeAddress, writeKeyPair, configDir } from './keys.ts';
import { RemoteFailure, UserError } from './errors.ts';
import { platform, toolPrint } from './toolchain.ts';
import { resultOrThrow } from './messages.ts';
import { parseNodeStatus } from './need-messages.ts';
import { isProtocolError } from './protocol.ts';
import type { Logger } from './logger.ts';
import * as path from 'node:path';

const TOOLS = ['cc', 'c++', 'gcc', 'g++', 'clang', 'ld', 'ar'];

export async function statusCmd(nodes: string[], o: { keyFile?: string; json?: boolean; insecure?: boolean }, log: Logger): Promise<number> {
  if (nodes.length === 0) throw new UserError({ code: 'usage', message: 'b status needs --node ADDRESS', hint: 'example: b status --node tcp://build1:7070' });
  const z = await initZmq(1);
  const { Client } = await import('./client.ts');
  let bad = 0;
  for (const spec of nodes) {
    const addr = parseNodeAddress(spec);
    const insecure = o.insecure === true || process.env.B_INSECURE === '1';
    if (addr.serverKey === undefined && !insecure && !isLoopback(addr.address)) {
      bad++;
      log.error(`node ${addr.address}: no pinned key, so it would be neither encrypted nor authenticated; append #NODE_PUBLIC_KEY (or #node.pub), or pass --insecure on a trusted network`);
      continue;
    }
    // An unpinned node on this machine runs with this user's own key (runtime.ts security()).
    const own = addr.serverKey !== undefined || !insecure ? clientKeyPair(o.keyFile, z.curveKeyPair) : undefined;
    const serverKey = addr.serverKey ?? (insecure ? undefined : own?.publicKey);
    const curve = own !== undefined && serverKey !== undefined ? { ...own, serverKey } : undefined;
    const c = new Client(addr.address, curve ? { curve } : {});
    try {
      await c.hello('b status', 'client', 5000);
      const st = parseNodeStatus(await c.need({ op: 'status' }).done);
      if (isProtocolError(st)) throw new Error(`malformed status (${st.message}); run the same B release there as here (b --version)`);
      const probe = resultOrThrow('probe', await c.submit({ k: 'probe', tools: TOOLS }, { remote: false }), `node ${addr.address}`);
      if (o.json) {
        log.out(JSON.stringify({ address: addr.address, ...st, toolchain: probe }));
        continue;
      }
      log.out(`node ${st.node} (${addr.address}): up ${st.uptime} s, B ${st.b} (protocol ${st.protocol}), ${st.platform}, pid ${st.pid}`);
      log.out(`  workers: ${st.workers} threads (${st.busy} busy); jobs: ${st.jobs} command slots (${st.running} in use); ${st.queued} queued; ran ${st.stats.completed ?? 0}, failed ${st.stats.failed ?? 0}`);
      log.out(`  security: ${st.secure ? 'CurveZMQ (encrypted, clients authenticated by key; sessions bound to keys)' : 'INSECURE: listening without keys (--insecure); anyone who can reach it can run commands'}`);
      log.out(`  files: ${st.files}`);
      if (probe.isolation !== undefined) log.out(`  isolation of remote compiles: ${probe.isolation}`);
      const dropped = Object.entries(st.dropped).map(([k, v]) => `${v} ${k}`).join(', ');
      log.out(`  refused messages: ${st.stats.dropped ?? 0}${dropped ? ` (${dropped})` : ''}; refused connections: ${st.stats.refused ?? 0}`);
      const clients = st.clients.filter((x) => x.name !== 'b status');
      log.out(`  clients: ${clients.length === 0 ? 'none' : clients.map((x) => `${x.name} (${x.role}, ${x.tasks} items)`).join(', ')}`);
      if (st.peers.length > 0) {
        log.out(`  uses nodes: ${st.peers.map((p) => `${p.node ?? p.address} ${p.alive ? `alive, ${p.inflight}/${p.workers} busy` : 'DOWN'}${p.incompatible ? ` (incompatible: ${p.incompatible})` : ''}`).join('; ')}`);
      }
      const lines: string[] = [];
      if (probe.platform !== platform()) lines.push(`platform ${probe.platform} differs from this machine (${platform()}): no work of this machine goes there`);
      for (const t of TOOLS) {
        const theirs = probe.tools[t];
        const mine = await toolPrint(t);
        if (theirs === undefined) continue;
        if (mine.path === null && theirs.path === null) continue;
        if (theirs.path === null) lines.push(`${t}: not installed there (here: ${mine.version})`);
        else if (mine.path === null) lines.push(`${t}: ${theirs.version} (not installed here)`);
        else lines.push(`${t}: ${mine.hash === theirs.hash ? 'same as here' : 'DIFFERENT: work using it stays off this node'} (${theirs.version})`);
      }
      log.out(`  toolchain vs this machine:${lines.length === 0 ? ' nothing in common' : ''}`);
      for (const l of lines) log.out(`    ${l}`);
    } catch (e) {
      bad++;
      const msg = e instanceof RemoteFailure ? e.failure.message : (e as Error).message;
      log.error(`node ${addr.address}: ${msg}`);
      if (addr.serverKey === undefined) log.info('  (no key pinned for it: if the node uses keys, append #NODE_PUBLIC_KEY to the address)');
    } finally {
      c.close();
    }
  }
  return bad > 0 ? 1 : 0;
}

export async function keygenCmd(name: string | undefined, o: { show?: boolean }, log: Logger): Promise<number> {
  const z = await initZmq(1);
  if (o.show || name === undefined) {
    const kp = clientKeyPair(undefined, z.curveKeyPair);
    log.out(kp.publicKey);
    log.info(`this machine's client key (${path.join(configDir(), 'client.key')}); put the line above in each node's --allow file`);
    return 0;
  }
  const { keyFile, pubFile } = writeKeyPair(name, z.curveKeyPair());
  log.out(`wrote ${keyFile} (secret: keep it on this machine) and ${pubFile} (public)`);
  log.info(`for a node: b node --listen tcp://0.0.0.0:7070 --key ${keyFile} --allow clients.pub; clients then use --node tcp://HOST:7070#${pubFile}`);
  return 0;
}
