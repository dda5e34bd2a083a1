import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { suite, tmp, run } from './helpers.ts';
import { parseDepfile, parseShowIncludes } from '../src/depfile.ts';
import { canonicalizePath } from '../src/ninja-path.ts';

const test = suite('depfile');
const haveNinja = spawnSync('ninja', ['--version']).status === 0;

function depErr(text: string): string {
  try {
    parseDepfile(text);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(text)}`);
}

test('a gcc depfile with continuations', () => {
  const d = parseDepfile('obj/foo.o: ../../src/foo.cc ../../src/foo.h \\\n  /usr/include/stdio.h \\\n  gen/bar.h\n');
  assert.equal(d.outs, ['obj/foo.o']);
  assert.equal(d.ins, ['../../src/foo.cc', '../../src/foo.h', '/usr/include/stdio.h', 'gen/bar.h']);
});

test('CRLF, tabs, no final newline, empty and blank files', () => {
  assert.equal(parseDepfile('a.o: b.h \\\r\n\tc.h\r\n'), { outs: ['a.o'], ins: ['b.h', 'c.h'] });
  assert.equal(parseDepfile('a.o:\tb.h  c.h'), { outs: ['a.o'], ins: ['b.h', 'c.h'] });
  assert.equal(parseDepfile(''), { outs: [], ins: [] });
  assert.equal(parseDepfile(' \n\n \\\n'), { outs: [], ins: [] });
  assert.equal(parseDepfile('a.o:\n'), { outs: ['a.o'], ins: [] });
});

test('escaped spaces: odd backslash runs escape, even runs end the name', () => {
  assert.equal(parseDepfile('a\\ b.o: c\\ d.h e.h\n'), { outs: ['a b.o'], ins: ['c d.h', 'e.h'] });
  assert.equal(parseDepfile('x: a\\\\ b\n').ins, ['a\\\\', 'b']);
  assert.equal(parseDepfile('x: a\\\\\\ b\n').ins, ['a\\ b']);
  assert.equal(parseDepfile('x: a\\\\\\\\\\ b\n').ins, ['a\\\\ b']);
});

test('escaped hash, dollar and colon; other backslashes are kept', () => {
  assert.equal(parseDepfile('x: a\\#b c\\\\#d\n').ins, ['a#b', 'c\\#d']);
  assert.equal(parseDepfile('x: a$$b\n').ins, ['a$b']);
  assert.equal(parseDepfile('x\\:y.o: a\\:b\n'), { outs: ['x:y.o'], ins: ['a:b'] });
  assert.equal(parseDepfile('x: a\\b\\c.h\n').ins, ['a\\b\\c.h']);
  // `\:` before whitespace is a plain backslash and the colon ending a target.
  assert.equal(parseDepfile('x\\: a\n'), { outs: ['x\\'], ins: ['a'] });
});

test('Windows paths with drive letters', () => {
  const d = parseDepfile('c:\\build\\foo.obj: c:\\src\\foo.cc C:/inc/a.h \\\n  d:\\x\\y.h\n');
  assert.equal(d.outs, ['c:\\build\\foo.obj']);
  assert.equal(d.ins, ['c:\\src\\foo.cc', 'C:/inc/a.h', 'd:\\x\\y.h']);
});

test('other characters end names and are dropped, like ninja', () => {
  assert.equal(parseDepfile('x: a|b <c> d;e\n').ins, ['a', 'b', 'c', 'd', 'e']);
  assert.equal(parseDepfile('x: a$b\n').ins, ['a', 'b']);
  assert.equal(parseDepfile('x: a\\').ins, ['a']);
  assert.equal(parseDepfile('x: a\\\\').ins, ['a\\\\']);
  assert.equal(parseDepfile('x: a\\\\\nb:\n'), { outs: ['x', 'b'], ins: ['a\\\\'] });
  assert.equal(parseDepfile('x: +,/_.~()}{%=@[]!-?"\'&\u00e9\n').ins, ['+,/_.~()}{%=@[]!-?"\'&\u00e9']);
});

test('several targets, several rules merged, duplicates dropped', () => {
  assert.equal(parseDepfile('a.o b.o: x.h y.h\n'), { outs: ['a.o', 'b.o'], ins: ['x.h', 'y.h'] });
  assert.equal(parseDepfile('a.o: x.h\nb.o: y.h x.h\na.o: z.h x.h\n'), { outs: ['a.o', 'b.o'], ins: ['x.h', 'y.h', 'z.h'] });
  assert.equal(parseDepfile('a.o a.o: x.h x.h\n'), { outs: ['a.o'], ins: ['x.h'] });
});

test('-MP phony targets for headers are accepted; inputs with inputs are not', () => {
  assert.equal(parseDepfile('a.o: a.c a.h b.h\n\na.h:\n\nb.h:\n'), { outs: ['a.o'], ins: ['a.c', 'a.h', 'b.h'] });
  assert.is(depErr('a.o: a.h\na.h: b.h\n'), 'inputs may not also have inputs');
  // A new line starts a new rule, so the restriction ends with the line.
  assert.equal(parseDepfile('a.o: a.h\na.h:\nc.o: c.h\n').ins, ['a.h', 'c.h']);
});

test('a file without a colon is refused', () => {
  assert.is(depErr('foo.o foo.c\n'), "expected ':' in depfile");
  assert.is(depErr('foo'), "expected ':' in depfile");
});

test('showIncludes: includes extracted, canonical, sorted, system headers and the source echo dropped', () => {
  const out = 'foo.cc\r\nNote: including file: ./inc/../b.h\r\nNote: including file:    a.h\n' +
    'Note: including file: C:\\Program Files (x86)\\Microsoft Visual Studio\\VC\\include\\stdio.h\n' +
    'foo.cc(3): warning C4101: unused\nNote: including file: a.h\nbar.cpp\n';
  const r = parseShowIncludes(out);
  assert.equal(r.deps, ['a.h', 'b.h']);
  assert.is(r.rest, 'foo.cc(3): warning C4101: unused\nbar.cpp\n');
  // A localized prefix, and the empty prefix meaning the default.
  assert.equal(parseShowIncludes('Hinweis: Einlesen der Datei: x.h\nNote: including file: y.h\n', 'Hinweis: Einlesen der Datei:'), {
    deps: ['x.h'],
    rest: 'Note: including file: y.h\n',
  });
  assert.equal(parseShowIncludes('Note: including file: y.h\n', '').deps, ['y.h']);
  assert.equal(parseShowIncludes(''), { deps: [], rest: '' });
  assert.equal(parseShowIncludes('no newline'), { deps: [], rest: 'no newline\n' });
});

function write(dir: string, files: Record<string, string>): void {
  for (const [n, t] of Object.entries(files)) fs.writeFileSync(path.join(dir, n), t);
}

/** `ninja -t deps` output: target -> deps. */
function readDepsTool(stdout: string): Map<string, string[]> {
  const r = new Map<string, string[]>();
  let cur: string[] | null = null;
  for (const line of stdout.split('\n')) {
    const head = /^(.*): #deps \d+/.exec(line);
    if (head !== null) r.set(head[1]!, (cur = []));
    else if (line.startsWith('    ') && cur !== null) cur.push(line.slice(4));
  }
  return r;
}

// Depfiles whose meaning did not change between ninja 1.11 (installed) and the newer grammar.
const DEPFILES = [
  'o: a.h b.h\n',
  'o: a\\ b.h c\\\\\\ d.h \\\n  e\\#f.h g$$h.h\n',
  'o: x\\\\ y.h\n',
  'o: c:\\src\\a.h ./dot/../b.h\r\n',
  'o other.o: p.h q.h\nother.o: r.h p.h\n',
  'o: m.h n.h\n\nm.h:\n\nn.h:\n',
  'o: a|b.h\tc.h',
];

if (haveNinja) {
  test('ninja records the same inputs from these depfiles (deps = gcc)', async () => {
    const dir = tmp('b-depfile-');
    const files: Record<string, string> = {};
    let manifest = 'rule d\n  command = cp $src $out.d && touch $out\n  depfile = $out.d\n  deps = gcc\n';
    DEPFILES.forEach((text, i) => {
      files[`d${i}.txt`] = text;
      manifest += `build o${i}: d\n  src = d${i}.txt\n`;
    });
    files['build.ninja'] = manifest;
    write(dir, files);
    const b = await run('ninja', ['--quiet'], { cwd: dir });
    assert.is(b.code, 0, b.stdout + b.stderr);
    const deps = readDepsTool((await run('ninja', ['-t', 'deps'], { cwd: dir })).stdout);
    DEPFILES.forEach((text, i) => {
      assert.equal(parseDepfile(text).ins.map(canonicalizePath), deps.get(`o${i}`), JSON.stringify(text));
    });
  });

  test('ninja fails the build on the same depfiles', async () => {
    const dir = tmp('b-depfile-');
    write(dir, {
      'bad.txt': 'o: a.h\na.h: b.h\n',
      'build.ninja': 'rule d\n  command = cp bad.txt $out.d && touch $out\n  depfile = $out.d\n  deps = gcc\nbuild o: d\n',
    });
    const b = await run('ninja', ['--quiet'], { cwd: dir });
    assert.is.not(b.code, 0);
    assert.match(b.stdout + b.stderr, /inputs may not also have inputs/);
    assert.is(depErr('o: a.h\na.h: b.h\n'), 'inputs may not also have inputs');
  });

  test('ninja extracts the same includes and output (deps = msvc)', async () => {
    const dir = tmp('b-depfile-');
    const out = 'x.cc\r\nNote: including file:   ./inc/./b.h\nNote: including file: C:\\Program Files\\sys.h\n' +
      'warning: hello\nNote: including file: z.h\nNote: including file: inc/b.h\nmain.c\n';
    write(dir, { 'm.txt': out, 'build.ninja': 'rule m\n  command = cat m.txt; touch $out\n  deps = msvc\nbuild o: m\n' });
    const b = await run('ninja', ['--quiet'], { cwd: dir });
    assert.is(b.code, 0, b.stderr);
    const ours = parseShowIncludes(out);
    assert.is(ours.rest, b.stdout);
    assert.equal(ours.deps, readDepsTool((await run('ninja', ['-t', 'deps'], { cwd: dir })).stdout).get('o'));
  });
} else {
  test.skip('cross-checks against ninja', 'ninja not installed');
}

test.run();
