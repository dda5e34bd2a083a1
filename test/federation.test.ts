// Cross-process concurrency with real `b node` processes on loopback: spreading work, credits,
// rules that need answers from the build's origin, chains and cycles of nodes, toolchain
// matching, dead/frozen/stopped nodes, keys, and malformed input.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { B, b, exited, start, suite, tmp, until, startNode, stopNode } from './helpers.ts';

const test = suite('federation');

const node = startNode;
const stop = stopNode;

/** Where a project's commands say they started (outside its build root: see project). */
const marksOf = new Map<string, string>();

/**
 * A Ninja project of `count` independent rules that sleep and record the node that ran them
 * (with `started`, also in `$out.on` before the sleep: a test can wait until a node has work).
 * The markers go to a directory of their own: what a node's command writes in the build root
 * stays in its fenced sandbox (fence.ts) until the client accepts the attempt's outputs.
 */
function project(count: number, sleep = 0.3, extra = '', started = false): string {
  const dir = tmp('b-fed-');
  const marks = tmp('b-fed-on-');
  marksOf.set(dir, marks);
  const mark = started ? `echo "$\${B_NODE:-none}" > ${marks}/$out.on; ` : '';
  const lines = ['rule s', `  command = ${mark}sleep ${sleep}; echo "$\${B_NODE:-none}" > $out`, extra];
  const outs: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(`build o${i}: s`);
    outs.push(`o${i}`);
  }
  lines.push(`build all: phony ${outs.join(' ')}`, 'default all', '');
  fs.writeFileSync(path.join(dir, 'build.ninja'), lines.join('\n'));
  return dir;
}

interface Ev {
  event: string;
  key: string;
  ran?: boolean;
  node?: string;
  note?: string;
  status?: string;
}

async function build(dir: string, args: string[], timeout = 60_000): Promise<{ code: number | null; stdout: string; stderr: string; ran: Ev[] }> {
  const ev = path.join(dir, '.events');
  const r = await b(['build', '-C', dir, '--events', ev, '--heartbeat', '100', ...args], { timeout });
  const events = fs.existsSync(ev) ? fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev) : [];
  fs.rmSync(ev, { force: true });
  return { ...r, ran: events.filter((e) => e.event === 'finish' && e.ran) };
}

function outputsBy(dir: string, count: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const who = fs.readFileSync(path.join(dir, `o${i}`), 'utf8').trim();
    m.set(who, (m.get(who) ?? 0) + 1);
  }
  return m;
}

test('work spreads over nodes; events and outputs say where each rule ran', async () => {
  const [n1, n2] = await Promise.all([node(['--workers', '2', '--jobs', '2']), node(['--workers', '2', '--jobs', '2'])]);
  try {
    const dir = project(12);
    const r = await build(dir, ['--node', n1.endpoint, '--node', n2.endpoint, '--local', '0']);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.ran.filter((e) => e.key.startsWith('o')).length, 12);
    const by = outputsBy(dir, 12);
    assert.ok((by.get(n1.id) ?? 0) > 0 && (by.get(n2.id) ?? 0) > 0, `both nodes ran work: ${JSON.stringify([...by])}`);
    for (const e of r.ran) if (e.key.startsWith('o')) assert.ok(e.node === n1.id || e.node === n2.id, `node field: ${e.node}`);
    assert.match(r.stderr, new RegExp(`on ${n1.id}`));
    // A second build asks no node for anything.
    const again = await build(dir, ['--node', n1.endpoint, '--node', n2.endpoint, '--local', '0']);
    assert.is(again.ran.length, 0);
  } finally {
    await Promise.all([stop(n1), stop(n2)]);
  }
}, { timeout: 90_000 });

test('credit-based flow: work goes in proportion to free slots, never more than a node can run', async () => {
  const [big, small] = await Promise.all([node(['--workers', '4', '--jobs', '4']), node(['--workers', '1', '--jobs', '1'])]);
  try {
    // A warm-up build first: a node that has just said "listening" may still be booting its
    // workers (their isolates compile B's bundle), and a node that cannot run yet is not a
    // node with fewer slots. What is asserted is the steady state.
    const warm = await build(project(6, 0.05), ['--node', big.endpoint, '--node', small.endpoint, '--local', '0']);
    assert.is(warm.code, 0, warm.stderr);
    const dir = project(20, 0.25);
    const r = await build(dir, ['--node', big.endpoint, '--node', small.endpoint, '--local', '0']);
    assert.is(r.code, 0, r.stderr);
    const by = outputsBy(dir, 20);
    const nb = by.get(big.id) ?? 0;
    const ns = by.get(small.id) ?? 0;
    assert.is(nb + ns, 20);
    assert.ok(nb >= 2.5 * ns, `4-worker node ran ${nb}, 1-worker node ran ${ns}`);
    // Items queued behind full credits wait their turn: this machine's workers were not called in.
    assert.not.match(r.stderr, /no node can run|running it on this machine/);
  } finally {
    await Promise.all([stop(big), stop(small)]);
  }
}, { timeout: 90_000 });

