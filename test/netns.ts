// Test hosts on this machine: network namespaces joined to the host by veth pairs, addressed
// from TEST-NET-1 (192.0.2.0/24, reserved for documentation, never routed), so nodes can run
// "on another machine" and links can be cut. Everything made here is removed by cleanupAll().
import { execFileSync, type ChildProcess } from 'node:child_process';
import { B, exited, lines, onCleanup, start, tmp, until } from './helpers.ts';

let counter = 0;

export interface TestHost {
  ns: string;
  /** The host's address inside its namespace, and the host side's address. */
  ip: string;
  hostIp: string;
  hostDev: string;
  /** Cuts (false) or restores (true) the link to the host. */
  link(up: boolean): void;
  /** Runs argv inside the namespace (prefix for spawn). */
  exec: string[];
}

function sh(...args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: 'pipe' });
}

/** Whether this machine lets us make network namespaces (root, iproute2). */
export function netnsAvailable(): string | undefined {
  try {
    const probe = `b-probe-${process.pid}`;
    sh('ip', 'netns', 'add', probe);
    sh('ip', 'netns', 'del', probe);
    return undefined;
  } catch (e) {
    return `network namespaces unavailable here (${(e as Error).message.split('\n')[0]})`;
  }
}

export function testHost(): TestHost {
  const n = ++counter;
  const tag = `${process.pid % 10000}${n}`;
  const ns = `b-test-${tag}`;
  const hostDev = `bh${tag}`;
  const nsDev = `bn${tag}`;
  const k = 10 + ((process.pid + n * 7) % 110);
  const hostIp = `192.0.2.${k}`;
  const ip = `192.0.2.${k + 120}`;
  sh('ip', 'netns', 'add', ns);
  onCleanup(() => {
    try {
      sh('ip', 'netns', 'del', ns);
    } catch {
      // already gone
    }
    try {
      sh('ip', 'link', 'del', hostDev);
    } catch {
      // removed with the namespace
    }
  });
  sh('ip', 'link', 'add', hostDev, 'type', 'veth', 'peer', 'name', nsDev);
  sh('ip', 'link', 'set', nsDev, 'netns', ns);
  sh('ip', 'addr', 'add', `${hostIp}/32`, 'dev', hostDev);
  sh('ip', 'link', 'set', hostDev, 'up');
  sh('ip', 'route', 'add', `${ip}/32`, 'dev', hostDev);
  sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
  sh('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${ip}/32`, 'dev', nsDev);
  sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', nsDev, 'up');
  sh('ip', 'netns', 'exec', ns, 'ip', 'route', 'add', `${hostIp}/32`, 'dev', nsDev);
  return {
    ns,
    ip,
    hostIp,
    hostDev,
    link: (up: boolean) => {
      sh('ip', 'link', 'set', hostDev, up ? 'up' : 'down');
      // Taking a link down drops its routes: put ours back.
      if (up) sh('ip', 'route', 'replace', `${ip}/32`, 'dev', hostDev);
    },
    exec: ['ip', 'netns', 'exec', ns],
  };
}

export interface HiddenNode {
  host: TestHost;
  proc: ChildProcess;
  addr: string;
  id: string;
  /** The node's own cache directory (B_CACHE_DIR), on the test's side. */
  cache: string;
  /** What the node has written to stderr so far (for failure messages). */
  err: () => string;
}

/**
 * A `b node` on its own test host (keys `${keys}/node.key`, clients `${keys}/clients.pub`), in
 * a mount namespace where a tmpfs hides `hide`: it shares neither network nor files with the
 * client, as a build node on another machine.
 */
export async function startHiddenNode(hide: string, keys: string, args: string[] = []): Promise<HiddenNode> {
  const host = testHost();
  const cache = tmp('b-remote-node-cache-');
  const script = `mount -t tmpfs none '${hide}' && exec '${B}' node --workers 2 --heartbeat 200 --listen tcp://${host.ip}:7070 --key '${keys}/node.key' --allow '${keys}/clients.pub' ${args.map((a) => `'${a}'`).join(' ')}`;
  const proc = start(host.exec[0]!, [...host.exec.slice(1), 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script], { env: { ...process.env, B_CACHE_DIR: cache } });
  const out = lines(proc);
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await until(() => out.some((l) => l.startsWith('listening on tcp://')), 30_000, 'node start').catch((e: Error) => {
    throw new Error(`${e.message}: ${err}`);
  });
  const id = /^node (\S+):/.exec(out[0] ?? '')?.[1] ?? '';
  return { host, proc, addr: `tcp://${host.ip}:7070#${keys}/node.pub`, id, cache, err: () => err };
}

export async function stopHiddenNode(n: HiddenNode): Promise<void> {
  if (n.proc.exitCode !== null || n.proc.signalCode !== null) return;
  n.proc.kill('SIGINT');
  n.proc.kill('SIGINT');
  await exited(n.proc, 20_000).catch(() => n.proc.kill('SIGKILL'));
}

