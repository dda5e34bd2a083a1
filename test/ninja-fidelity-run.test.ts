// Byte-for-byte fidelity with Ninja 1.13.2 while a build runs (the harness: ninja-twin.ts): the
// order edges start in, the `%t`/`%u`/`%p` counts of partly up-to-date builds, interrupts and
// what they leave behind, and the debug and warning flags that change what a build does.

import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { exited, run, start, suite, until } from './helpers.ts';
import { bAsNinja, crossCheck, ENV, files, haveNinja, NINJA, norm, Twin, type Case, type Out } from './ninja-twin.ts';

const test = suite('ninja-fidelity-run');
const R = (cmd: string, extra = ''): string => `rule r\n  command = ${cmd}\n  description = echo $out\n${extra}`;
const STATUS = { NINJA_STATUS: '[%s/%t/%f/%u/%r/%p] ' };
const CASES: Case[] = [];

CASES.push({
  // ninja 1.13 starts the ready edge with the longest chain of commands after it, then the one
  // declared first; pools admit by the same order; a validation is a target of its own. -j1 so
  // that the order is ninja's choice and not which command happens to end first.
  name: 'start order with more ready edges than -j: critical path, manifest order, pools, validations, -n',
  files: {
    'build.ninja': [
      R('echo $out; touch $out'),
      'pool one\n  depth = 1\nrule p\n  command = touch $out\n  pool = one\n',
      'build a1: r\nbuild a2: r a1\nbuild a3: r a2\nbuild b1: r\nbuild c1: r\nbuild c2: r c1\nbuild d1: r\n',
      'build p1: p\nbuild p2: p p1\nbuild p3: p\nbuild v: r || a1\n',
      'build all: phony a3 b1 c2 d1 p2 p3 |@ v\n',
    ].join(''),
  },
  steps: [{ args: ['-j1', '-n'] }, { args: ['-j1'], env: STATUS }, { args: ['-t', 'clean'] }, { args: ['-j1', 'a3', 'c2', 'b1'] }],
});
CASES.push({
  // A clean edge with a validation and one with a dyndep file are decided before the first
  // command, as ninja's plan has them: the first status line shows the dirty edges only.
  name: 'NINJA_STATUS counts of a partly up-to-date build (validations, dyndep, an edited source)',
  files: {
    'build.ninja': [
      R('echo $out; cat $in > $out'),
      'rule dd\n  command = printf \'ninja_dyndep_version = 1\\nbuild y: dyndep | x2\\n\' > $out\n',
      'rule rd\n  command = cat $in x2 > $out\n  dyndep = y.dd\n',
      'build x1: r s1\nbuild x2: r x1\nbuild v1: r s2\nbuild w1: r s2 |@ v1\nbuild w2: r w1\n',
      'build y.dd: dd\nbuild y: rd s3 || y.dd\nbuild z: r y\nbuild e1: r s4\nbuild e2: r e1\n',
      'build all: phony x2 w2 z e2\n',
    ].join(''),
    s1: '1\n', s2: '1\n', s3: '1\n', s4: '1\n',
  },
  steps: [
    { args: ['-j1'], env: STATUS },
    { args: ['-j1'], env: STATUS, edit: { s4: '2\n' } },
    { args: ['-j1'], env: STATUS, edit: { s1: '2\n' } },
    { args: ['-j1'], env: STATUS, edit: { s2: '2\n', s3: '2\n' } },
  ],
});
CASES.push({
  // Meson's shape: executables depend on a library's symbol file, made by a restat rule that
  // leaves it alone when the symbols did not change. ninja takes the pruned edges off %t once
  // the symbol file is done; its own status line still shows the total before.
  name: 'NINJA_STATUS counts when a restat edge prunes a library\'s users (Meson\'s symbol files)',
  files: {
    'build.ninja': [
      'rule cc\n  command = cp $in $out\n  description = CC $out\n',
      'rule link\n  command = cat $in > $out\n  description = LINK $out\n',
      'rule sym\n  command = cut -c1 $in > $out.tmp; cmp -s $out.tmp $out || mv $out.tmp $out; rm -f $out.tmp\n  restat = 1\n  description = SYM $out\n',
      'build obj1: cc src1\nbuild obj2: cc src2\nbuild lib: link obj1 obj2\nbuild lib.sym: sym lib\n',
      // An executable links with the library itself, but depends on its symbol file only.
      'rule ld\n  command = cat $in lib > $out\n  description = LINK $out\n',
      'build m1: cc main1\nbuild exe1: ld m1 | lib.sym\nbuild exe2: ld main2 | lib.sym\nbuild t1: link exe1\nbuild t2: link exe2\n',
      'build all: phony t1 t2 lib\n',
    ].join(''),
    src1: 'a1\n', src2: 'b\n', main1: 'm\n', main2: 'n\n',
  },
  steps: [
    { args: ['-j1'], env: STATUS },
    { args: ['-j1'], env: STATUS, edit: { src1: 'a2\n' } },
    { args: ['-j1'], env: STATUS, edit: { src1: 'a3\n', main1: 'mm\n' } },
    { args: ['-j1'], env: STATUS, edit: { src1: 'x\n' } },
  ],
});

