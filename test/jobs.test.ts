// The execution core through the built binary: -j bounds commands, not threads; many children at
// once; no child outlives a SIGKILLed b. (The scheduling itself is unit-tested over a fake
// runner in engine-sched.test.ts; these are what only real processes show.)
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { B, b, exited, start, suite, tmp, until } from './helpers.ts';

const test = suite('jobs');

function manifest(n: number, cmd: (i: number) => string): string {
  const dir = tmp('b-jobs-');
  const lines = ['rule r', '  command = $cmd', ''];
  for (let i = 0; i < n; i++) lines.push(`build o${i}: r`, `  cmd = ${cmd(i)}`);
  fs.writeFileSync(path.join(dir, 'build.ninja'), lines.join('\n') + '\n');
  return dir;
}

function pgrep(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', `^${pattern}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const threads = (pid: number): number => fs.readdirSync(`/proc/${pid}/task`).length;

test('-j64 runs 64 commands at once on 2 worker threads: the thread count does not follow -j', async () => {
  const marker = `${Math.floor(Math.random() * 1e6) + 1}.3`;
  const dir = manifest(64, (i) => `sleep ${marker} && touch o${i}`);
  const c = start(B, ['ninja', '-C', dir, '-j64', '--quiet'], { env: { ...process.env, B_WORKERS: '2' } });
  try {
    let most = 0;
    let tasks = 0;
    await until(() => {
      const n = pgrep(`sleep ${marker}`).length;
      if (n > most) {
        most = n;
        tasks = threads(c.pid!);
      }
      return n === 64;
    }, 30_000, '64 commands running at once');
    // Measured: 16 threads (main, broker, 2 workers, ZeroMQ's I/O and reaper, libuv's pool of
    // 4, V8's platform threads). With one thread per job it was 64 + 12.
    assert.ok(tasks <= 2 + 16, `${tasks} threads with 64 commands running (B_WORKERS=2)`);
    assert.ok(most === 64);
    process.kill(c.pid!, 'SIGTERM');
    await exited(c, 20_000);
  } finally {
    c.kill('SIGKILL');
  }
}, { timeout: 90_000 });

test('500 concurrent children complete', async () => {
  const dir = manifest(500, (i) => `sleep 2 && echo ${i} > o${i}`);
  const r = await b(['ninja', '-C', dir, '-j500', '--quiet'], { timeout: 170_000 });
  assert.is(r.code, 0, r.stderr);
  for (let i = 0; i < 500; i++) assert.is(fs.readFileSync(path.join(dir, `o${i}`), 'utf8'), `${i}\n`);
  // Again, with every output up to date: nothing runs.
  const again = await b(['ninja', '-C', dir, '-j500'], { timeout: 60_000 });
  assert.match(again.stdout, /no work to do/);
}, { timeout: 240_000 });

test('SIGKILL of b mid-build: no command keeps running, none writes its output afterwards', async () => {
  // A unique sleep of about 3 s, to find them: after b is killed they would have ended by then.
  const marker = `3.${Math.floor(Math.random() * 1e6) + 1}`;
  // The first commands too (they used to be spawned directly until a worker's 16th).
  const dir = manifest(8, (i) => `sleep ${marker} && touch o${i}`);
  const c = start(B, ['ninja', '-C', dir, '-j8', '--quiet']);
  await until(() => pgrep(`sleep ${marker}`).length === 8, 30_000, '8 commands running');
  process.kill(c.pid!, 'SIGKILL');
  await exited(c, 10_000);
  await until(() => pgrep(`sleep ${marker}`).length === 0, 10_000, 'commands gone after SIGKILL of b');
  await new Promise((r) => setTimeout(r, Number(marker) * 1000 + 500));
  for (let i = 0; i < 8; i++) assert.not.ok(fs.existsSync(path.join(dir, `o${i}`)), `o${i} written after b was killed`);
}, { timeout: 60_000 });

test('b node --jobs M advertises M command slots next to its threads; b status shows both', async () => {
  const n = start(B, ['node', '--workers', '1', '--jobs', '7', '--listen', 'tcp://127.0.0.1:*']);
  try {
    let out = '';
    n.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => /listening on tcp:\/\/127\.0\.0\.1:\d+/.test(out), 15_000, 'node start');
    assert.match(out, /: 1 workers, 7 jobs,/);
    const addr = /listening on (tcp:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
    const st = await b(['status', '--node', addr], { timeout: 20_000 });
    assert.is(st.code, 0, st.stderr);
    assert.match(st.stdout, /workers: 1 threads .*jobs: 7 command slots/);
  } finally {
    n.kill('SIGINT');
    await exited(n, 20_000);
  }
}, { timeout: 60_000 });

test.run();
