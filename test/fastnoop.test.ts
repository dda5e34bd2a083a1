// The no-op snapshot (fastnoop.ts): a build with nothing to do answers from the stats of what
// the last build read and wrote, and anything that could change the answer takes the normal
// path. `--verbose` says which path was taken and why, which is what these tests read.
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { B, b, exited, start, suite, tmp, until } from './helpers.ts';

const test = suite('fastnoop');

const HIT = /no-op snapshot: \d+ files unchanged/;

function write(dir: string, name: string, text: string, ageSeconds = 0): void {
  const f = path.join(dir, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, text);
  // Build files edited within the last 2 s are not trusted to a snapshot (their mtime tick may
  // hide a second edit); the tests date them back instead of sleeping.
  if (ageSeconds > 0) {
    const t = Date.now() / 1000 - ageSeconds;
    fs.utimesSync(f, t, t);
  }
}

async function build(dir: string, args: string[] = [], env: Record<string, string | undefined> = {}) {
  const r = await b(['build', '-C', dir, '--verbose', ...args], { env: { ...process.env, FOO: undefined, FAIL: undefined, ...env } as NodeJS.ProcessEnv, timeout: 60_000 });
  return { ...r, hit: HIT.test(r.stderr), why: /no-op snapshot not used: (.*)/.exec(r.stderr)?.[1] ?? '' };
}

test('a Bfile build: no-op from the snapshot; inputs, env, imports, targets and outputs invalidate it', async () => {
  const dir = tmp('b-noop-');
  write(dir, 'lib.ts', `export const suffix = '!';\n`, 10);
  write(dir, 'Bfile.ts', `import type { B } from 'b';
import { suffix } from './lib.ts';
export default (b: B) => {
  b.default('out.txt');
  b.rule('out.txt', async ({ read, write, env }) => {
    if (await env('FAIL')) throw new Error('asked to fail');
    await write('out.txt', (await read('in.txt')).trim() + (await env('FOO') ?? '-') + suffix);
  });
  b.rule('other.txt', async ({ write }) => { await write('other.txt', 'o'); });
};`, 10);
  write(dir, 'in.txt', 'a');
  const out = () => fs.readFileSync(path.join(dir, 'out.txt'), 'utf8');

  let r = await build(dir);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.why, 'no snapshot of the last build');
  assert.is(out(), 'a-!');
  r = await build(dir);
  assert.ok(r.hit, r.stderr);
  assert.match(r.stderr, /no work to do \(1 up to date\)/);

  write(dir, 'in.txt', 'b');
  r = await build(dir);
  assert.match(r.why, /in\.txt changed$/);
  assert.is(out(), 'b-!');
  assert.ok((await build(dir)).hit);

  r = await build(dir, [], { FOO: 'x' });
  assert.is(r.why, 'environment variable FOO changed');
  assert.is(out(), 'bx!');
  assert.ok((await build(dir, [], { FOO: 'x' })).hit);
  assert.is((await build(dir)).why, 'environment variable FOO changed');

  write(dir, 'lib.ts', `export const suffix = '?';\n`, 5);
  r = await build(dir);
  assert.match(r.why, /lib\.ts changed$/);
  assert.is(out(), 'b-?');
  assert.ok((await build(dir)).hit);

  r = await build(dir, ['other.txt']);
  assert.is(r.why, 'the last build had other targets');
  assert.is((await build(dir)).why, 'the last build had other targets');

  fs.rmSync(path.join(dir, 'out.txt'));
  r = await build(dir);
  assert.match(r.why, /out\.txt is gone$/);
  assert.is(out(), 'b-?');

  // Flags that report on the build itself always take the normal path.
  r = await build(dir, ['-n']);
  assert.not.ok(r.hit);
  assert.ok((await build(dir)).hit);

  // A failed build leaves no snapshot behind: the next one decides per rule.
  r = await build(dir, [], { FAIL: '1' });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /asked to fail/);
  r = await build(dir, [], { FAIL: '1' });
  assert.is(r.code, 1, r.stderr);
  assert.is(r.why, 'no snapshot of the last build');
  r = await build(dir);
  assert.is(r.code, 0, r.stderr);
  assert.ok((await build(dir)).hit);
}, { timeout: 180_000 });

