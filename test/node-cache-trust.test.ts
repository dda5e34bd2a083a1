// The nodes' action caches attacked (issue 13): an allowed client without the cache-writer
// right tries every way it has to make a node serve its result to another client, speaking the
// protocol itself; and a node that lies about a cached blob. The victim is B's own client.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { B, b, exited, start, startNode, stopNode, suite, tmp, until } from './helpers.ts';
import { Raw, user } from './raw.ts';
import { T, encode } from '../src/protocol.ts';
import { sessionId, type KeyPair } from '../src/keys.ts';
import { apartProbe, fakeNode, serveFake } from './fake-node.ts';
import { KEY_ENV } from '../src/action-env.ts';
import { isolation } from '../src/sandbox.ts';
import type { NodeAction } from '../src/messages.ts';

const test = suite('node-cache-trust');

const hex = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex').slice(0, 32);
const VICTIM_SRC = 'int victim_value(void) { return 7; }\n';
const EVIL_SRC = 'int evil_value(void) { return 666; }\n';

/** The environment of a client whose declared environment (the key's) is empty. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of [...KEY_ENV, 'B_CACHE_ENV', 'B_CACHE', 'B_NODES']) delete env[k];
  return env;
}

function victimProject(): string {
  const dir = tmp('b-nc-victim-');
  fs.writeFileSync(path.join(dir, 'build.ninja'), 'rule cc\n  command = cc -c $in -o $out\nbuild a.o: cc a.c\n');
  fs.writeFileSync(path.join(dir, 'a.c'), VICTIM_SRC);
  return dir;
}

/** The action B's client asks a node about for the victim's a.o (ninja-cache.ts lookupNodes). */
function victimAction(proj: string, src = VICTIM_SRC): NodeAction {
  return {
    cmd: 'cc -c a.c -o a.o', cwd: proj, base: proj, inputs: [{ path: path.join(proj, 'a.c'), digest: hex(src) }], outputs: [path.join(proj, 'a.o')],
    depfile: '', deps: '', msvcPrefix: '', rspfile: '', rspfileContent: '', env: {},
  };
}

interface Ev { event: string; key: string; cache?: string; status?: string }

async function victimBuild(proj: string, env: NodeJS.ProcessEnv, pinned: string): Promise<{ code: number | null; err: string; a: Ev | undefined }> {
  const ev = path.join(path.dirname(proj), `${path.basename(proj)}.events`);
  const c = start(B, ['build', '-C', proj, '--cache', '--node', pinned, '--heartbeat', '100', '--events', ev], { env });
  let err = '';
  c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  c.stdout?.resume();
  const r = await exited(c, 60_000);
  const events = fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev);
  fs.rmSync(ev, { force: true });
  return { code: r.code, err, a: events.find((e) => e.event === 'finish' && e.key === 'a.o') };
}

/** A welcomed raw session with an allowed key; `ask` sends one work item and waits for its reply. */
async function session(endpoint: string, key: KeyPair, nodePub: string) {
  const raw = new Raw(endpoint, { key, serverKey: nodePub, routingId: sessionId(key, nodePub) });
  await raw.hello('attacker');
  await until(() => raw.got.some((m) => m.type === T.WELCOME), 10_000, 'WELCOME');
  let next = 100;
  const ask = async (work: object): Promise<{ type: number; json: unknown }> => {
    const id = next++;
    await raw.send(encode(T.SUBMIT, id, [{}, work]));
    const reply = await until(() => raw.got.find((m) => m.id === id && (m.type === T.RESULT || m.type === T.FAILURE)), 60_000, `reply to ${JSON.stringify(work).slice(0, 60)}`);
    return reply!;
  };
  return { raw, ask };
}

