// Batched writes of the execution core: the .ninja_log lines of one event-loop turn go out in one
// append (and close() writes what is queued at once), and the spawn helper gets every request of
// one turn in one pipe write, in order, each still answered.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { suite, tmp } from './helpers.ts';
import { NinjaLog } from '../src/ninja-log.ts';
import { PerlSpawner } from '../src/spawn-perl.ts';
import { decodeSpawnReply } from '../src/spawner.ts';

const test = suite('spawn-batch');
const cjsFs = createRequire(import.meta.url)('node:fs') as typeof fs;
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Counts fs.writeSync calls while `f` runs (fs's ESM bindings follow the patched CommonJS one). */
async function countWrites(f: () => Promise<void>): Promise<number> {
  const real = cjsFs.writeSync;
  let n = 0;
  cjsFs.writeSync = ((...a: Parameters<typeof fs.writeSync>) => {
    n++;
    return (real as (...x: unknown[]) => number)(...a);
  }) as typeof fs.writeSync;
  syncBuiltinESMExports();
  try {
    await f();
  } finally {
    cjsFs.writeSync = real;
    syncBuiltinESMExports();
  }
  return n;
}

const rec = (i: number) => ({ startMs: i, endMs: i + 1, mtime: 1000n + BigInt(i), output: `out${i}`, hash: 'abc' });

test('the lines of 200 edges that end in one turn are one append, in order, written before the next turn', async () => {
  const dir = tmp();
  const { log } = NinjaLog.open(dir);
  const file = path.join(dir, '.ninja_log');
  const writes = await countWrites(async () => {
    for (let i = 0; i < 200; i++) log.record([rec(i)]);
    await nextTurn();
  });
  // One for the file's signature line (it was new), one for the 200 lines.
  assert.is(writes, 2);
  const lines = fs.readFileSync(file, 'latin1').split('\n').filter((l) => l !== '');
  assert.is(lines[0], '# ninja log v7');
  assert.is(lines.length, 201);
  assert.is(lines[1], '0\t1\t1000\tout0\tabc');
  assert.is(lines[200], '199\t200\t1199\tout199\tabc');
  log.close();
}, { timeout: 10_000 });

test('close() appends what this turn queued at once', () => {
  const dir = tmp();
  const { log } = NinjaLog.open(dir);
  log.record([rec(1), rec(2)]);
  log.close();
  const text = fs.readFileSync(path.join(dir, '.ninja_log'), 'latin1');
  assert.ok(text.includes('\tout1\t') && text.includes('\tout2\t'), text);
}, { timeout: 10_000 });

test('the spawn helper gets the requests of one turn in one write, and answers each', async () => {
  const sp = PerlSpawner.start('python');
  if (sp === undefined) return; // no Python 3 here (the Perl helper shares this code)
  const proto = net.Socket.prototype as unknown as { write: (...a: unknown[]) => boolean };
  const real = proto.write;
  let frames = 0;
  proto.write = function (this: unknown, ...a: unknown[]) {
    const c = a[0];
    if (Buffer.isBuffer(c) && c.subarray(0, 2).toString() === 'R ') frames++;
    return real.apply(this, a);
  };
  const dir = tmp();
  try {
    const runs = [];
    for (let i = 0; i < 20; i++) runs.push(sp.run({ shell: `echo ${i} > ${i}.txt; echo ${i}`, cwd: dir }));
    await nextTurn();
    assert.is(frames, 1, 'one write for 20 requests');
    const results = await Promise.all(runs.map((r) => r!.done));
    results.forEach((r, i) => {
      assert.is(r.exit, 0);
      assert.is(r.output, `${i}\n`);
      assert.is(fs.readFileSync(path.join(dir, `${i}.txt`), 'utf8'), `${i}\n`);
    });
  } finally {
    proto.write = real;
    await sp.close();
  }
}, { timeout: 20_000 });

for (const prefer of ['python', 'perl'] as const) {
  test(`${prefer}: one slot serves command after command, each output exactly its own (stdout and stderr interleaved), its file kept small`, async () => {
    const sp = PerlSpawner.start(prefer);
    if (sp === undefined || sp.kind !== prefer) return void (await sp?.close()); // no such interpreter here
    const dir = tmp();
    try {
      // One at a time: every command gets slot 0, the Python helper's file of that slot grows
      // by appending until it passes 64 KiB, then it is truncated before the next start.
      const big = 'x'.repeat(100_000);
      for (const [i, shell] of [`echo a; echo b >&2; echo c`, `printf '${big}'`, `echo after-big >&2`, `true`, `echo last`].entries()) {
        const r = await sp.run({ shell, cwd: dir })!.done;
        assert.is(r.exit, 0, shell.slice(0, 40));
        assert.is(r.output, [`a\nb\nc\n`, big, 'after-big\n', '', 'last\n'][i], `output of command ${i}`);
      }
      const helperDir = (sp as unknown as { dir: string }).dir;
      assert.ok(fs.statSync(path.join(helperDir, '0')).size < 1000, 'the slot file was truncated after the big output');
      // Exit codes and signals come through exactly.
      assert.is((await sp.run({ shell: 'exit 7', cwd: dir })!.done).exit, 7);
      const killed = await sp.run({ shell: 'kill -9 $$', cwd: dir })!.done;
      assert.is(killed.signal, 'SIGKILL');
      assert.is(killed.exit, -1);
    } finally {
      await sp.close();
    }
  }, { timeout: 20_000 });
}

test('python: stdout apart (a Bfile run()): exactly the command\'s own, beside plain commands in the same slot, its file kept small', async () => {
  const sp = PerlSpawner.start('python');
  if (sp === undefined || sp.kind !== 'python') return void (await sp?.close());
  const dir = tmp();
  try {
    assert.ok(sp.accepts({ shell: 'true', splitStdout: true }), 'the Python helper takes stdout apart');
    const big = 'y'.repeat(100_000);
    // A plain command first: the slot exists when the first one with stdout apart comes.
    const cases: { req: { shell?: string; argv?: string[]; splitStdout?: boolean }; stdout?: string; output: string }[] = [
      { req: { shell: 'echo plain0' }, output: 'plain0\n' },
      { req: { shell: 'echo out1; echo err1 >&2; echo out2', splitStdout: true }, stdout: 'out1\nout2\n', output: 'out1\nout2\nerr1\n' },
      { req: { shell: 'echo plain; echo plain-err >&2' }, output: 'plain\nplain-err\n' },
      { req: { shell: `printf '${big}'`, splitStdout: true }, stdout: big, output: big },
      { req: { argv: ['sh', '-c', 'echo argv-out; echo argv-err >&2'], splitStdout: true }, stdout: 'argv-out\n', output: 'argv-out\nargv-err\n' },
      { req: { shell: 'echo only-err >&2', splitStdout: true }, stdout: '', output: 'only-err\n' },
      { req: { shell: 'true', splitStdout: true }, stdout: '', output: '' },
    ];
    for (const [i, c] of cases.entries()) {
      const r = await sp.run({ ...c.req, cwd: dir })!.done;
      assert.is(r.exit, 0, `command ${i}`);
      assert.is(r.stdout, c.stdout, `stdout of command ${i}`);
      assert.is(r.output, c.output, `output of command ${i}`);
    }
    const helperDir = (sp as unknown as { dir: string }).dir;
    assert.ok(fs.statSync(path.join(helperDir, '0o')).size < 1000, 'the stdout file was truncated after the big output');
    // Two at once: each gets its own slot's files.
    const [a, b] = await Promise.all([sp.run({ shell: 'sleep 0.1; echo A', cwd: dir, splitStdout: true })!.done, sp.run({ shell: 'echo B; echo B2 >&2', cwd: dir, splitStdout: true })!.done]);
    assert.is(a.stdout, 'A\n');
    assert.is(b.stdout, 'B\n');
    assert.is(b.output, 'B\nB2\n');
    const failed = await sp.run({ shell: 'echo partial; exit 3', cwd: dir, splitStdout: true })!.done;
    assert.is(failed.exit, 3);
    assert.is(failed.stdout, 'partial\n');
  } finally {
    await sp.close();
  }
}, { timeout: 20_000 });

test('perl: stdout apart is not the Perl helper\'s (such a command goes another way)', async () => {
  const sp = PerlSpawner.start('perl');
  if (sp === undefined || sp.kind !== 'perl') return void (await sp?.close());
  try {
    assert.not.ok(sp.accepts({ shell: 'true', splitStdout: true }));
    assert.ok(sp.accepts({ shell: 'true' }));
    assert.not.ok(sp.accepts({ shell: 'true', console: true }));
  } finally {
    await sp.close();
  }
}, { timeout: 10_000 });

test('python: a relative cwd after an absolute one is still taken from where B runs, and no cwd means there', async () => {
  const sp = PerlSpawner.start('python');
  if (sp === undefined || sp.kind !== 'python') return void (await sp?.close());
  const a = fs.realpathSync(tmp());
  const b = fs.realpathSync(tmp());
  fs.mkdirSync(path.join(a, 'deep', 'er'), { recursive: true });
  try {
    // The helper stays in an absolute cwd after a command; a relative one must not resolve there.
    const pwd = async (cwd?: string): Promise<string> => (await sp.run(cwd === undefined ? { shell: 'pwd -P' } : { shell: 'pwd -P', cwd })!.done).output.trim();
    assert.is(await pwd(path.join(a, 'deep', 'er')), path.join(a, 'deep', 'er'));
    assert.is(await pwd(path.relative(process.cwd(), b)), b);
    assert.is(await pwd(path.join(a, 'deep', 'er')), path.join(a, 'deep', 'er'));
    assert.is(await pwd(), fs.realpathSync(process.cwd()));
    const bad = await sp.run({ shell: 'true', cwd: path.join(a, 'missing') })!.done;
    assert.match(bad.spawnError ?? '', /cannot change to directory .*missing/);
    assert.is(await pwd(path.relative(process.cwd(), b)), b, 'after a failed chdir');
  } finally {
    await sp.close();
  }
}, { timeout: 20_000 });

test('a reply of the Node helper is decoded to its declared shape, anything else refused', () => {
  assert.equal(decodeSpawnReply('{"id":0}'), { id: 0 });
  assert.equal(decodeSpawnReply('{"id":3,"exit":1,"output":"x","start":1,"end":2,"signal":"SIGTERM"}'), { id: 3, exit: 1, output: 'x', start: 1, end: 2, signal: 'SIGTERM' });
  assert.equal(decodeSpawnReply('{"id":4,"exit":-1,"output":"","start":1,"end":2,"spawnError":"sh: x: not found","stdout":""}'), { id: 4, exit: -1, output: '', start: 1, end: 2, spawnError: 'sh: x: not found', stdout: '' });
  // An unknown field is refused, as shape.ts refuses it in every message.
  for (const bad of ['{"id":3,"exit":1,"output":"x","start":1,"end":2,"signal":"SIGTERM","extra":5}', '{"id":0,"exit":0}', '{"id":3,"exit":1,"exit":1,"output":"x","start":1,"end":2}', '', 'nope', '[]', 'null', '{"id":-1}', '{"id":1.5,"exit":0,"output":"","start":0,"end":0}', '{"id":2,"exit":"0","output":"","start":0,"end":0}', '{"id":2,"exit":0,"start":0,"end":0}', '{"id":2,"exit":0,"output":"","start":0,"end":0,"spawnError":7}']) {
    assert.is(decodeSpawnReply(bad), undefined, bad);
  }
}, { timeout: 10_000 });

test.run();
