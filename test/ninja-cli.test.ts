// B's Ninja personality on its own: how it is invoked (`b ninja`, an executable named ninja),
// ninja's command line (getopt flags, errors, exit codes), what ninja 1.13 prints that older
// ninjas do not, and the -t tools that work on B's build database. The side-by-side comparison
// with the real ninja is in ninja-conformance.test.ts.

import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { B, b, exited, run, start, suite, tmp, until, type RunResult } from './helpers.ts';

const test = suite('ninja-cli');

let linkDir: string | undefined;
/** A directory with `ninja`, `ninja.exe` and `ninja-build`: symlinks to the built executable. */
function links(): string {
  if (linkDir === undefined) {
    linkDir = tmp('b-ninja-links-');
    for (const n of ['ninja', 'ninja.exe', 'ninja-build']) fs.symlinkSync(B, path.join(linkDir, n));
  }
  return linkDir;
}

const ENV: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TERM: 'dumb', LANG: 'C' };

/** Runs B as `ninja` (through the symlink) in `cwd`. */
function ninja(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return run(path.join(links(), 'ninja'), args, { cwd, env: { ...ENV, ...env }, argv0: 'ninja', timeout: 30_000 });
}

function project(files: Record<string, string>): string {
  const dir = tmp('b-ninja-cli-');
  for (const [name, text] of Object.entries(files)) {
    const f = path.join(dir, name);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text);
    if (name.endsWith('.sh')) fs.chmodSync(f, 0o755);
  }
  return dir;
}

const RULE = 'rule t\n  command = echo $out >> log.txt && cat $in > $out\n  description = T $out\n';
const log = (dir: string): string[] => (fs.existsSync(path.join(dir, 'log.txt')) ? fs.readFileSync(path.join(dir, 'log.txt'), 'utf8').split('\n').filter(Boolean) : []);

// ---------------------------------------------------------------------------------------------
// Invocation

test('named ninja, ninja.exe or ninja-build, or as `b ninja`: ninja --version is the Ninja version', async () => {
  const dir = tmp();
  for (const name of ['ninja', 'ninja.exe', 'ninja-build']) {
    const r = await run(path.join(links(), name), ['--version'], { cwd: dir, env: ENV });
    assert.is(r.stdout, '1.13.2\n', name);
    assert.is(r.code, 0);
  }
  // argv[0] as given by the caller (a bare name, as a shell gives it).
  const bare = await run(path.join(links(), 'ninja'), ['--version'], { cwd: dir, env: ENV, argv0: 'ninja' });
  assert.is(bare.stdout, '1.13.2\n');
  const sub = await b(['ninja', '--version'], { cwd: dir, env: ENV });
  assert.is(sub.stdout, '1.13.2\n');
  // B's own command line is unchanged.
  const own = await b(['--version'], { cwd: dir, env: ENV });
  assert.match(own.stdout, /^b\/\d+\.\d+\.\d+/);
  const help = await b(['--help'], { cwd: dir, env: ENV });
  assert.match(help.stdout, /ninja \[\.\.\.args\]/);
});

test('a build through the symlink and through `b ninja` is the same build', async () => {
  const dir = project({ 'build.ninja': `${RULE}build out: t in\n`, in: 'x\n' });
  const r = await ninja([], dir);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, '[1/1] T out\n');
  assert.is(r.stderr, '');
  const again = await b(['ninja'], { cwd: dir, env: ENV });
  assert.is(again.stdout, 'ninja: no work to do.\n');
  assert.ok(fs.existsSync(path.join(dir, '.b', 'db')));
});

// ---------------------------------------------------------------------------------------------
// Flags