CASES.push({
  name: '-d keepdepfile, -d keeprsp and -w phonycycle=err|warn',
  files: {
    'build.ninja': [
      'rule cc\n  command = echo "$out: $in" > $out.d; cp $in $out\n  depfile = $out.d\n  deps = gcc\n',
      'rule link\n  command = cat $out.rsp > $out\n  rspfile = $out.rsp\n  rspfile_content = $in\n',
      'build o: cc s\nbuild l: link o s\nbuild p: phony p o\n',
    ].join(''),
    s: '1\n',
  },
  steps: [
    { args: ['-d', 'keepdepfile', '-d', 'keeprsp'] }, { args: ['-t', 'clean'] },
    { args: ['-d', 'keeprsp'] }, { args: ['-t', 'clean'] },
    { args: ['-d', 'keepdepfile'] }, { args: ['-t', 'clean'] },
    { args: ['-w', 'phonycycle=err', 'p'] }, { args: ['-w', 'phonycycle=warn', 'p'] }, { args: ['-w', 'phonycycle=err', '-t', 'targets'] },
  ],
});

CASES.push({
  // Fatal at the first status line ninja formats: as the first edge starts on a terminal (the
  // command never runs), as it finishes through a pipe (it ran; its output is not shown); never
  // with --quiet or when nothing runs. (After the pipe's case, ninja runs that first edge again:
  // Fatal exits before its .ninja_log line; B recorded it. The clean steps keep that apart.)
  name: 'a bad NINJA_STATUS placeholder is fatal where ninja formats its first status line',
  files: { 'build.ninja': `${R('echo $out; touch $out')}build a: r\nbuild b: r a\n` },
  steps: [
    { args: ['-j1'], env: { NINJA_STATUS: '[%f/%x] %y ' } },
    { args: ['-t', 'clean'] },
    { args: ['-j1'], env: { NINJA_STATUS: '[%f/%t] ' } },
    { args: ['-j1'], env: { NINJA_STATUS: '%Q' } },
    { args: ['-t', 'clean'] },
    { args: ['-j1', '--quiet'], env: { NINJA_STATUS: '[%f/%x] ' } },
    { args: ['-t', 'clean'] },
    { args: ['-j1'], env: { NINJA_STATUS: '[%f] %' }, modes: ['pipe'] },
  ],
});
CASES.push({
  name: '-n with a manifest that would be regenerated: only the regeneration step, as ninja',
  files: {
    'build.ninja': `rule gen\n  command = cp build.in build.ninja\n  generator = 1\n${R('echo $out; touch $out')}build build.ninja: gen build.in\nbuild a: r\nbuild b: r a\n`,
    'build.in': `rule gen\n  command = cp build.in build.ninja\n  generator = 1\n${R('echo $out; touch $out')}build build.ninja: gen build.in\nbuild a: r\nbuild b: r a\nbuild c: r b\n`,
  },
  old: ['build.ninja'],
  steps: [{ args: ['-n'] }, { args: ['-n', 'b'] }, { args: ['-n', 'nosuch'] }, {}, { args: ['-n'] }, { args: ['-n', '-t', 'clean'] }],
});

