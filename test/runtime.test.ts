// End-to-end tests of the executable and its in-process runtime (broker, workers, I/O threads).
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { B, b, exited, lines, run, start, suite, tmp, until } from './helpers.ts';

const test = suite('runtime');

test('--version, --help and per-command help', async () => {
  const v = await b(['--version']);
  assert.is(v.code, 0);
  assert.match(v.stdout, /^b\/\d+\.\d+\.\d+/);
  const h = await b(['--help']);
  assert.is(h.code, 0);
  for (const c of ['node', 'exec']) assert.match(h.stdout, new RegExp(`\\b${c}\\b`));
  const nh = await b(['node', '--help']);
  assert.is(nh.code, 0);
  assert.match(nh.stdout, /--io-threads/);
  assert.match(nh.stdout, /--workers/);
});

test('unknown commands and flags: clear error, exit 2', async () => {
  const c = await b(['frobnicate']);
  assert.is(c.code, 2);
  assert.match(c.stderr, /unknown command "frobnicate"/);
  const f = await b(['node', '--no-such-flag']);
  assert.is(f.code, 2);
  assert.match(f.stderr, /unknown option "--no-such-flag"/);
  const w = await b(['exec', '--workers', 'many', '--', 'true']);
  assert.is(w.code, 2);
  assert.match(w.stderr, /--workers must be an integer/);
});

test('runs with no Node.js installed, from an empty directory', async () => {
  const empty = tmp();
  const home = tmp();
  const hide = tmp();
  // Hide every node binary the machine has behind an empty file, in a private mount namespace.
  // Every node on PATH too (resolved: a bind mount covers the file a symlink names).
  const onPath = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, 'node'));
  const nodes = [...new Set(['/usr/bin/node', '/usr/local/bin/node', process.execPath, ...onPath].filter((p) => fs.existsSync(p)).map((p) => fs.realpathSync(p)))];
  const blank = path.join(hide, 'blank');
  fs.writeFileSync(blank, '');
  const mounts = nodes.map((n) => `mount --bind ${blank} ${n}`).join(' && ');
  const script = `${mounts} && cd ${empty} && if command -v node >/dev/null 2>&1 && node --version >/dev/null 2>&1; then echo NODE-STILL-THERE; exit 9; fi; exec env -i PATH=/nonexistent HOME=${home} ${B} debug fib 12 --workers 2`;
  const r = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { timeout: 30_000 });
  assert.is(r.stdout.includes('NODE-STILL-THERE'), false, 'node was not hidden');
  assert.is(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim()), { n: 12, fib: 144, workers: 2 });
});

test('native addon: private content-addressed cache, safe when many start at once', async () => {
  const cache = path.join(tmp(), 'cache');
  const env = { ...process.env, B_CACHE_DIR: cache };
  const runs = await Promise.all(Array.from({ length: 8 }, () => b(['debug', 'fib', '6', '--workers', '1'], { env, timeout: 30_000 })));
  for (const r of runs) assert.is(r.code, 0, r.stderr);
  const addons = fs.readdirSync(path.join(cache, 'addons'));
  assert.is(addons.filter((f) => f.endsWith('.node')).length, 1, `addons: ${addons.join(', ')}`);
  assert.is(addons.filter((f) => f.endsWith('.tmp')).length, 0, 'temp files left behind');
  assert.is(fs.statSync(cache).mode & 0o777, 0o700);
  assert.is(fs.statSync(path.join(cache, 'addons')).mode & 0o777, 0o700);
  assert.match(addons[0] ?? '', /^zeromq-linux-x64-[0-9a-f]{32}\.node$/);
});

test('addon cache: unusable HOME falls back to a private temp dir; nothing writable is a clear error', async () => {
  const t = tmp();
  const base = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const r = await b(['debug', 'fib', '5', '--workers', '1'], { env: { ...base, HOME: '/dev/null/nohome', TMPDIR: t }, timeout: 30_000 });
  assert.is(r.code, 0, r.stderr);
  const uid = process.getuid?.() ?? 0;
  assert.ok(fs.existsSync(path.join(t, `b-${uid}`, 'addons')), 'expected the temp-dir fallback');
  const noHome = await b(['debug', 'fib', '5', '--workers', '1'], { env: { ...base, TMPDIR: t }, timeout: 30_000 });
  assert.is(noHome.code, 0, noHome.stderr);
  const none = await b(['debug', 'fib', '5'], { env: { ...base, HOME: '/dev/null/a', TMPDIR: '/dev/null/b' }, timeout: 30_000 });
  assert.is(none.code, 2);
  assert.match(none.stderr, /no writable private directory/);
  assert.match(none.stderr, /B_CACHE_DIR/);
});