test('a Bfile rule running on another node needs answers from the build\'s origin', async () => {
  const n1 = await node(['--workers', '2', '--jobs', '2']);
  try {
    const dir = tmp('b-fed-bfile-');
    fs.writeFileSync(path.join(dir, 'Bfile.mjs'), `export default (b) => {
  b.default('top.txt');
  b.rule('top.txt', async ({ need, read, write, env }) => {
    await need('mid.txt');
    await write('top.txt', (await read('mid.txt')) + 'top on ' + process.env.B_NODE + ' ' + (await env('GREETING')) + '\\n');
  });
  b.rule('mid.txt', async ({ need, read, write }) => {
    await need('src.txt');
    await write('mid.txt', (await read('src.txt')) + 'mid on ' + process.env.B_NODE + '\\n');
  });
};`);
    fs.writeFileSync(path.join(dir, 'src.txt'), 'source\n');
    const r = await b(['build', '-C', dir, '--node', n1.endpoint, '--local', '0', '--heartbeat', '100'], { env: { ...process.env, GREETING: 'hello-from-client' }, timeout: 60_000 });
    assert.is(r.code, 0, r.stderr);
    const text = fs.readFileSync(path.join(dir, 'top.txt'), 'utf8');
    assert.match(text, new RegExp(`mid on ${n1.id}`));
    assert.match(text, new RegExp(`top on ${n1.id} hello-from-client`), 'the rule read the client\'s environment through its need');
  } finally {
    await stop(n1);
  }
}, { timeout: 90_000 });

test('rules waiting on other rules hold no node slot: a chain deeper than the workers completes, and a waiting rule\'s worker runs other work', async () => {
  const n1 = await node(['--workers', '2', '--jobs', '2']);
  try {
    const dir = tmp('b-fed-deep-');
    // c0 needs c1 needs ... c7: eight rules waiting at once on a node with two workers, and
    // with -j 2. Then 'fan' waits on 6 sleeps: both workers must run them (the one that started
    // 'fan' too), not one after the other.
    fs.writeFileSync(path.join(dir, 'Bfile.mjs'), `import * as fs from 'node:fs';
import { threadId } from 'node:worker_threads';
export default (b) => {
  b.default('c0');
  b.rule('c%', async ({ stem, need, write }) => { const n = Number(stem); if (n < 7) await need('c' + (n + 1)); await write('c' + n, String(n)); });
  b.rule('fan', async ({ need, write }) => { await need([0, 1, 2, 3, 4, 5].map((i) => 's' + i)); await write('fan', 'x'); });
  b.rule('s%', async ({ out, dir }) => { await new Promise((r) => setTimeout(r, 300)); fs.writeFileSync(dir + '/' + out, String(threadId)); });
};`);
    const r = await b(['build', '-C', dir, '--node', n1.endpoint, '--local', '0', '-j', '2', '--heartbeat', '100'], { timeout: 30_000 });
    assert.is(r.code, 0, r.stderr);
    assert.is(fs.readFileSync(path.join(dir, 'c0'), 'utf8'), '0');
    const f = await b(['build', '-C', dir, '--node', n1.endpoint, '--local', '0', '-j', '2', '--heartbeat', '100', 'fan'], { timeout: 30_000 });
    assert.is(f.code, 0, f.stderr);
    const threads = new Set([0, 1, 2, 3, 4, 5].map((i) => fs.readFileSync(path.join(dir, 's' + i), 'utf8')));
    assert.is(threads.size, 2, 'both workers ran the sleeps');
  } finally {
    await stop(n1);
  }
}, { timeout: 90_000 });

