// Byte-for-byte fidelity with Ninja 1.13.2 while a build runs (the harness: ninja-twin.ts): the
// order edges start in, the `%t`/`%u`/`%p` counts of partly up-to-date builds, interrupts and
// what they leave behind, and the debug and warning flags that change what a build does.

import { suite } from './helpers.ts';
import { crossCheck, type Case } from './ninja-twin.ts';

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

crossCheck(test, CASES);

test.run();