test('-j N bounds commands exactly, whatever the threads: 1 worker runs 3 commands at once', async () => {
  const script = 'echo "start $(date +%s%N)"; sleep 0.4; echo "end $(date +%s%N)"';
  const r = await b(['exec', '--workers', '1', '-j', '3', '--count', '9', '--json', '--', 'sh', '-c', script], { timeout: 30_000 });
  assert.is(r.code, 0, r.stderr);
  const items = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { item: number; exit: number; output: string });
  assert.is(items.length, 9);
  const events: [number, number][] = [];
  for (const it of items) {
    assert.is(it.exit, 0);
    const s = Number(/start (\d+)/.exec(it.output)?.[1]);
    const e = Number(/end (\d+)/.exec(it.output)?.[1]);
    events.push([s, 1], [e, -1]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of events) {
    cur += d;
    max = Math.max(max, cur);
  }
  assert.is(max, 3, `max overlap ${max}`);
});

test('recursive work from inside workers completes with 1 worker and with many', async () => {
  for (const w of ['1', '4']) {
    const r = await b(['debug', 'fib', '14', '--workers', w], { timeout: 30_000 });
    assert.is(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.trim()), { n: 14, fib: 377, workers: Number(w) });
  }
});

test('a throwing job gets a failure reply and the node keeps serving', async () => {
  const r = await b(['debug', 'throw', 'boom from test', '--workers', '2'], { timeout: 30_000 });
  assert.is(r.code, 0, r.stderr);
  const [first, second] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.is(first?.failed, true);
  const f = first?.failure as { code: string; message: string; where: string };
  assert.is(f.code, 'work.threw');
  assert.is(f.message, 'boom from test');
  assert.match(f.where, /^w\d+$/);
  assert.equal(second, { after: 5 });
});

test('a failing command is a failed item with its exit status, not a crash', async () => {
  const r = await b(['exec', '--', 'sh', '-c', 'echo oops; exit 3']);
  assert.is(r.code, 1);
  assert.match(r.stdout, /oops/);
  assert.match(r.stderr, /exited with 3/);
  const m = await b(['exec', '--', '/no/such/program']);
  assert.is(m.code, 1);
  assert.match(m.stderr, /cannot run \/no\/such\/program/);
});

function pgrep(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', `^${pattern}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

test('SIGINT mid-run: commands killed, threads joined, clean exit', async () => {
  const marker = `${Math.floor(Math.random() * 1e6) + 1}.5`; // unique sleep duration to find them
  const c = start(B, ['exec', '--workers', '2', '-j', '2', '--count', '4', '--', 'sleep', marker]);
  await until(() => pgrep(`sleep ${marker}`).length === 2, 10_000, 'two commands running');
  process.kill(c.pid!, 'SIGINT');
  const r = await exited(c, 15_000);
  assert.is(r.code, 130, 'an interrupted build exits 130');
  assert.is(pgrep(`sleep ${marker}`).length, 0, 'commands left running');
});

function ppid(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const helper of ['python', 'perl', 'node'] as const) {
  test(`every command, the first one too, starts from the spawn helper (${helper}); SIGKILL of b leaves no command and no helper behind`, async () => {
    const marker = `${Math.floor(Math.random() * 1e6) + 1}.25`;
    const env = { ...process.env, B_SPAWNER: helper };
    const c = start(B, ['exec', '--workers', '2', '-j', '2', '--count', '4', '--', 'sleep', marker], { env });
    await until(() => pgrep(`sleep ${marker}`).length === 2, 10_000, 'two commands running');
    const helpers = [...new Set(pgrep(`sleep ${marker}`).map(ppid))];
    assert.ok(helpers.length >= 1 && !helpers.includes(c.pid!), 'commands are children of a helper, not of b');
    for (const h of helpers) {
      assert.is(ppid(h), c.pid!, 'the helper is a child of b');
      if (helper === 'node') assert.match(fs.readFileSync(`/proc/${h}/environ`, 'latin1'), /(^|\0)B_SPAWNER=1\0/);
      else if (helper === 'perl') assert.match(fs.readFileSync(`/proc/${h}/cmdline`, 'latin1'), /^\/\S*perl\0\S+\/b-spawn-\w+\/helper\.pl\0/);
      else assert.match(fs.readFileSync(`/proc/${h}/cmdline`, 'latin1'), /^\/\S*python3\0-I\0-S\0\S+\/b-spawn-\w+\/helper\.py\0/);
    }
    // Each command leads its own process group (a stop reaches its whole tree).
    for (const p of pgrep(`sleep ${marker}`)) assert.is(Number(fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]), p);
    const dirs = helper !== 'node' ? helpers.map((h) => fs.readFileSync(`/proc/${h}/cmdline`, 'latin1').split('\0').filter(Boolean).pop()!) : [];
    for (const d of dirs) assert.is(fs.statSync(d).mode & 0o777, 0o700, 'the output directory is private');
    process.kill(c.pid!, 'SIGKILL');
    await exited(c, 10_000);
    // The helper sees its stdin close, stops its commands and exits (and removes its directory).
    await until(() => pgrep(`sleep ${marker}`).length === 0 && helpers.every((h) => !alive(h)), 10_000, 'commands and helpers gone');
    for (const d of dirs) assert.not.ok(fs.existsSync(d), `${d} removed`);
  });
}