CASES.push({
  // Ninja 1.13's jobserver client: its messages, and where it is not used (-j, -n, a `make -n`).
  name: 'MAKEFLAGS naming a jobserver: detected, refused (pipes, bad fds, not a fifo, missing), or ignored',
  files: { 'build.ninja': `${R('echo $out; touch $out')}build a: r\n`, 'plain.txt': '' },
  steps: [
    { env: { MAKEFLAGS: ' -j2 --jobserver-auth=3,4' } },
    { args: ['-t', 'clean'], env: { MAKEFLAGS: '-j2 --jobserver-fds=x' } },
    { env: { MAKEFLAGS: '-j2 --jobserver-fds=x' } },
    { env: { MAKEFLAGS: '-j2 --jobserver-auth=fifo:nosuch' } },
    { args: ['-t', 'clean'] },
    { env: { MAKEFLAGS: '-j2 --jobserver-auth=fifo:plain.txt' } },
    { args: ['--quiet'], env: { MAKEFLAGS: '-j2 --jobserver-auth=fifo:nosuch' } },
    { args: ['-t', 'clean'] },
    { args: ['-j1'], env: { MAKEFLAGS: '-j2 --jobserver-auth=fifo:nosuch' } },
    { args: ['-n'], env: { MAKEFLAGS: '-j2 --jobserver-auth=fifo:nosuch' } },
    { env: { MAKEFLAGS: 'kn -j2 --jobserver-auth=fifo:nosuch' } },
    { env: { MAKEFLAGS: '--jobserver-auth=fifo:nosuch --jobserver-auth=-1,-1' } },
  ],
});

crossCheck(test, CASES);

// ---------------------------------------------------------------------------------------------
// Interrupts: what the running commands get, and what is left of their outputs

/**
 * Runs EXE in `dir` until every marker file exists (each command writes one as it starts),
 * then sends `sig` after 200 ms (or none: a command ends the build itself), and collects.
 */
async function interrupt(exe: string, dir: string, args: string[], markers: string[], sig: NodeJS.Signals | undefined): Promise<Out> {
  const c = start(exe, args, { cwd: dir, env: { ...ENV, TERM: 'dumb' }, detached: true });
  let stdout = '';
  let stderr = '';
  c.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  c.stdin?.end();
  await until(() => markers.every((m) => fs.existsSync(path.join(dir, m))), 20_000, `the commands to start (${markers.join(', ')})`);
  await new Promise((r) => setTimeout(r, 200));
  if (sig !== undefined) c.kill(sig);
  const e = await exited(c, 20_000);
  return { code: e.code, stdout, stderr };
}

/**
 * Each command says which signal it got (its trap writes got.OUT), stops its sleep (a background
 * job of sh, which ignores SIGINT) and exits 1.
 */
const TRAP = (body: string): string => ['INT', 'TERM', 'HUP'].map((s) => `trap 'echo ${s} > got.$out; kill $$!; exit 1' ${s}; `).join('') + `touch started.$out; ${body}`;
const INTERRUPTED = [
  // Rewrites its output, then is stopped: the output goes.
  `rule mod\n  command = ${TRAP('echo new > $out; sleep 5 & wait')}\n`,
  // Stopped before it writes: its output from the last build stays (same mtime).
  `rule late\n  command = ${TRAP('sleep 5 & wait; echo new > $out')}\n`,
  // A depfile: the output goes even if untouched, and the depfile too; the rspfile stays.
  `rule dep\n  command = ${TRAP('echo "$out: in" > $out.d; sleep 5 & wait; echo new > $out')}\n  depfile = $out.d\n  rspfile = $out.rsp\n  rspfile_content = $in\n`,
  'build m: mod in\nbuild l: late in\nbuild d: dep in\n',
].join('');

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  const title = `same as ninja 1.13.2: on ${sig} the running commands get ${sig} (their process groups) and outputs they modified are removed`;
  if (!haveNinja) {
    test.skip(title, 'ninja 1.13.2 missing');
    continue;
  }
  test(title, async () => {
    const t = new Twin({ 'build.ninja': INTERRUPTED, in: '1\n', m: 'old\n', l: 'old\n', d: 'old\n' });
    // The outputs exist from an earlier build (older than the inputs: every edge runs).
    for (const dir of Object.values(t.dirs)) for (const o of ['m', 'l', 'd']) fs.utimesSync(path.join(dir, o), 1, 1);
    const markers = ['started.m', 'started.l', 'started.d'];
    const ninja = await interrupt(NINJA, t.dirs.ninja, ['-j3'], markers, sig);
    const b = await interrupt(bAsNinja(), t.dirs.b, ['-j3'], markers, sig);
    const ctx = `--- ninja:\n${JSON.stringify(ninja)}\n--- b:\n${JSON.stringify(b)}`;
    assert.is(norm(b.stdout, t.dirs.b), norm(ninja.stdout, t.dirs.ninja), ctx);
    assert.is(norm(b.stderr, t.dirs.b), norm(ninja.stderr, t.dirs.ninja), ctx);
    assert.is(b.code, ninja.code, ctx);
    assert.is(ninja.code, 130);
    const left = files(t.dirs.ninja);
    assert.is(left[`got.m`], `${sig.slice(3)}\n`, 'ninja forwarded the signal');
    assert.equal(files(t.dirs.b), left);
  }, { timeout: 60_000 });
}