test('a Ninja build: `b ninja` no-op from the snapshot; a header named by a depfile invalidates it', async () => {
  const dir = tmp('b-noop-ninja-');
  write(dir, 'build.ninja', `rule cc
  command = cat $in h.h > $out && echo "$out: $in h.h" > $out.d
  depfile = $out.d
  deps = gcc
rule link
  command = ln -f $in $out
build out: cc in.c
build copy.txt: link data.txt
`, 10);
  write(dir, 'data.txt', 'data\n');
  write(dir, 'in.c', 'c\n');
  write(dir, 'h.h', 'h\n');
  const ninja = (args: string[] = []) => b(['ninja', '-C', dir, ...args], { timeout: 60_000 });
  let r = await ninja();
  assert.is(r.code, 0, r.stderr);
  assert.ok(fs.existsSync(path.join(dir, '.b', 'noop')), 'a snapshot after a clean build');
  // The hard link changed data.txt's ctime after the build read it; its content is the same, so
  // the very next build still answers from the snapshot.
  const v = await build(dir);
  assert.ok(v.hit, v.stderr);
  r = await ninja();
  assert.match(r.stdout, /ninja: no work to do\./);
  write(dir, 'h.h', 'h2\n');
  r = await ninja();
  assert.match(r.stdout, /\[1\/1\] cat in\.c h\.h/);
  assert.is(fs.readFileSync(path.join(dir, 'out'), 'utf8'), 'c\nh2\n');
  // A manifest edit is a change too.
  write(dir, 'build.ninja', fs.readFileSync(path.join(dir, 'build.ninja'), 'utf8') + 'build extra: cc in.c\ndefault out copy.txt extra\n', 5);
  r = await ninja();
  assert.match(r.stdout, /cat in\.c h\.h > extra/);
  assert.match((await ninja()).stdout, /no work to do/);
}, { timeout: 180_000 });

test('an input only of the generator edge (meson.build, CMakeLists.txt) invalidates the snapshot: the manifest is regenerated', async () => {
  // It was read only while checking the manifest, before the build proper: a snapshot written
  // without it answered "no work to do" after an edit of meson.build.
  const dir = tmp('b-noop-gen-');
  write(dir, 'gen.sh', `cat > build.ninja <<'X'
rule gen
  command = sh gen.sh && echo regenerated
  generator = 1
rule cp
  command = cp $in $out
build build.ninja: gen | gen.sh project.conf
build project.conf: phony
build out.txt: cp in.txt
default out.txt
X
`, 10);
  write(dir, 'project.conf', 'v1\n', 10);
  write(dir, 'in.txt', 'in\n', 10);
  // As after `meson setup`: the manifest newer than its inputs, so no engine reads them.
  execFileSync('sh', ['gen.sh'], { cwd: dir });
  const t = Date.now() / 1000 - 5;
  fs.utimesSync(path.join(dir, 'build.ninja'), t, t);
  const ninja = () => b(['ninja', '-C', dir], { timeout: 60_000 });
  let r = await ninja();
  assert.is(r.code, 0, r.stderr);
  const v = await build(dir);
  assert.ok(v.hit, `expected a snapshot hit: ${v.stderr}`);
  write(dir, 'project.conf', 'v2, longer\n');
  r = await ninja();
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /regenerated/);
}, { timeout: 120_000 });

test('generators\' manifests: Meson\'s input-less phony and CMake\'s output-less custom commands keep the snapshot', async () => {
  const dir = tmp('b-noop-gen-');
  // The shapes CMake and Meson write: a phony without inputs that only a phony uses (Meson's
  // meson-benchmark-prereq), an object directory as an order-only input (CMake), and custom
  // commands whose declared output never appears (CMake's symlink steps, run in every build by
  // ninja), one ordered after the other.
  write(dir, 'build.ninja', `rule cc
  command = cat $in > $out
rule CUSTOM_COMMAND
  command = $COMMAND
  description = $DESC
build objs/a.o: cc a.c || order_depends
build order_depends: phony || objs
build prog: cc objs/a.o
build CMakeFiles/sym: CUSTOM_COMMAND prog
  COMMAND = test -z "$$FAIL" && ln -sf prog sym && echo sym >> runs.log
  DESC = Creating sym symlink
build CMakeFiles/sym2: CUSTOM_COMMAND || sym
  COMMAND = ln -sf sym sym2 && echo sym2 >> runs.log
  DESC = Creating sym2 symlink
build sym: phony CMakeFiles/sym prog
build sym2: phony CMakeFiles/sym2
build benchmark-prereq: phony
build all: phony prog sym sym2 benchmark-prereq
default all
`, 10);
  write(dir, 'a.c', 'a\n');
  fs.mkdirSync(path.join(dir, 'objs')); // CMake makes the object directories when it configures
  const runs = () => fs.readFileSync(path.join(dir, 'runs.log'), 'utf8').trim().split('\n');
  let r = await build(dir);
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stderr, /no no-op snapshot written/);
  assert.equal(runs(), ['sym', 'sym2']);

  // The snapshot holds, and its two commands run (as ninja runs them), the second after the first.
  r = await build(dir);
  assert.is(r.code, 0, r.stderr);
  assert.ok(r.hit, r.stderr);
  assert.match(r.stdout, /\[1\/2\] Creating sym symlink\n\[2\/2\] Creating sym2 symlink/);
  assert.equal(runs(), ['sym', 'sym2', 'sym', 'sym2']);
  // The Ninja personality takes the same path and prints ninja's lines.
  const n = await b(['ninja', '-C', dir], { timeout: 60_000 });
  assert.is(n.code, 0, n.stderr);
  assert.match(n.stdout, /\[1\/2\] Creating sym symlink\n\[2\/2\] Creating sym2 symlink\n$/);
  assert.is(runs().length, 6);

  // An edit is seen, and rebuilds what it must.
  write(dir, 'a.c', 'b\n');
  r = await build(dir);
  assert.match(r.why, /a\.c changed$/);
  assert.is(fs.readFileSync(path.join(dir, 'prog'), 'utf8'), 'b\n');
  assert.ok((await build(dir)).hit);

  // A failing command of the snapshot fails the build and drops the snapshot.
  r = await build(dir, [], { FAIL: '1' });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /command failed/);
  r = await build(dir);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.why, 'no snapshot of the last build');
  assert.ok((await build(dir)).hit);
}, { timeout: 180_000 });