test('B_SPAWNER=0: commands are spawned by b itself, and still killed on Ctrl-C', async () => {
  const marker = `${Math.floor(Math.random() * 1e6) + 1}.25`;
  // B_SPAWNER=0: spawned by b itself, and still killed on Ctrl-C.
  const d = start(B, ['exec', '--workers', '2', '-j', '2', '--count', '4', '--', 'sleep', marker], { env: { ...process.env, B_SPAWNER: '0' } });
  await until(() => pgrep(`sleep ${marker}`).length === 2, 10_000, 'two commands running');
  assert.ok(pgrep(`sleep ${marker}`).every((p) => ppid(p) === d.pid), 'spawned directly');
  process.kill(d.pid!, 'SIGINT');
  await exited(d, 15_000);
  assert.is(pgrep(`sleep ${marker}`).length, 0);
});

test('a spawn helper killed mid-command: those commands fail with a clear error, never run twice; later ones run', async () => {
  const marker = `${Math.floor(Math.random() * 1e6) + 1}.75`;
  const dir = tmp('b-spawner-');
  const flag = path.join(dir, 'flag');
  const fast = path.join(dir, 'fast');
  fs.writeFileSync(flag, '');
  const c = start(B, ['exec', '--workers', '1', '-j', '1', '--count', '1000', '--', 'sh', '-c', `[ -e ${flag} ] && exec sleep ${marker}; [ -e ${fast} ] || sleep 0.02`]);
  let err = '';
  c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await until(() => pgrep(`sleep ${marker}`).length === 1, 10_000, 'a command running under the helper');
    const [sleeper] = pgrep(`sleep ${marker}`);
    const helper = ppid(sleeper!);
    assert.is.not(helper, c.pid!);
    fs.rmSync(flag);
    fs.writeFileSync(fast, ''); // the rest, run directly now, end at once
    process.kill(helper, 'SIGKILL');
    const r = await exited(c, 60_000);
    assert.is(r.code, 1, err);
    assert.match(err, /spawn helper \(((perl|python), )?pid \d+\) was killed by SIGKILL while this command ran; it was not retried/);
    assert.match(err, /1000 items: 999 ok, 1 failed/);
  } finally {
    for (const p of pgrep(`sleep ${marker}`)) process.kill(p, 'SIGKILL');
    c.kill('SIGKILL');
  }
});

test('b node: prints its id, workers and endpoints; SIGINT and SIGTERM stop it with exit 0', async () => {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const c = start(B, ['node', '--workers', '2']);
    const out = lines(c);
    let err = '';
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    await until(() => out.some((l) => l.startsWith('listening on')), 10_000, 'node start');
    assert.match(out[0] ?? '', /^node \S+: 2 workers, \d+ jobs, 1 I\/O threads/);
    process.kill(c.pid!, sig);
    const r = await exited(c, 15_000);
    assert.is(r.code, 0, `exit after ${sig}: ${r.code} ${r.signal} ${err}`);
    assert.not.match(err, /Napi|Abort|internal error/);
  }
});

function ioThreads(pid: number): number {
  const dir = `/proc/${pid}/task`;
  return fs.readdirSync(dir).filter((t) => {
    try {
      return fs.readFileSync(path.join(dir, t, 'comm'), 'utf8').startsWith('ZMQbg/IO/');
    } catch {
      return false;
    }
  }).length;
}

test('--io-threads sets the number of ZeroMQ I/O threads', async () => {
  for (const n of [1, 3]) {
    const c = start(B, ['node', '--workers', '1', '--io-threads', String(n)]);
    const out = lines(c);
    await until(() => out.some((l) => l.startsWith('listening on')), 10_000, 'node start');
    assert.is(ioThreads(c.pid!), n);
    process.kill(c.pid!, 'SIGTERM');
    assert.is((await exited(c)).code, 0);
  }
});

test.run();
