import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { suite, tmp, run } from './helpers.ts';
import { parseDyndep, type DyndepOptions } from '../src/dyndep.ts';
import { parseManifest, NinjaSyntaxError } from '../src/ninja-parser.ts';

const test = suite('ninja-dyndep');
const haveNinja = spawnSync('ninja', ['--version']).status === 0;

function dyndepError(text: string, opts?: DyndepOptions): NinjaSyntaxError {
  try {
    parseDyndep(text, 'dd', opts);
  } catch (e) {
    if (e instanceof NinjaSyntaxError) return e;
    throw e;
  }
  throw new Error('accepted');
}

test('implicit outputs and inputs, restat, canonical paths', () => {
  const m = parseDyndep(
    'ninja_dyndep_version = 1\n' +
    'build ./out/../out: dyndep\n' +
    'build other | gen/./a.mod gen/b.mod: dyndep | x/../in.mod $\n    in2.mod\n  restat = 1\n' +
    '# comment\n\n' +
    'build third: dyndep\n  restat =\n',
    'dd',
  );
  assert.equal([...m.keys()], ['out', 'other', 'third']);
  assert.equal(m.get('out'), { implicitOuts: [], implicitIns: [], restat: false });
  assert.equal(m.get('other'), { implicitOuts: ['gen/a.mod', 'gen/b.mod'], implicitIns: ['in.mod', 'in2.mod'], restat: true });
  assert.equal(m.get('third')!.restat, false);
});

test('the version line: required first, 1 or 1.0 (any patch) only', () => {
  assert.equal(parseDyndep('ninja_dyndep_version = 1.0.5\n', 'dd').size, 0);
  assert.equal(parseDyndep('ninja_dyndep_version = 1.0\nbuild a: dyndep\n', 'dd').size, 1);
  assert.is(dyndepError('').reason, "expected 'ninja_dyndep_version = ...'");
  assert.is(dyndepError('build a: dyndep\n').reason, "expected 'ninja_dyndep_version = ...'");
  assert.is(dyndepError('x = 1\n').reason, "expected 'ninja_dyndep_version = ...'");
  assert.is(dyndepError('ninja_dyndep_version = 1.1\n').reason, "unsupported 'ninja_dyndep_version = 1.1'");
  assert.is(dyndepError('ninja_dyndep_version = 2\n').reason, "unsupported 'ninja_dyndep_version = 2'");
  const twice = dyndepError('ninja_dyndep_version = 1\nninja_dyndep_version = 1\n');
  assert.is(twice.reason, 'unexpected identifier');
  assert.is(twice.line, 2);
});

test('statement errors, located like ninja', () => {
  const v = 'ninja_dyndep_version = 1\n';
  const cases: [string, string, number][] = [
    ['build a b: dyndep\n', 'explicit outputs not supported', 2],
    ['build a: dyndep b\n', 'explicit inputs not supported', 2],
    ['build a: dyndep || b\n', 'order-only inputs not supported', 2],
    ['build a: cc\n', "expected build command name 'dyndep'", 2],
    ['build a dyndep\n', 'explicit outputs not supported', 2],
    ['build a | b\n', "expected ':', got newline ($ also escapes ':')", 2],
    // ninja's parser drops lexing errors inside implicit path lists, then trips on the path.
    ['build a: dyndep | x$!\n', 'unexpected identifier', 2],
    ['build a: dyndep | /x$!\n', 'lexing error', 2],
    ['build : dyndep\n', 'expected path', 2],
    ['build a: dyndep\n  restat = 1\n  restat = 1\n', 'unexpected indent', 4],
    ['build a: dyndep\n  pool = x\n', "binding is not 'restat'", 3],
    ['build a: dyndep\nbuild ./a: dyndep\n', "multiple statements for 'a'", 3],
    ['e =\nbuild a: dyndep\n', 'unexpected identifier', 2],
    ['build $e: dyndep\n', 'empty path', 2],
    ['build a: dyndep | $e\n', 'empty path', 3],
    ['rule r\n', "unexpected 'rule'", 2],
    ['build a: dyndep', 'unexpected EOF', 2],
  ];
  for (const [body, reason, line] of cases) {
    const e = dyndepError(v + body);
    assert.is(e.reason, reason, body);
    assert.is(`${e.file}:${e.line}`, `dd:${line}`, body);
  }
});

