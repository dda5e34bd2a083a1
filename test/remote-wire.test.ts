// What a remote build asks of a node, counted on the wire: the built client against a fake node
// written here (it runs nothing; its results are made by hand). An output that came inline in the
// result is never fetched again with a cas-get; one that did not is fetched once.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { B, exited, start, suite, tmp } from './helpers.ts';
import { T, encode } from '../src/protocol.ts';
import { apartProbe, fakeNode, serveFake } from './fake-node.ts';

const test = suite('remote-wire');
const hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex').slice(0, 32);

test('a remote compile: the inline output costs no cas-get, the other output exactly one', async () => {
  const dir = tmp('b-wire-');
  const { u, nodeKey, fake } = await fakeNode(dir);
  const obj = Buffer.from('OBJECT sent inline in the result');
  const map = Buffer.from('MAP left in the node store: fetched');
  const kinds: string[] = [];
  const casGets: string[] = [];
  interface Work { k: string; file?: string; tools?: string[]; outputs?: string[]; digest?: string; offset?: number; length?: number; inline?: boolean }
  const loop = serveFake<Work>(fake, {
    workers: 2,
    submit: async (w, d, reply) => {
      kinds.push(w.k);
      if (w.k === 'probe') await apartProbe(w, d, reply);
      else if (w.k === 'rexec') {
        assert.is(w.inline, true, 'the client asks for inline outputs');
        const [o, m] = w.outputs!;
        await reply(encode(T.RESULT, d.id, {
          exit: 0, output: '', deps: [], fetched: 0, ms: 1,
          outputs: [
            { path: o, digest: hex(obj), size: obj.length, mode: 0o644, data: obj.toString('base64') },
            { path: m, digest: hex(map), size: map.length, mode: 0o644 },
          ],
        }));
      } else if (w.k === 'cas-get') {
        casGets.push(w.digest!);
        const blob = w.digest === hex(map) ? map : Buffer.alloc(0);
        await reply(encode(T.RESULT, d.id, { data: blob.subarray(w.offset!, w.offset! + w.length!).toString('base64') }));
      } else await reply(encode(T.FAILURE, d.id, { code: 'fake', message: `the fake node runs no ${w.k}` }));
    },
  });
  const proj = tmp('b-wire-p-');
  fs.writeFileSync(path.join(proj, 'build.ninja'), 'rule cc\n  command = cc -c $in -o $out\nbuild a.o | a.map: cc a.c\ndefault a.o\n');
  fs.writeFileSync(path.join(proj, 'a.c'), 'int a;\n');
  const client = start(B, ['build', '-C', proj, '--node', `${fake.lastEndpoint!}#${nodeKey.publicKey}`, '--local', '0', '--heartbeat', '100'], { env: { ...process.env, ...u.env } });
  let out = '';
  client.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  client.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  try {
    const r = await exited(client, 40_000);
    assert.is(r.code, 0, `${out.slice(-800)}; the fake node got ${kinds.join(' ')}`);
    assert.equal(fs.readFileSync(path.join(proj, 'a.o')), obj);
    assert.equal(fs.readFileSync(path.join(proj, 'a.map')), map);
    assert.is(kinds.filter((k) => k === 'rexec').length, 1, kinds.join(' '));
    assert.equal(casGets, [hex(map)], 'one cas-get, for the output that was not inline');
  } finally {
    client.kill('SIGKILL');
    fake.close();
    await loop;
  }
}, { timeout: 60_000 });

test.run();