test('a client without the cache-writer right cannot make a node serve its result to another client', async () => {
  const dir = tmp('b-nc-trust-');
  const victim = await user(dir, 'victim');
  const attacker = await user(dir, 'attacker');
  const writer = await user(dir, 'writer');
  const nodeKeys = path.join(dir, 'node');
  assert.is((await b(['keygen', nodeKeys])).code, 0);
  const nodePub = fs.readFileSync(`${nodeKeys}.pub`, 'utf8').trim();
  fs.writeFileSync(path.join(dir, 'clients.pub'), [victim, attacker, writer].map((u) => u.key.publicKey).join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'writers.pub'), `${writer.key.publicKey}\n`);
  const n = await startNode(['--workers', '1', '--key', `${nodeKeys}.key`, '--allow', path.join(dir, 'clients.pub'), '--cache-writers', path.join(dir, 'writers.pub')], { B_CACHE_DIR: tmp('b-nc-node-') });
  const pinned = `${n.endpoint}#${nodeKeys}.pub`;
  const proj = victimProject();
  const { raw, ask } = await session(n.endpoint, attacker.key, nodePub);
  const evilObject = Buffer.from('\x7fELF not the victim\'s object');
  try {
    // 1. Upload a blob and a result filed under the victim's action: refused, by key.
    const put = await ask({ k: 'cas-put', digest: hex(evilObject), data: evilObject.toString('base64') });
    assert.is(put.type, T.FAILURE, JSON.stringify(put.json));
    assert.match(JSON.stringify(put.json), /cache\.writer/);
    const result = { deps: [], outputs: [{ path: '\u0000C/a.o', digest: hex(evilObject), size: evilObject.length, mode: 0o644 }], output: '' };
    const filed = await ask({ k: 'cache-put', action: victimAction(proj), result });
    assert.is(filed.type, T.FAILURE, JSON.stringify(filed.json));
    // 2. Run the victim's exact action, claiming the victim's source digest but serving other
    // bytes when the node fetches it: the node's store refuses the blob, nothing runs.
    raw.onMessage = (m) => {
      const q = m.json as { op?: string; digest?: string; offset?: number; length?: number } | undefined;
      if (m.type !== T.NEED || q?.op !== 'blob') return;
      const bytes = q.digest === hex(EVIL_SRC) || q.digest === hex(VICTIM_SRC) ? Buffer.from(EVIL_SRC.padEnd(VICTIM_SRC.length)) : Buffer.alloc(0);
      void raw.send(encode(T.ANSWER, m.id, { data: bytes.subarray(q.offset ?? 0, (q.offset ?? 0) + (q.length ?? 0)).toString('base64') }));
    };
    const rexec = (src: string, declared: string[], size: number) => ({
      k: 'rexec', cmd: 'cc -c a.c -o a.o', cwd: proj, roots: [proj], inputs: [{ path: path.join(proj, 'a.c'), digest: hex(src), size, exec: false }],
      outputs: [path.join(proj, 'a.o')], depfile: '', deps: '', msvcPrefix: '', rspfile: '', rspfileContent: '', prefixMap: true,
      cache: { base: proj, declared, env: {} },
    });
    const forged = await ask(rexec(VICTIM_SRC, [path.join(proj, 'a.c')], VICTIM_SRC.length));
    assert.ok(forged.type === T.FAILURE || (forged.json as { exit?: number }).exit !== 0, `a forged input ran: ${JSON.stringify(forged.json)}`);
    // 3. Run the same command on its own source (its true digest), declaring it and declaring
    // nothing: the node runs and records these, under keys of what it ran.
    raw.onMessage = (m) => {
      const q = m.json as { op?: string; offset?: number; length?: number } | undefined;
      if (m.type !== T.NEED || q?.op !== 'blob') return;
      void raw.send(encode(T.ANSWER, m.id, { data: Buffer.from(EVIL_SRC).subarray(q.offset ?? 0, (q.offset ?? 0) + (q.length ?? 0)).toString('base64') }));
    };
    for (const declared of [[path.join(proj, 'a.c')], []]) {
      const own = await ask(rexec(EVIL_SRC, declared, EVIL_SRC.length));
      assert.is(own.type, T.RESULT, JSON.stringify(own.json));
      assert.is((own.json as { exit: number }).exit, 0, JSON.stringify(own.json));
    }
    // Not vacuous: the attacker's own action hits (where commands run isolated), the victim's does not.
    const mine = await ask({ k: 'cache-lookup', action: victimAction(proj, EVIL_SRC) });
    const isolated = isolation().kind === 'namespaces'; // the node's, on this same machine
    assert.is((mine.json as { results: unknown[] }).results.length, isolated ? 1 : 0, JSON.stringify(mine.json));
    const theirs = await ask({ k: 'cache-lookup', action: victimAction(proj) });
    assert.equal((theirs.json as { results: unknown[] }).results, []);
    // The victim builds with B: its own compile, its own object.
    const env = cleanEnv({ ...victim.env, B_CACHE_DIR: tmp('b-nc-victim-cache-') });
    const v = await victimBuild(proj, env, pinned);
    assert.is(v.code, 0, v.err);
    assert.is(v.a?.cache, 'miss', JSON.stringify(v.a));
    const obj = fs.readFileSync(path.join(proj, 'a.o'));
    assert.ok(obj.includes('victim_value') && !obj.includes('evil_value'), 'the victim compiled its own source');
    // Control: the same upload by a listed writer is accepted and served to the victim (so the
    // refusals above are the writer check, and the victim's lookup does reach this node).
    const w = await session(n.endpoint, writer.key, nodePub);
    try {
      // Even a writer cannot file bytes under a digest they do not hash to: the blob is
      // refused, a result naming it is not stored, and nothing is served for it.
      const liar = Buffer.from('\x7fELF bytes that hash to something else');
      const claimed = hex('\x7fELF the bytes the result claims');
      const forgedBlob = await w.ask({ k: 'cas-put', digest: claimed, data: liar.toString('base64') });
      assert.is(forgedBlob.type, T.FAILURE, JSON.stringify(forgedBlob.json));
      assert.match(JSON.stringify(forgedBlob.json), /does not match its digest/);
      const forgedResult = { deps: [], outputs: [{ path: '\u0000C/a.o', digest: claimed, size: liar.length, mode: 0o644 }], output: '' };
      assert.equal((await w.ask({ k: 'cache-put', action: victimAction(proj), result: forgedResult })).json, { stored: false });
      assert.equal((await w.ask({ k: 'cache-lookup', action: victimAction(proj) })).json, { results: [] }, 'nothing served for a forged blob');
      assert.is((await w.ask({ k: 'cas-put', digest: hex(evilObject), data: evilObject.toString('base64') })).type, T.RESULT);
      const ok = await w.ask({ k: 'cache-put', action: victimAction(proj), result });
      assert.equal(ok.json, { stored: true });
    } finally {
      w.raw.close();
    }
    fs.rmSync(path.join(proj, 'a.o'));
    fs.rmSync(path.join(proj, '.b'), { recursive: true });
    const v2 = await victimBuild(proj, cleanEnv({ ...victim.env, B_CACHE_DIR: tmp('b-nc-victim-cache-') }), pinned);
    assert.is(v2.code, 0, v2.err);
    assert.is(v2.a?.cache, `node:${n.id}`, JSON.stringify(v2.a));
    assert.ok(fs.readFileSync(path.join(proj, 'a.o')).equals(evilObject), 'a writer\'s result is served');
    assert.match(v2.err, new RegExp(`action cache: 1 hit of 1 \\(100%\\).*node ${n.id} 1`));
  } finally {
    raw.close();
    await stopNode(n);
  }
}, { timeout: 120_000 });