test('short options: bundled (-nv, -j8, -Cdir), separate, and targets before flags (permuted)', async () => {
  const dir = project({ 'sub/build.ninja': `${RULE}build out: t in\nbuild other: t in\n`, 'sub/in': 'x\n' });
  const n = await ninja(['-Csub', 'out', '-nv', '-j8'], dir);
  assert.is(n.code, 0, n.stderr);
  assert.is(n.stdout, "ninja: Entering directory `sub'\n[1/1] echo out >> log.txt && cat in > out\n");
  assert.equal(log(path.join(dir, 'sub')), []);
  const r = await ninja(['-C', 'sub', '-j', '2', '-k', '0', '-l', '4.5', '--', 'out'], dir);
  assert.is(r.code, 0, r.stderr);
  assert.equal(log(path.join(dir, 'sub')), ['out']);
});

test('bad flags: ninja\'s messages, the usage, exit status 1', async () => {
  const dir = tmp();
  const cases: [string[], string][] = [
    [['-x'], "ninja: invalid option -- 'x'"],
    [['--frobnicate'], "ninja: unrecognized option '--frobnicate'"],
    [['-j'], "ninja: option requires an argument -- 'j'"],
    [['--ver'], "ninja: option '--ver' is ambiguous; possibilities: '--version' '--verbose'"],
    [['--version=2'], "ninja: option '--version' doesn't allow an argument"],
  ];
  for (const [args, first] of cases) {
    const r = await ninja(args, dir);
    assert.is(r.code, 1, args.join(' '));
    const lines = r.stderr.split('\n');
    assert.is(lines[0], first);
    assert.is(lines[1], 'usage: ninja [options] [targets...]');
  }
  const h = await ninja(['-h'], dir);
  assert.is(h.code, 1);
  assert.match(h.stderr, /^usage: ninja \[options\] \[targets\.\.\.\]\n/);
  assert.match(h.stderr, /--version      print ninja version \("1\.13\.2"\)/);
  assert.not.match(h.stderr, /b's own options/);
  const bh = await b(['ninja', '-h'], { cwd: dir, env: ENV });
  assert.is(bh.code, 1);
  assert.match(bh.stderr, /b's own options:\n {2}--events FILE/);
  const fatal: [string[], string][] = [
    [['-j', 'x'], 'ninja: fatal: invalid -j parameter'],
    [['-j', '-1'], 'ninja: fatal: invalid -j parameter'],
    [['-k', 'x'], 'ninja: fatal: -k parameter not numeric; did you mean -k 0?'],
    [['-l', 'x'], 'ninja: fatal: -l parameter not numeric: did you mean -l 0.0?'],
    [['-t', 'frob'], "ninja: fatal: unknown tool 'frob'"],
    [['-t', 'clen'], "ninja: fatal: unknown tool 'clen', did you mean 'clean'?"],
    [['-t', 'browse'], 'ninja: fatal: browse tool not supported on this platform'],
    [['-C', 'nowhere'], "ninja: fatal: chdir to 'nowhere' - No such file or directory"],
    [['-d', 'explian'], "ninja: error: unknown debug setting 'explian', did you mean 'explain'?"],
    [['-w', 'phonycycle=no'], "ninja: error: unknown warning flag 'phonycycle=no', did you mean 'phonycycle=err'?"],
  ];
  for (const [args, line] of fatal) {
    const r = await ninja(args, dir);
    assert.is(r.code, 1, args.join(' '));
    assert.is(r.stderr.split('\n')[0], line, args.join(' '));
  }
});

test('-d list, -w list (exit 1), -t list (exit 0), deprecated -w flags, a missing build.ninja', async () => {
  const dir = tmp();
  const d = await ninja(['-d', 'list'], dir);
  assert.is(d.code, 1);
  assert.match(d.stdout, /^debugging modes:\n {2}stats/);
  const w = await ninja(['-w', 'list'], dir);
  assert.is(w.code, 1);
  assert.match(w.stdout, /phonycycle=\{err,warn\}/);
  const t = await ninja(['-t', 'list'], dir);
  assert.is(t.code, 0);
  assert.match(t.stdout, /^ninja subtools:\n {6}clean {2}clean built files\n/);
  for (const tool of ['commands', 'deps', 'query', 'targets', 'compdb', 'recompact', 'restat', 'rules', 'cleandead', 'missingdeps', 'inputs', 'graph']) {
    assert.match(t.stdout, new RegExp(`^ *${tool}  `, 'm'));
  }
  const dup = await ninja(['-w', 'dupbuild=err'], dir);
  assert.is(dup.stderr.split('\n')[0], "ninja: warning: deprecated warning 'dupbuild'");
  assert.is(dup.code, 1);
  assert.match(dup.stderr, /ninja: error: loading 'build.ninja': No such file or directory/);
  const f = await ninja(['-f', 'other.ninja'], dir);
  assert.is(f.stderr, "ninja: error: loading 'other.ninja': No such file or directory\n");
});

test('-C: "Entering directory" before building, not for tools or --quiet', async () => {
  const dir = project({ 'sub/build.ninja': `${RULE}build out: t in\n`, 'sub/in': 'x\n' });
  const r = await ninja(['-C', 'sub'], dir);
  assert.is(r.stdout, "ninja: Entering directory `sub'\n[1/1] T out\n");
  const t = await ninja(['-C', 'sub', '-t', 'targets'], dir);
  assert.is(t.stdout, 'out: t\n');
  const q = await ninja(['-C', 'sub', '--quiet'], dir);
  assert.is(q.stdout, '');
});

// ---------------------------------------------------------------------------------------------
// Targets

test('targets: spelling suggestions, clean/help hints, foo^, and the $builddir fallback (ninja 1.12+)', async () => {
  const dir = project({
    'build.ninja': `builddir = out\n${RULE}build out/app: t main.c\nbuild lib.o: t lib.c\n`,
    'main.c': 'm\n',
    'lib.c': 'l\n',
  });
  const cases: [string, string][] = [
    ['ap', "ninja: error: unknown target 'ap'"],
    ['lib.q', "ninja: error: unknown target 'lib.q', did you mean 'lib.o'?"],
    ['clean', "ninja: error: unknown target 'clean', did you mean 'ninja -t clean'?"],
    ['help', "ninja: error: unknown target 'help', did you mean 'ninja -h'?"],
  ];
  for (const [target, line] of cases) {
    const r = await ninja([target], dir);
    assert.is(r.code, 1);
    assert.is(r.stderr, line + '\n');
  }
  const caret = await ninja(['main.c^'], dir);
  assert.is(caret.code, 0, caret.stderr);
  assert.equal(log(dir), ['out/app']);
  const fallback = await ninja(['-t', 'query', 'app'], dir);
  assert.match(fallback.stdout, /^out\/app:\n {2}input: t\n {4}main\.c\n/);
  fs.writeFileSync(path.join(dir, 'main.c'), 'm2\n');
  const viaBuilddir = await ninja(['app'], dir);
  assert.is(viaBuilddir.code, 0, viaBuilddir.stderr);
  assert.equal(log(dir), ['out/app', 'out/app']);
  const noOut = await ninja(['out/app^'], dir);
  assert.is(noOut.stderr, "ninja: error: 'out/app' has no out edge\n");
});

// ---------------------------------------------------------------------------------------------
// Failures, status, interrupts

test('a failed command: FAILED: [code=N] with every output, the command, its output; exit status N', async () => {
  const dir = project({
    'build.ninja': 'rule f\n  command = echo "compiler says no" && exit 3\n  description = F $out\nbuild a.o | a.map: f a.c\n',
    'a.c': '',
  });
  const r = await ninja([], dir);
  assert.is(r.code, 3);
  assert.is(r.stdout, '[1/1] F a.o\nFAILED: [code=3] a.o a.map \necho "compiler says no" && exit 3\ncompiler says no\nninja: build stopped: subcommand failed.\n');
  assert.is(r.stderr, '');
});

test('the status line: NINJA_STATUS placeholders, %t counts the edges left to run, a bad placeholder', async () => {
  const lines = ['rule t\n  command = cat $in > $out\n  description = T $out'];
  for (let i = 1; i <= 5; i++) lines.push(`build o${i}: t s${i}`);
  lines.push('build top: t o1 o2 o3 o4 o5', '');
  const files: Record<string, string> = { 'build.ninja': lines.join('\n') };
  for (let i = 1; i <= 5; i++) files[`s${i}`] = `${i}\n`;
  const dir = project(files);
  const first = await ninja(['-j1'], dir);
  assert.is(first.stdout.split('\n').filter(Boolean).pop(), '[6/6] T top');
  fs.writeFileSync(path.join(dir, 's3'), 'changed\n');
  const r = await ninja([], dir);
  assert.is(r.stdout, '[1/2] T o3\n[2/2] T top\n');
  fs.writeFileSync(path.join(dir, 's1'), 'changed\n');
  const all = await ninja([], dir, { NINJA_STATUS: '%s|%t|%r|%u|%f|%p|%P|%o|%c|%e|%w|%E|%W|%%| ' });
  const [a, bb] = all.stdout.split('\n');
  // Rates and times vary: "?" when not known yet (or two edges finished in the same ms).
  const rate = '([\\d.]+|\\?|inf)';
  // (Times count from the program's start, as ninja's: seconds on a loaded machine.)
  assert.match(a!, new RegExp(`^1\\|2\\|1\\|1\\|1\\| 50%\\|( 50|  0)%\\|${rate}\\|\\?\\|\\d+\\.\\d{3}\\|\\d\\d:\\d\\d\\|${rate}\\|\\d\\d:\\d\\d\\|%\\| T o1$`));
  assert.match(bb!, new RegExp(`^2\\|2\\|1\\|0\\|2\\|100%\\|(100|  0)%\\|${rate}\\|${rate}\\|\\d+\\.\\d{3}\\|\\d\\d:\\d\\d\\|(0\\.000|\\?)\\|00:00\\|%\\| T top$`));
  // Fatal at the first status line, as ninja's: none when nothing runs, else as o2 ends.
  const none = await ninja([], dir, { NINJA_STATUS: '[%f/%x] ' });
  assert.is(none.code, 0, none.stderr);
  fs.writeFileSync(path.join(dir, 's2'), 'changed\n');
  const bad = await ninja([], dir, { NINJA_STATUS: '[%f/%x] ' });
  assert.is(bad.code, 1);
  assert.is(bad.stderr, "ninja: fatal: unknown placeholder '%x' in $NINJA_STATUS\n");
  assert.is(bad.stdout, '');
});

test('-d explain (and --explain): ninja explain lines on stderr; -d stats; --events FILE', async () => {
  const dir = project({ 'build.ninja': `${RULE}build a: t src\nbuild b: t a\n`, src: '1\n' });
  const first = await ninja(['-d', 'explain'], dir);
  assert.match(first.stderr, /^ninja explain: output a doesn't exist$/m);
  fs.writeFileSync(path.join(dir, 'src'), '2\n');
  const ev = path.join(dir, 'events.ndjson');
  const r = await ninja(['--explain', '--events', ev], dir);
  // (B compares contents; ninja's words for a changed source, with the files' mtimes now.)
  assert.match(r.stderr, /^ninja explain: output a older than most recent input src \(\d+ vs \d+\)$/m);
  assert.match(r.stderr, /^ninja explain: a is dirty$/m);
  const events = fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; key: string; ran?: boolean });
  assert.equal(events.filter((e) => e.event === 'finish' && e.ran).map((e) => e.key), ['a', 'b']);
  fs.writeFileSync(path.join(dir, 'src'), '3\n');
  const s = await ninja(['-d', 'stats', '-d', 'keepdepfile', '-d', 'keeprsp'], dir);
  assert.is(s.code, 0, s.stderr);
  assert.match(s.stdout, /^metric\s+count\s+avg \(us\)\s+total \(ms\)$/m);
});

test('Ctrl-C: the running commands are stopped, "interrupted by user", exit status 130', async () => {
  const dir = project({ 'build.ninja': 'rule slow\n  command = touch started && sleep 30 && touch $out\nbuild out: slow\n' });
  const c = start(path.join(links(), 'ninja'), [], { cwd: dir, env: ENV, argv0: 'ninja' });
  let stdout = '';
  c.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  await until(() => fs.existsSync(path.join(dir, 'started')), 15_000, 'the command to start');
  c.kill('SIGINT');
  const e = await exited(c, 15_000);
  assert.is(e.code, 130);
  assert.match(stdout, /ninja: build stopped: interrupted by user\.\n$/);
  assert.ok(!fs.existsSync(path.join(dir, 'out')));
});

// ---------------------------------------------------------------------------------------------
// Tools on B's database

test('-t cleandead: outputs the manifest no longer has are deleted and forgotten', async () => {
  const dir = project({ 'build.ninja': `${RULE}build a: t src\nbuild gone: t src\nbuild kept: t src\n`, src: 's\n' });
  assert.is((await ninja([], dir)).code, 0);
  fs.writeFileSync(path.join(dir, 'build.ninja'), `${RULE}build a: t src\nbuild b: t kept\n`);
  const dry = await ninja(['-n', '-t', 'cleandead'], dir);
  assert.is(dry.stdout, 'Cleaning...\nRemove gone\n1 files.\n');
  assert.ok(fs.existsSync(path.join(dir, 'gone')));
  const r = await ninja(['-t', 'cleandead'], dir);
  assert.is(r.stdout, 'Cleaning... 1 files.\n');
  assert.ok(!fs.existsSync(path.join(dir, 'gone')) && fs.existsSync(path.join(dir, 'kept')) && fs.existsSync(path.join(dir, 'a')));
  assert.is((await ninja(['-t', 'cleandead'], dir)).stdout, 'Cleaning... 0 files.\n');
  // Forgotten: brought back, `gone` is built again from scratch.
  fs.writeFileSync(path.join(dir, 'build.ninja'), `${RULE}build a: t src\nbuild gone: t src\n`);
  const back = await ninja(['-d', 'explain', 'gone'], dir);
  assert.match(back.stderr, /^ninja explain: output gone doesn't exist$/m);
});

test('-t recompact and -t restat: the database is compacted; outputs changed outside are accepted', async () => {
  const dir = project({ 'build.ninja': `${RULE}build a: t src\nbuild b: t a\n`, src: 's\n' });
  assert.is((await ninja([], dir)).code, 0);
  for (let i = 0; i < 3; i++) {
    fs.writeFileSync(path.join(dir, 'src'), `s${i}\n`);
    assert.is((await ninja([], dir)).code, 0);
  }
  const db = path.join(dir, '.b', 'db');
  const before = fs.statSync(db).size;
  const r = await ninja(['-t', 'recompact'], dir);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, '');
  assert.ok(fs.statSync(db).size < before, `${fs.statSync(db).size} < ${before}`);
  assert.is((await ninja([], dir)).stdout, 'ninja: no work to do.\n');
  // An output edited by hand would be rebuilt; after restat it is taken as it is.
  fs.writeFileSync(path.join(dir, 'b'), 'edited by hand\n');
  assert.is((await ninja(['-t', 'restat', 'b'], dir)).code, 0);
  assert.is((await ninja([], dir)).stdout, 'ninja: no work to do.\n');
  assert.is(fs.readFileSync(path.join(dir, 'b'), 'utf8'), 'edited by hand\n');
  // A writing tool respects the build lock of a running b.
  fs.writeFileSync(path.join(dir, '.b', 'lock'), String(process.pid));
  const locked = await ninja(['-t', 'recompact'], dir);
  assert.is(locked.code, 1);
  assert.match(locked.stderr, /^ninja: error: another b \(pid \d+\) is building in /);
  // Readers do not need it.
  assert.is((await ninja(['-t', 'deps'], dir)).code, 0);
  fs.rmSync(path.join(dir, '.b', 'lock'));
});

test('-t deps and -t missingdeps: depfile dependencies from the database', async () => {
  const dir = project({
    'build.ninja': [
      'rule gen',
      '  command = echo "#define X 1" > $out',
      'rule cc',
      '  command = echo "$out: $in gen.h" > $out.d && cat $in gen.h > $out',
      '  depfile = $out.d',
      '  deps = gcc',
      'rule cc2',
      '  command = echo "$out: $in" > $out.d && cat $in > $out',
      '  depfile = $out.d',
      'build gen.h: gen',
      'build ok.o: cc ok.c || gen.h',
      'build bad.o: cc bad.c',
      'build plain.o: cc2 ok.c',
      'build all: phony ok.o bad.o plain.o',
      '',
    ].join('\n'),
    'ok.c': 'ok\n',
    'bad.c': 'bad\n',
  });
  // bad.o needs gen.h (its depfile says so) but nothing orders gen.h before it: build gen.h first.
  assert.is((await ninja(['gen.h'], dir)).code, 0);
  assert.is((await ninja(['all'], dir)).code, 0);
  const deps = await ninja(['-t', 'deps'], dir);
  const norm = deps.stdout.replace(/deps mtime \d+/g, 'deps mtime T').split('\n\n').filter(Boolean).sort();
  assert.equal(norm, [
    'bad.o: #deps 2, deps mtime T (VALID)\n    bad.c\n    gen.h',
    'ok.o: #deps 2, deps mtime T (VALID)\n    ok.c\n    gen.h',
  ]);
  const one = await ninja(['-t', 'deps', 'plain.o', 'gen.h'], dir);
  assert.is(one.stdout, 'plain.o: deps not found\ngen.h: deps not found\n');
  fs.writeFileSync(path.join(dir, 'bad.o'), 'touched');
  const stale = await ninja(['-t', 'deps', 'ok.o'], dir);
  assert.match(stale.stdout, /^ok\.o: #deps 2, deps mtime \d+ \(VALID\)\n/);
  const m = await ninja(['-t', 'missingdeps', 'all'], dir);
  assert.is(m.code, 3);
  assert.is(m.stdout, [
    'Missing dep: bad.o uses gen.h (generated by gen)',
    'Processed 5 nodes.',
    'Error: There are 1 missing dependency paths.',
    '1 targets had depfile dependencies on 1 distinct generated inputs (from 1 rules)  without a non-depfile dep path to the generator.',
    'There might be build flakiness if any of the targets listed above are built alone, or not late enough, in a clean output directory.',
    '',
  ].join('\n'));
  const fine = await ninja(['-t', 'missingdeps', 'ok.o'], dir);
  assert.is(fine.code, 0);
  assert.match(fine.stdout, /No missing dependencies on generated files found\.\n$/);
});

// ---------------------------------------------------------------------------------------------
// Tools on the manifest (ninja 1.13 formats)

const TOOLS = [
  'rule cc',
  '  command = cc -c $in -o $out',
  '  description = CC $out',
  'rule link',
  '  command = cc -o $out @$out.rsp',
  '  rspfile = $out.rsp',
  '  rspfile_content = $in',
  'build a.o: cc a.c | a.h || gen',
  'build b.o: cc b$ c.c',
  'build app: link a.o b.o |@ lint',
  'build lint: cc app.c',
  'build gen: phony',
  'build all: phony app',
  '',
].join('\n');

test('-t inputs (-0, -E, -d), -t multi-inputs, -t compdb-targets, -t rules -d', async () => {
  const dir = project({ 'build.ninja': TOOLS });
  const t = async (args: string[]): Promise<string> => {
    const r = await ninja(['-t', ...args], dir);
    assert.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  // Sorted as escaped (a quote sorts first), as ninja sorts them.
  assert.is(await t(['inputs', 'app']), "'b c.c'\na.c\na.h\na.o\nb.o\n");
  assert.is(await t(['inputs', '-E', '-d', 'app']), 'a.c\na.h\na.o\nb c.c\nb.o\n');
  assert.is(await t(['inputs', '--print0', '--no-shell-escape', 'b.o']), 'b c.c\0');
  assert.is(await t(['multi-inputs', 'a.o', 'b.o']), 'a.o\ta.c\na.o\ta.h\nb.o\tb c.c\n');
  assert.is(await t(['multi-inputs', '-d', ',', 'b.o']), 'b.o,b c.c\n');
  const cdb = JSON.parse(await t(['compdb-targets', 'app'])) as { file: string; output: string; directory: string }[];
  assert.equal(cdb.map((e) => [e.file, e.output]), [['a.c', 'a.o'], ['b c.c', 'b.o'], ['a.o', 'app']]);
  assert.is(cdb[0]!.directory, fs.realpathSync(dir));
  assert.is(await t(['rules', '-d']), 'cc: CC ${out}\nlink\nphony\n');
  const g = await t(['graph', 'app']);
  assert.match(g, /^digraph ninja \{\nrankdir="LR"\n/);
  assert.match(g, /\[label="link", shape=ellipse\]/);
  assert.match(g, /\[arrowhead=none style=dotted\]/);
  const none = await ninja(['-t', 'compdb-targets'], dir);
  assert.is(none.code, 1);
  assert.is(none.stderr, 'ninja: error: compdb-targets expects the name of at least one target\n');
  const q = await t(['query', 'app', 'lint']);
  assert.is(q, 'app:\n  input: link\n    a.o\n    b.o\n  validations:\n    lint\n  outputs:\n    all\nlint:\n  input: cc\n    app.c\n  outputs:\n  validation for:\n    app\n');
  const bad = await ninja(['-t', 'commands', '-z'], dir);
  assert.is(bad.code, 1);
  assert.is(bad.stderr, "commands: invalid option -- 'z'\n");
  assert.match(bad.stdout, /^usage: ninja -t commands \[options\] \[targets\]/);
});

test('b build -f build.ninja takes all of B\'s flags, and b build finds build.ninja by itself', async () => {
  const dir = project({ 'build.ninja': `${RULE}build a: t src\nbuild b: t a\n`, src: 's\n' });
  const ev = path.join(dir, 'ev.ndjson');
  const dry = await b(['build', '-C', dir, '-f', 'build.ninja', '-n', '-j', '2', '-k', '0', '--explain', '--events', ev, 'b'], { env: ENV });
  assert.is(dry.code, 0, dry.stderr);
  assert.equal(log(dir), []);
  assert.match(dry.stderr, /explain: a: never built/);
  assert.ok(fs.readFileSync(ev, 'utf8').includes('"event":"run"'));
  const r = await b(['build'], { cwd: dir, env: ENV });
  assert.is(r.code, 0, r.stderr);
  assert.equal(log(dir), ['a', 'b']);
  // The Ninja personality shares the database: nothing to do.
  assert.is((await ninja([], dir)).stdout, 'ninja: no work to do.\n');
});

test('b build -j32, -k0, -Cdir, -nj2: glued short options with values, as Ninja users type them', async () => {
  const dir = project({ 'build.ninja': `${RULE}build a: t src\nbuild b: t a\n`, src: 's\n' });
  const dry = await b(['build', `-C${dir}`, '-fbuild.ninja', '-nj2', '-k0', 'b'], { env: ENV });
  assert.is(dry.code, 0, dry.stderr);
  assert.equal(log(dir), []);
  const r = await b(['build', '-j32', `-C${dir}`], { env: ENV });
  assert.is(r.code, 0, r.stderr);
  assert.equal(log(dir), ['a', 'b']);
  const { splitGlued } = await import('../src/cli.ts');
  const cli = { globalCommand: { options: [] }, commands: [{ options: [{ rawName: '-j, --jobs <n>', names: ['j', 'jobs'] }, { rawName: '-n, --dry-run', names: ['n'] }] }] };
  assert.equal(splitGlued(['-j32', '-nj8', '-n', '-j', '4', '--', '-j9'], cli), ['-j', '32', '-nj', '8', '-n', '-j', '4', '--', '-j9']);
});

test.run();
