// Nodes on other (namespaced) hosts: the network is cut and restored under a running build.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { B, b, exited, lines, start, suite, tmp, until } from './helpers.ts';
import { netnsAvailable, testHost } from './netns.ts';

const test = suite('federation-netns');
const unavailable = netnsAvailable();

function project(count: number, sleep: number): string {
  const dir = tmp('b-netns-');
  const l = ['rule s', `  command = sleep ${sleep}; echo "$\${B_NODE:-none}" > $out`];
  for (let i = 0; i < count; i++) l.push(`build o${i}: s`);
  fs.writeFileSync(path.join(dir, 'build.ninja'), l.join('\n') + '\n');
  return dir;
}

if (unavailable) {
  test.skip('a network cut declares the node dead; the build finishes; the node rejoins', unavailable);
} else {
  test('a network cut declares the node dead; the build finishes; the node rejoins', async () => {
    const h = testHost();
    const keys = tmp('b-netns-keys-');
    const cfg = path.join(keys, 'cfg');
    const env = { ...process.env, B_CONFIG_DIR: cfg };
    assert.is((await b(['keygen', path.join(keys, 'node')], { env })).code, 0);
    fs.writeFileSync(path.join(keys, 'clients.pub'), (await b(['keygen', '--show'], { env })).stdout);
    const n = start(h.exec[0]!, [...h.exec.slice(1), B, 'node', '--workers', '2', '--heartbeat', '100', '--listen', `tcp://${h.ip}:7070`, '--key', path.join(keys, 'node.key'), '--allow', path.join(keys, 'clients.pub')]);
    const out = lines(n);
    let err = '';
    n.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    try {
      await until(() => out.some((l) => l.startsWith(`listening on tcp://${h.ip}`)), 30_000, 'namespaced node start').catch((e: Error) => {
        throw new Error(`${e.message}: stdout ${JSON.stringify(out)} stderr ${err} exit ${n.exitCode} ${n.signalCode}`);
      });
      const id = /^node (\S+):/.exec(out[0] ?? '')?.[1] ?? '';
      const addr = `tcp://${h.ip}:7070#${path.join(keys, 'node.pub')}`;
      const dir = project(12, 0.4);
      const c = start(B, ['build', '-C', dir, '--node', addr, '--local', '1', '--heartbeat', '100', '--events', path.join(dir, '.events')], { env });
      let cerr = '';
      c.stderr?.on('data', (d: Buffer) => (cerr += d.toString()));
      await until(() => fs.existsSync(path.join(dir, 'o0')) || fs.existsSync(path.join(dir, 'o1')), 20_000, 'first outputs');
      await new Promise((r) => setTimeout(r, 300));
      h.link(false);
      const r = await exited(c, 60_000);
      assert.is(r.code, 0, cerr);
      assert.match(cerr, new RegExp(`node ${id} .*stopped answering`));
      const ev = fs.readFileSync(path.join(dir, '.events'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; ran?: boolean; node?: string; note?: string });
      const fin = ev.filter((e) => e.event === 'finish' && e.ran);
      assert.is(fin.length, 12);
      assert.ok(fin.some((e) => e.node === id), 'the namespaced node ran work before the cut');
      assert.ok(fin.some((e) => e.node === 'local' && e.note?.includes(id)), 'work fell back visibly');
      // The link comes back: the node is used again.
      h.link(true);
      const dir2 = project(6, 0.3);
      const again = await b(['build', '-C', dir2, '--node', addr, '--local', '0', '--heartbeat', '100'], { env, timeout: 60_000 });
      assert.is(again.code, 0, again.stderr);
      assert.ok(fs.readFileSync(path.join(dir2, 'o0'), 'utf8').includes(id) || fs.readFileSync(path.join(dir2, 'o1'), 'utf8').includes(id));
    } finally {
      n.kill('SIGINT');
      n.kill('SIGINT');
      await exited(n, 20_000).catch(() => undefined);
    }
  }, { timeout: 120_000 });
}

test.run();