test('the normal path starts only what it needs: a Ninja build runs in this thread; a Bfile no-op starts no worker', async () => {
  const dir = tmp('b-noop-lazy-');
  write(dir, 'build.ninja', 'rule cp\n  command = cp $in $out\nbuild out: cp in\n', 10);
  write(dir, 'in', 'x\n');
  let r = await build(dir);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /built in this thread: no build node, no worker thread/);
  assert.is(fs.readFileSync(path.join(dir, 'out'), 'utf8'), 'x\n');
  fs.rmSync(path.join(dir, '.b', 'noop'));
  r = await build(dir);
  assert.match(r.stderr, /no work to do \(1 up to date\)/);
  assert.match(r.stderr, /built in this thread/);

  const bf = tmp('b-noop-lazy-bfile-');
  write(bf, 'Bfile.ts', `export default (b) => {
  b.default('out.txt');
  b.rule('out.txt', async ({ read, write }) => { await write('out.txt', await read('in.txt')); });
};`, 10);
  write(bf, 'in.txt', 'a');
  r = await build(bf);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /build node: [1-9]\d* worker threads? started/);
  // Without the snapshot the normal path verifies the trace in the engine: no rule body runs,
  // so no worker isolate starts.
  fs.rmSync(path.join(bf, '.b', 'noop'));
  r = await build(bf);
  assert.is(r.code, 0, r.stderr);
  assert.not.ok(r.hit);
  assert.match(r.stderr, /no work to do \(1 up to date\)/);
  assert.match(r.stderr, /build node: 0 worker threads started/);
}, { timeout: 180_000 });

test('commands a no-op replays start from the spawn helper: SIGKILL of b leaves none running', async () => {
  const dir = tmp('b-noop-kill-');
  const marker = `${Math.floor(Math.random() * 1e6) + 1}.5`;
  // A CMake-style step whose declared output never appears: it runs in every build.
  write(dir, 'build.ninja', `rule CUSTOM_COMMAND
  command = $COMMAND
build CMakeFiles/slow: CUSTOM_COMMAND
  COMMAND = test -e go && sleep ${marker}; true
build all: phony CMakeFiles/slow
default all
`, 10);
  let r = await build(dir);
  assert.is(r.code, 0, r.stderr);
  const sleeping = (): number[] => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'latin1') === `sleep\0${marker}\0`;
    } catch {
      return false;
    }
  });
  fs.writeFileSync(path.join(dir, 'go'), '');
  const c = start(B, ['build', '-C', dir, '--verbose']);
  let err = '';
  c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await until(() => sleeping().length === 1, 20_000, 'the replayed command running');
    assert.match(err, /no-op snapshot: /, 'the snapshot path ran it');
    const [p] = sleeping();
    const parent = Number(fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    assert.is.not(parent, c.pid, 'not a child of b itself');
    process.kill(c.pid!, 'SIGKILL');
    await exited(c, 10_000);
    await until(() => sleeping().length === 0, 10_000, 'the command stopped with b');
  } finally {
    for (const p of sleeping()) process.kill(p, 'SIGKILL');
  }
}, { timeout: 90_000 });

test.run();