test('a node that serves other bytes than the digest it cached: a miss, the command runs, nothing of it is written', async () => {
  const dir = tmp('b-nc-poison-');
  const { u, nodeKey, fake } = await fakeNode(dir);
  const proj = victimProject();
  const claimed = Buffer.from('GOOD OBJECT BYTES');
  const served = Buffer.from('EVIL OBJECT BYTES');
  const asked: string[] = [];
  const loop = serveFake<{ k: string; tools?: string[]; file?: string; offset?: number; length?: number }>(fake, {
    workers: 4,
    submit: async (w, d, reply) => {
      asked.push(w.k);
      if (w.k === 'probe') await apartProbe(w, d, reply);
      else if (w.k === 'cache-lookup') {
        await reply(encode(T.RESULT, d.id, { results: [{ deps: [], outputs: [{ path: '\u0000C/a.o', digest: hex(claimed), size: claimed.length, mode: 0o644 }], output: '' }] }));
      } else if (w.k === 'cas-get') {
        await reply(encode(T.RESULT, d.id, { data: served.subarray(w.offset ?? 0, (w.offset ?? 0) + (w.length ?? 0)).toString('base64') }));
      } else {
        // Anything else it is given to run goes back: the client runs it itself.
        await reply(encode(T.FAILURE, d.id, { code: 'node.unhealthy', message: 'fake node runs nothing' }));
      }
    },
  });
  const cache = tmp('b-nc-poison-cache-');
  try {
    const v = await victimBuild(proj, cleanEnv({ ...u.env, B_CACHE_DIR: cache }), `${fake.lastEndpoint!}#${nodeKey.publicKey}`);
    assert.is(v.code, 0, v.err);
    assert.ok(asked.includes('cache-lookup') && asked.includes('cas-get'), `the client asked the node and fetched: ${asked.join(' ')}`);
    assert.is(v.a?.cache, 'miss', JSON.stringify(v.a));
    const obj = fs.readFileSync(path.join(proj, 'a.o'));
    assert.ok(obj.includes('victim_value'), 'the object is the one compiled here');
    assert.equal(fs.readdirSync(proj).filter((f) => f.includes('.tmp')), [], 'no temp file left');
    // The client's own cache holds the result it ran, never the node's bytes or claim.
    const entries = fs.readdirSync(path.join(cache, 'actions', 'entries')).flatMap((s) => fs.readdirSync(path.join(cache, 'actions', 'entries', s)).map((f) => path.join(cache, 'actions', 'entries', s, f)));
    assert.is(entries.length, 1);
    const outs = (JSON.parse(fs.readFileSync(entries[0]!, 'utf8')) as { results: { outputs: { digest: string }[] }[] }).results.flatMap((r) => r.outputs.map((o) => o.digest));
    assert.equal(outs, [hex(obj)]);
    assert.not.ok(fs.existsSync(path.join(cache, 'actions', 'cas', hex(claimed).slice(0, 2), hex(claimed))));
  } finally {
    fake.close();
    await loop;
  }
}, { timeout: 90_000 });

test.run();