if (haveNinja) {
  test('same as ninja 1.13.2: a command exiting 130 stops the build; the others finish first, then what they modified is removed', async () => {
    const t = new Twin({
      'build.ninja': [
        'rule stop\n  command = touch started.$out; sleep 0.3; exit 130\n',
        'rule slow\n  command = touch started.$out; sleep 1; echo new > $out\n',
        'rule keep\n  command = touch started.$out; sleep 1\n',
        'rule dep\n  command = touch started.$out; echo "$out: in" > $out.d; sleep 1\n  depfile = $out.d\n',
        'build x: stop\nbuild y: slow\nbuild k: keep\nbuild d: dep\nbuild after: slow x\n',
      ].join(''),
      in: '1\n', k: 'old\n', d: 'old\n',
    });
    const markers = ['started.x', 'started.y', 'started.k', 'started.d'];
    const ninja = await interrupt(NINJA, t.dirs.ninja, ['-j4'], markers, undefined);
    const b = await interrupt(bAsNinja(), t.dirs.b, ['-j4'], markers, undefined);
    const ctx = `--- ninja:\n${JSON.stringify(ninja)}\n--- b:\n${JSON.stringify(b)}`;
    assert.equal(b, ninja, ctx);
    assert.is(ninja.code, 130);
    const left = files(t.dirs.ninja);
    assert.ok(!('y' in left) && !('d' in left) && left.k === 'old\n', JSON.stringify(left));
    assert.equal(files(t.dirs.b), left);
  }, { timeout: 60_000 });
}

if (haveNinja) {
  test('same as ninja 1.13.2: a GNU make jobserver fifo bounds the jobs (its slots and the implicit one) and gets every slot back', async () => {
    const rule = 'rule slow\n  command = echo "start $out" >> log.txt && sleep 0.3 && echo "end $out" >> log.txt && touch $out\n';
    const t = new Twin({ 'build.ninja': `${rule}build p1: slow\nbuild p2: slow\nbuild p3: slow\nbuild p4: slow\nbuild p5: slow\n` });
    const fifo = path.join(path.dirname(t.dirs.b), `${path.basename(t.dirs.b)}.fifo`);
    const made = spawnSync('mkfifo', [fifo]);
    assert.is(made.status, 0, made.stderr?.toString());
    // Held open both ways by the test (as make holds it): one slot in it, plus each client's own.
    const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    try {
      fs.writeSync(fd, '+');
      const outs: Record<string, string> = {};
      for (const [exe, dir] of [[NINJA, t.dirs.ninja], [bAsNinja(), t.dirs.b]] as const) {
        const r = await run(exe, [], { cwd: dir, env: { ...ENV, MAKEFLAGS: `-j2 --jobserver-auth=fifo:${fifo}` }, timeout: 30_000 });
        assert.is(r.code, 0, r.stderr);
        outs[exe] = r.stdout.split('\n')[0]!;
        let running = 0;
        let most = 0;
        const lines = fs.readFileSync(path.join(dir, 'log.txt'), 'utf8').split('\n').filter(Boolean);
        for (const l of lines) {
          running += l.startsWith('start') ? 1 : -1;
          most = Math.max(most, running);
        }
        assert.is(lines.length, 10, lines.join(', '));
        assert.is(most, 2, `${exe}: ${most} at once (${lines.join(', ')})`);
        // The slot it read is back in the fifo, and only that one.
        const b = Buffer.alloc(8);
        assert.is(fs.readSync(fd, b, 0, 8, null), 1, `${exe} gave back its slot`);
        assert.is(b.toString('utf8', 0, 1), '+');
        fs.writeSync(fd, '+');
      }
      assert.is(outs[bAsNinja()], outs[NINJA]);
      assert.is(outs[NINJA], `ninja: Jobserver mode detected: -j2 --jobserver-auth=fifo:${fifo}`);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(fifo, { force: true });
    }
  }, { timeout: 60_000 });
}

test.run();