test('with the manifest: unknown outputs and two outputs of one edge are errors', () => {
  const edges = new Map<string, object>();
  const e1 = {};
  edges.set('a', e1).set('a2', e1).set('b', {});
  const opts: DyndepOptions = { edgeOf: (p) => edges.get(p) };
  assert.equal([...parseDyndep('ninja_dyndep_version = 1\nbuild a: dyndep\nbuild b: dyndep\n', 'dd', opts).keys()], ['a', 'b']);
  assert.is(dyndepError('ninja_dyndep_version = 1\nbuild nope: dyndep\n', opts).reason, "no build statement exists for 'nope'");
  assert.is(dyndepError('ninja_dyndep_version = 1\nbuild a: dyndep\nbuild a2: dyndep\n', opts).reason, "multiple statements for 'a2'");
});

const MANIFEST = 'rule r\n  command = touch $out\nbuild out: r in || dd\n  dyndep = dd\nbuild out2: r in || dd\n  dyndep = dd\nbuild in: r\n';

const BAD: Record<string, string> = {
  'order-only input': 'ninja_dyndep_version = 1\nbuild out | extra: dyndep || in2\n',
  'unknown output': 'ninja_dyndep_version = 1\n\nbuild nope: dyndep\n',
  'twice': 'ninja_dyndep_version = 1\nbuild out: dyndep\nbuild out: dyndep\n\n',
  'no version': '# nothing\nbuild out: dyndep\n',
  'bad version': 'ninja_dyndep_version = 3\n',
  'second binding': 'ninja_dyndep_version = 1\nbuild out: dyndep\n  restat = 1\n  restat = 1\n',
  'wrong binding': 'ninja_dyndep_version = 1\nbuild out: dyndep\n  command = 1\n',
  'explicit input': 'ninja_dyndep_version = 1\nbuild out: dyndep in\n',
  'bad escape': 'ninja_dyndep_version = 1\nbuild out: dyndep | a$!b\n',
};

if (haveNinja) {
  for (const [name, text] of Object.entries(BAD)) {
    test(`dyndep file rejected like ninja: ${name}`, async () => {
      const dir = tmp('b-dyndep-');
      fs.writeFileSync(path.join(dir, 'build.ninja'), MANIFEST);
      fs.writeFileSync(path.join(dir, 'dd'), text);
      const r = await run('ninja', ['-n'], { cwd: dir });
      assert.is.not(r.code, 0);
      const m = parseManifest('build.ninja', { readFile: (p) => fs.readFileSync(path.join(dir, p), 'utf8') });
      const e = dyndepError(text, { edgeOf: (p) => m.producer.get(p) });
      const theirs = r.stderr.replace(/^ninja: error: /, '').replace(/\n+$/, '');
      assert.is(e.message, theirs);
    });
  }

  test('a valid dyndep file is accepted by ninja too', async () => {
    const dir = tmp('b-dyndep-');
    const text = 'ninja_dyndep_version = 1.0\nbuild out | extra: dyndep | in2\n  restat = 1\nbuild out2: dyndep\n';
    fs.writeFileSync(path.join(dir, 'build.ninja'), MANIFEST);
    fs.writeFileSync(path.join(dir, 'dd'), text);
    fs.writeFileSync(path.join(dir, 'in2'), '');
    const r = await run('ninja', ['-n'], { cwd: dir });
    assert.is(r.code, 0, r.stderr);
    assert.equal(parseDyndep(text, 'dd').get('out'), { implicitOuts: ['extra'], implicitIns: ['in2'], restat: true });
  });
} else {
  test.skip('cross-checks against ninja', 'ninja not installed');
}

test.run();