test('nodes that use nodes: a chain runs work two hops away; a cycle of nodes does not bounce work forever', async () => {
  const far = await node(['--workers', '2', '--jobs', '2']);
  const near = await node(['--workers', '1', '--jobs', '1', '--node', far.endpoint]);
  try {
    const dir = project(8, 0.3);
    const r = await build(dir, ['--node', near.endpoint, '--local', '0']);
    assert.is(r.code, 0, r.stderr);
    const by = outputsBy(dir, 8);
    assert.ok((by.get(far.id) ?? 0) > 0, `the far node ran work: ${JSON.stringify([...by])}`);
    assert.ok((by.get(near.id) ?? 0) > 0);
  } finally {
    await stop(near);
    await stop(far);
  }
  // Two nodes that use each other.
  const a = await node(['--workers', '1', '--jobs', '1']);
  const c = await node(['--workers', '1', '--jobs', '1', '--node', a.endpoint]);
  try {
    const dir = project(6, 0.2);
    const r = await build(dir, ['--node', c.endpoint, '--local', '0']);
    assert.is(r.code, 0, r.stderr);
    assert.is([...outputsBy(dir, 6).values()].reduce((x, y) => x + y, 0), 6);
  } finally {
    await stop(c);
    await stop(a);
  }
}, { timeout: 120_000 });

test('a node with a different compiler gets no work that runs it, and b status says so', async () => {
  const fake = tmp('b-fed-fakecc-');
  fs.writeFileSync(path.join(fake, 'cc'), '#!/bin/sh\nif [ "$1" = --version ]; then echo "fakecc 0.1"; exit 0; fi\nexec /usr/bin/cc "$@"\n', { mode: 0o755 });
  const odd = await node(['--workers', '2', '--jobs', '2'], { PATH: `${fake}:${process.env.PATH ?? ''}` });
  try {
    const dir = tmp('b-fed-cc-');
    // Four compiles for one local slot: some wait in the queue while the node is probed, so
    // the node is asked about its cc whichever item the local worker takes first.
    const objs = ['a', 'b', 'c', 'd'];
    for (const o of objs) fs.writeFileSync(path.join(dir, `${o}.c`), `int ${o}(void) { return 1; }\n`);
    fs.writeFileSync(path.join(dir, 'build.ninja'), 'rule cc\n  command = cc -c $in -o $out\nrule s\n  command = sleep 0.2; echo "$${B_NODE}" > $out\n' +
      objs.map((o) => `build ${o}.o: cc ${o}.c\n`).join('') + 'build x: s\nbuild y: s\nbuild z: s\n');
    const r = await build(dir, ['--node', odd.endpoint, '--local', '1']);
    assert.is(r.code, 0, r.stderr);
    for (const o of objs) assert.is(r.ran.find((e) => e.key === `${o}.o`)?.node, 'local', 'the compiles stayed on this machine');
    assert.ok(r.ran.some((e) => e.node === odd.id), 'other work still went to the node');
    assert.match(r.stderr, new RegExp(`node ${odd.id} has a different cc \\(fakecc 0\\.1`));
    const st = await b(['status', '--node', odd.endpoint]);
    assert.is(st.code, 0, st.stderr);
    assert.match(st.stdout, /cc: DIFFERENT: work using it stays off this node \(fakecc 0\.1\)/);
  } finally {
    await stop(odd);
  }
}, { timeout: 90_000 });

for (const how of ['SIGKILL', 'SIGSTOP'] as const) {
  test(`a node that ${how === 'SIGKILL' ? 'dies' : 'freezes'} mid-build is declared dead and its work runs elsewhere`, async () => {
    const [n1, n2] = await Promise.all([node(['--workers', '2', '--jobs', '2']), node(['--workers', '2', '--jobs', '2'])]);
    try {
      const dir = project(16, 0.4, '', true);
      const c = start(B, ['build', '-C', dir, '--node', n1.endpoint, '--node', n2.endpoint, '--local', '0', '--heartbeat', '100', '--events', path.join(dir, '.events')]);
      let err = '';
      c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      // Kill it once it runs work (a fixed delay raced the client's start-up on a loaded machine).
      const marks = marksOf.get(dir)!;
      const onN1 = (): boolean => fs.readdirSync(marks).some((f) => f.endsWith('.on') && fs.readFileSync(path.join(marks, f), 'utf8').trim() === n1.id);
      await until(onN1, 30_000, `work on ${n1.id} (${err})`);
      process.kill(n1.proc.pid!, how);
      const t0 = Date.now();
      const r = await exited(c, 60_000);
      assert.is(r.code, 0, err);
      assert.ok(Date.now() - t0 < 20_000, 'finished within seconds of the death');
      assert.match(err, new RegExp(`node ${n1.id} .*stopped answering`));
      const events = fs.readFileSync(path.join(dir, '.events'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev);
      const fin = events.filter((e) => e.event === 'finish' && e.ran && e.key.startsWith('o'));
      assert.is(fin.length, 16, 'every rule finished exactly once');
      assert.ok(fin.some((e) => e.note !== undefined && e.note.includes(n1.id)), 'the fallback is visible in events');
      for (let i = 0; i < 16; i++) assert.ok(fs.existsSync(path.join(dir, `o${i}`)));
      if (how === 'SIGSTOP') {
        // It comes back: late answers are ignored, the next build can use it again.
        process.kill(n1.proc.pid!, 'SIGCONT');
        fs.rmSync(path.join(dir, 'o3'));
        const again = await build(dir, ['--node', n1.endpoint, '--local', '0']);
        assert.is(again.code, 0, again.stderr);
        assert.equal(again.ran.map((e) => e.key), ['o3']);
      }
    } finally {
      if (how === 'SIGSTOP') n1.proc.kill('SIGCONT');
      await Promise.all([stop(n1), stop(n2)]);
    }
  }, { timeout: 120_000 });
}

test('stopping a node gracefully hands its queued work back; the build still succeeds', async () => {
  const [n1, n2] = await Promise.all([node(['--workers', '1', '--jobs', '1', '--drain', '10']), node(['--workers', '1', '--jobs', '1'])]);
  try {
    const dir = project(10, 0.5);
    const c = start(B, ['build', '-C', dir, '--node', n1.endpoint, '--node', n2.endpoint, '--local', '0', '--heartbeat', '100']);
    let err = '';
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise((r) => setTimeout(r, 800));
    n1.proc.kill('SIGINT');
    const n1exit = await exited(n1.proc, 20_000);
    assert.is(n1exit.code, 0, n1.err());
    assert.match(n1.err(), /stops taking work/);
    const r = await exited(c, 60_000);
    assert.is(r.code, 0, err);
    for (let i = 0; i < 10; i++) assert.ok(fs.existsSync(path.join(dir, `o${i}`)));
  } finally {
    await Promise.all([stop(n1), stop(n2)]);
  }
}, { timeout: 90_000 });

test('keys: a node refuses an open address without keys; allowed clients only; pinned node key', async () => {
  const refused = await b(['node', '--listen', 'tcp://0.0.0.0:0'], { timeout: 10_000 });
  assert.is(refused.code, 2);
  assert.match(refused.stderr, /refusing to listen on tcp:\/\/0\.0\.0\.0:0 without keys/);
  const dir = tmp('b-fed-keys-');
  const cfgOk = path.join(dir, 'cfg-ok');
  const cfgBad = path.join(dir, 'cfg-bad');
  const envOk = { ...process.env, B_CONFIG_DIR: cfgOk };
  const envBad = { ...process.env, B_CONFIG_DIR: cfgBad };
  assert.is((await b(['keygen', path.join(dir, 'node')], { env: envOk })).code, 0);
  const pub = (await b(['keygen', '--show'], { env: envOk })).stdout.trim();
  assert.is(pub.length, 40);
  fs.writeFileSync(path.join(dir, 'clients.pub'), `# build clients\n${pub}\n`);
  assert.is(fs.statSync(path.join(dir, 'node.key')).mode & 0o777, 0o600);
  const n = await node(['--workers', '2', '--jobs', '2', '--key', path.join(dir, 'node.key'), '--allow', path.join(dir, 'clients.pub')]);
  try {
    const pinned = `${n.endpoint}#${path.join(dir, 'node.pub')}`;
    const proj = project(4, 0.1);
    const ok = await b(['build', '-C', proj, '--node', pinned, '--local', '0', '--events', path.join(proj, '.events')], { env: envOk, timeout: 30_000 });
    assert.is(ok.code, 0, ok.stderr);
    assert.equal([...outputsBy(proj, 4).keys()], [n.id]);
    // Not on the allow list: refused (and the build runs locally, visibly).
    const proj2 = project(2, 0.1);
    const bad = await b(['build', '-C', proj2, '--node', pinned, '--local', '0'], { env: envBad, timeout: 30_000 });
    assert.is(bad.code, 0, bad.stderr);
    assert.match(bad.stderr, /no other node can take work now/);
    const st = await b(['status', '--node', pinned], { env: envOk });
    assert.match(st.stdout, /security: CurveZMQ/);
    assert.match(st.stdout, /refused connections: [1-9]/);
    const unpinned = await b(['status', '--node', n.endpoint], { env: envOk, timeout: 20_000 });
    assert.is(unpinned.code, 1);
  } finally {
    await stop(n);
  }
}, { timeout: 120_000 });

test('--insecure on an open address warns loudly at start and in b status', async () => {
  const n = await node(['--workers', '1', '--jobs', '1', '--insecure', '--listen', 'tcp://0.0.0.0:*']);
  try {
    assert.match(n.err(), /INSECURE/);
    // Unpinned and not on loopback: a client refuses it unless told --insecure.
    const open = n.out.find((l) => l.startsWith('listening on tcp://0.0.0.0:'))!.slice('listening on '.length);
    const refused = await b(['status', '--node', open]);
    assert.is(refused.code, 1);
    assert.match(refused.stderr, /no pinned key/);
    const st = await b(['status', '--node', open, '--insecure']);
    assert.match(st.stdout, /INSECURE/);
  } finally {
    await stop(n);
  }
});

test('malformed, wrong-version and random frames are dropped and counted; the node still builds', async () => {
  const n = await node(['--workers', '2', '--jobs', '2']);
  const zmq = await import('zeromq');
  // Loopback nodes use keys too: an allowed client (this user's key) sending garbage.
  const { configDir, readKeyPair, sessionId } = await import('../src/keys.ts');
  assert.is((await b(['keygen', '--show'])).code, 0);
  const key = readKeyPair(path.join(configDir(), 'client.key'));
  const sock = new zmq.Dealer({ linger: 0, routingId: sessionId(key, key.publicKey), curvePublicKey: key.publicKey, curveSecretKey: key.secretKey, curveServerKey: key.publicKey });
  const replies: Buffer[][] = [];
  try {
    sock.connect(n.endpoint);
    void (async () => {
      try {
        for (;;) replies.push(await sock.receive());
      } catch {
        // closed
      }
    })();
    let seed = 7;
    const rnd = (m: number): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % m;
    const hello = Buffer.from(JSON.stringify({ protocol: 1, b: 'x', role: 'client', name: 'fuzz' }));
    const valid = [
      [Buffer.from([0x42, 1, 0x01, 0, 0, 0, 0, 0]), hello],
      [Buffer.from([0x42, 1, 0x02, 0, 1, 0, 0, 0]), Buffer.from('{}'), Buffer.from('{"k":"echo"}')],
      [Buffer.from([0x42, 1, 0x05, 0, 2, 0, 0, 0])],
    ];
    const t0 = Date.now();
    let sent = 0;
    while (Date.now() - t0 < 3000) {
      let frames: Buffer[];
      const kind = rnd(4);
      if (kind === 0) frames = Array.from({ length: rnd(5) }, () => Buffer.from(Array.from({ length: rnd(40) }, () => rnd(256))));
      else {
        frames = valid[rnd(valid.length)]!.map((f) => Buffer.from(f));
        const f = frames[rnd(frames.length)]!;
        if (f.length > 0) f[rnd(f.length)] = rnd(256);
        if (kind === 2) frames.push(Buffer.from('extra'));
        if (kind === 3 && frames[0]) frames[0][1] = 99;
      }
      await sock.send(frames);
      sent++;
    }
    // The version handshake says what is wrong. The node answers the flood first (ZeroMQ drops
    // what overflows a peer's queue), so the hello goes once the answers have stopped coming,
    // and again every 2 s until its refusal arrives.
    for (let seen = -1, t = Date.now(); replies.length !== seen && Date.now() - t < 20_000;) {
      seen = replies.length;
      await new Promise((r) => setTimeout(r, 500));
    }
    const future = [Buffer.from([0x42, 1, 0x01, 0, 0, 0, 0, 0]), Buffer.from(JSON.stringify({ protocol: 99, b: '9.9', role: 'client', name: 'future' }))];
    const refused = (): string => replies.find((m) => m[0]?.[2] === 0x17 && m[1]?.toString().includes('protocol v99'))?.[1]?.toString() ?? '';
    for (let i = 0; i < 10 && refused() === ''; i++) {
      await sock.send(future);
      await until(refused, 2000, 'version refusal').catch(() => '');
    }
    const refusal = refused();
    assert.match(refusal, /speaks protocol v99/);
    assert.ok(sent > 100);
    const st = await b(['status', '--node', n.endpoint, '--json']);
    const status = JSON.parse(st.stdout) as { stats: { dropped: number } };
    assert.ok(status.stats.dropped > 10, `dropped ${status.stats.dropped}`);
    const dir = project(4, 0.1);
    const r = await build(dir, ['--node', n.endpoint, '--local', '0']);
    assert.is(r.code, 0, r.stderr);
    assert.equal([...outputsBy(dir, 4).keys()], [n.id]);
  } finally {
    sock.close();
    await stop(n);
  }
}, { timeout: 90_000 });

test.run();
