import * as assert from 'uvu/assert';
import { suite } from './helpers.ts';
import { parseManifest, NinjaSyntaxError, NINJA_VERSION, type NinjaManifest, type NinjaEdge } from '../src/ninja-parser.ts';

const test = suite('ninja-parser');

/** Parses in-memory files; `build.ninja` is the top one unless `main` says otherwise. */
function parse(files: Record<string, string> | string, main = 'build.ninja'): NinjaManifest {
  const m = new Map(Object.entries(typeof files === 'string' ? { 'build.ninja': files } : files));
  return parseManifest(main, {
    readFile: (p) => {
      const s = m.get(p);
      if (s === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
      return s;
    },
  });
}

function parseError(files: Record<string, string> | string): NinjaSyntaxError {
  try {
    parse(files);
  } catch (e) {
    if (e instanceof NinjaSyntaxError) return e;
    throw e;
  }
  throw new Error('expected a NinjaSyntaxError');
}

function edge(m: NinjaManifest, out: string): NinjaEdge {
  const e = m.producer.get(out);
  if (e === undefined) throw new Error(`no edge for ${out}`);
  return e;
}

const CAT = 'rule cat\n  command = cat $in > $out\n';

test('a minimal manifest: rule, build, outputs and inputs', () => {
  const m = parse(`${CAT}build out: cat in1 in2\n`);
  assert.is(m.edges.length, 1);
  const e = m.edges[0]!;
  assert.is(e.id, 0);
  assert.is(e.rule, 'cat');
  assert.equal(e.outs, ['out']);
  assert.equal(e.ins, ['in1', 'in2']);
  assert.is(e.command, 'cat in1 in2 > out');
  assert.is(e.pool, '');
  assert.is(e.file, 'build.ninja');
  assert.is(e.line, 3);
  assert.equal(m.files, ['build.ninja']);
  assert.equal([...m.pools], [['console', 1]]);
  assert.equal(m.defaults, []);
  assert.is(m.builddir, '');
  assert.is(m.requiredVersion, '');
  assert.is(m.producer.get('out'), e);
});

test('input kinds, implicit outputs and validations are split and counted', () => {
  const m = parse(`${CAT}build o1 o2 | io1 io2: cat e1 e2 | i1 || oo1 oo2 |@ v1 v2\nbuild v1 v2 e1 e2 i1 oo1 oo2: cat\n`);
  const e = m.edges[0]!;
  assert.equal(e.outs, ['o1', 'o2', 'io1', 'io2']);
  assert.is(e.implicitOuts, 2);
  assert.equal(e.ins, ['e1', 'e2', 'i1', 'oo1', 'oo2']);
  assert.is(e.implicitIns, 1);
  assert.is(e.orderOnlyIns, 2);
  assert.equal(e.validations, ['v1', 'v2']);
  assert.is(e.binding('in'), 'e1 e2');
  assert.is(e.binding('out'), 'o1 o2');
  assert.is(e.binding('in_newline'), 'e1\ne2');
  // Only order-only inputs, or only validations, are fine too.
  const m2 = parse(`${CAT}build a: cat || b\nbuild c: cat |@ a\nbuild d | e: cat\n`);
  assert.equal(m2.edges[0]!.ins, ['b']);
  assert.is(m2.edges[0]!.orderOnlyIns, 1);
  assert.is(m2.edges[0]!.binding('in'), '');
  assert.equal(m2.edges[1]!.validations, ['a']);
  assert.equal(m2.edges[2]!.outs, ['d', 'e']);
});

test('escapes: $$, $ , $:, ${var}, $var name characters, line continuations', () => {
  const m = parse(
    'a = A\n' +
    'a.b = AB\n' +
    'v1 = x$$y$ z$:w\n' +
    'v2 = ${a}$a.b ${a.b}\n' +
    'v3 = one $\n      two$\r\n   three\n' +
    'v4 =    leading stripped, trailing kept   \n' +
    'v5 = a:b|c d\n' +
    'v6 = $a-$a_\n' +
    `${CAT}build out$ 1 out$:2: cat in$ 1 $a/x\n`,
  );
  const vars = m.edges[0]!;
  assert.is(vars.binding('v1'), 'x$y z:w');
  assert.is(vars.binding('v2'), 'AA.b AB');
  assert.is(vars.binding('v3'), 'one twothree');
  assert.is(vars.binding('v4'), 'leading stripped, trailing kept   ');
  assert.is(vars.binding('v5'), 'a:b|c d');
  assert.is(vars.binding('v6'), '');
  assert.equal(vars.outs, ['out 1', 'out:2']);
  assert.equal(vars.ins, ['in 1', 'A/x']);
  assert.is(vars.command, "cat 'in 1' A/x > 'out 1' 'out:2'");
});

test('continuations between tokens, comments, blank lines and CRLF', () => {
  const m = parse(
    '# comment\n' +
    '   # indented comment\n' +
    '\n' +
    '    \n' +
    'rule cat\r\n' +
    '  # comment inside a rule\r\n' +
    '  command = cat $in > $out\r\n' +
    '\r\n' +
    'build $\r\n    out: $\n  cat $\r\n  in\r\n' +
    '  # comment inside a build block\n' +
    '  x = 1\r\n' +
    'y = 2 # not a comment\n',
  );
  const e = m.edges[0]!;
  assert.equal(e.outs, ['out']);
  assert.equal(e.ins, ['in']);
  assert.is(e.binding('x'), '1');
  assert.is(e.binding('y'), '2 # not a comment');
  assert.is(e.line, 9);
});

test('top-level variables are evaluated when defined; redefinitions apply to what follows', () => {
  const m = parse(`x = 1\ny = $x\nx = 2\nz = $x$y\n${CAT}build o1: cat $x\nx = 3\nbuild o2: cat $x\n`);
  assert.equal(m.edges[0]!.ins, ['2']);
  assert.equal(m.edges[1]!.ins, ['3']);
  assert.is(m.edges[0]!.binding('z'), '21');
});

test('edge bindings are evaluated at once in the enclosing scope, not in each other', () => {
  const m = parse(`x = outer\n${CAT}build o: cat\n  x = inner\n  y = $x\n  in2 = $in\n  x = last\n`);
  const e = m.edges[0]!;
  assert.is(e.binding('x'), 'last');
  assert.is(e.binding('y'), 'outer');
  assert.is(e.binding('in2'), '');
});

test('precedence: edge binding > rule binding > enclosing scopes; rule bindings are lazy', () => {
  const m = parse(
    'flags = -O0\n' +
    'rule cc\n  command = cc $flags $extra -c $in -o $out\n  description = CC $out\n' +
    'build a.o: cc a.c\n' +
    'build b.o: cc b.c\n  flags = -O2\n  extra = -g\n' +
    'build c.o: cc c.c\n  description = custom\n' +
    'flags = -O1\n',
  );
  assert.is(edge(m, 'a.o').command, 'cc -O1  -c a.c -o a.o', 'rule variables are looked up when evaluated');
  assert.is(edge(m, 'b.o').command, 'cc -O2 -g -c b.c -o b.o');
  assert.is(edge(m, 'c.o').description, 'custom');
  assert.is(edge(m, 'a.o').description, 'CC a.o');
  assert.is(edge(m, 'a.o').binding('unset'), '');
  assert.is(edge(m, 'a.o').binding('flags'), '-O1');
});

test("ninja quirks: a scope's own variable beats the rule for edges without bindings", () => {
  // An edge without bindings shares its enclosing scope as environment, and ninja looks at that
  // environment's own variables before the rule's (BindingEnv::LookupWithFallback).
  const m = parse(
    'command = echo top\nrule r\n  command = echo rule\nbuild a: r\nbuild b: r\n  k = v\n',
  );
  assert.is(edge(m, 'a').command, 'echo top');
  assert.is(edge(m, 'b').command, 'echo rule');
  // A rule without rspfile still has an (empty) one, hiding any outer `rspfile`.
  const m2 = parse('rspfile = outer\nrule r\n  command = echo [$rspfile]\nbuild a: r\n  k = v\n');
  assert.is(edge(m2, 'a').command, 'echo []');
});

test('$in and $out are shell-escaped like ninja; depfile and rspfile are not', () => {
  const m = parse(
    'rule r\n  command = tool $in $out\n  depfile = $out.d\n  rspfile = $out.rsp\n  rspfile_content = $in_newline\n' +
    "build out$ dir/o'q: r a$ b c\"d e&f g_+-./h\n",
  );
  const e = m.edges[0]!;
  assert.is(e.command, `tool 'a b' 'c"d' 'e&f' g_+-./h 'out dir/o'\\''q'`);
  assert.is(e.depfile, "out dir/o'q.d");
  assert.is(e.rspfile, "out dir/o'q.rsp");
  assert.is(e.rspfileContent, `'a b'\n'c"d'\n'e&f'\ng_+-./h`);
  assert.is(e.bindingUnescaped('command'), `tool a b c"d e&f g_+-./h out dir/o'q`);
});

test('all reserved rule bindings are available through the edge', () => {
  const m = parse(
    'pool link\n  depth = 2\n' +
    'rule r\n  command = c\n  description = d $out\n  depfile = $out.d\n  deps = gcc\n  msvc_deps_prefix = Note:\n' +
    '  restat = 1\n  generator = 1\n  pool = link\n  rspfile = $out.rsp\n  rspfile_content = $in\n  dyndep = ./dd\n' +
    'build dd: phony\nbuild o: r i | dd\nrule plain\n  command = p\nbuild p: plain\n',
  );
  const e = edge(m, 'o');
  assert.is(e.command, 'c');
  assert.is(e.description, 'd o');
  assert.is(e.depfile, 'o.d');
  assert.is(e.deps, 'gcc');
  assert.is(e.msvcDepsPrefix, 'Note:');
  assert.is(e.restat, true);
  assert.is(e.generator, true);
  assert.is(e.pool, 'link');
  assert.is(e.rspfile, 'o.rsp');
  assert.is(e.rspfileContent, 'i');
  assert.is(e.dyndep, 'dd');
  const p = edge(m, 'p');
  assert.equal([p.description, p.depfile, p.deps, p.msvcDepsPrefix, p.rspfile, p.rspfileContent, p.dyndep, p.pool], ['', '', '', '', '', '', '', '']);
  assert.is(p.restat, false);
  assert.is(p.generator, false);
  assert.is(p.isPhony, false);
  assert.is(edge(m, 'dd').isPhony, true);
  assert.is(edge(m, 'dd').rule, 'phony');
});

test('pools: depth, console, rule pool overridden by the edge, empty pool', () => {
  const m = parse(
    'pool link\n  depth = 3\npool zero\n  depth = 0\n' +
    'rule ld\n  command = ld\n  pool = link\n' +
    'build a: ld\nbuild b: ld\n  pool =\nbuild c: ld\n  pool = console\nbuild d: phony\n  pool = zero\n',
  );
  assert.equal([...m.pools].sort(), [['console', 1], ['link', 3], ['zero', 0]]);
  assert.equal(['a', 'b', 'c', 'd'].map((o) => edge(m, o).pool), ['link', '', 'console', 'zero']);
});

test('pool errors', () => {
  const e1 = parseError('pool p\n  depth = -1\n');
  assert.is(e1.reason, 'invalid pool depth');
  assert.is(e1.line, 2);
  assert.is(parseError('pool p\n\n').reason, "expected 'depth =' line");
  assert.is(parseError('pool p\n  depth = 1\npool p\n  depth = 2\n').reason, "duplicate pool 'p'");
  assert.is(parseError('pool console\n  depth = 2\n').reason, "duplicate pool 'console'");
  assert.is(parseError('pool p\n  size = 1\n').reason, "unexpected variable 'size'");
  const e2 = parseError(`${CAT}build a: cat\n  pool = nope\nbuild b: cat\n`);
  assert.is(e2.reason, "unknown pool name 'nope'");
  // Like ninja, the error is reported where the lexer stopped: at the next statement.
  assert.is(e2.line, 5);
  assert.is(parseError(`rule r\n  command = x\n  pool = p\nbuild a: r\npool p\n  depth = 1\n`).reason, "unknown pool name 'p'");
  assert.is(parseError('pool\n').reason, 'expected pool name');
});

test('default statements: cumulative, canonical, any known node, unknown target errors', () => {
  const m = parse(`${CAT}build a: cat src/x\nbuild b: cat\ndefault a\ndefault ./b src/./x\n`);
  assert.equal(m.defaults, ['a', 'b', 'src/x']);
  const e = parseError(`${CAT}build a: cat\ndefault a c\n`);
  assert.is(e.reason, "unknown target 'c'");
  assert.is(e.line, 4);
  assert.is(parseError(`${CAT}default a\nbuild a: cat\n`).reason, "unknown target 'a'");
  assert.is(parseError('default\n').reason, 'expected target name');
  assert.is(parseError(`${CAT}build a: cat\ne =\ndefault $e\n`).reason, 'empty path');
});

test('include shares the scope; subninja gets a child scope', () => {
  const m = parse({
    'build.ninja': `x = top\n${CAT}include inc.ninja\nsubninja sub/sub.ninja\nbuild top.out: cat $x $y\ndefault sub.out\n`,
    'inc.ninja': 'y = from-include\nrule inc_rule\n  command = inc $x\n',
    'sub/sub.ninja': 'x = shadowed\nz = sub-only\nrule sub_rule\n  command = sub $x $y $z\nbuild sub.out: sub_rule\nbuild sub2.out: inc_rule\nsubninja sub/deeper.ninja\n',
    'sub/deeper.ninja': 'build deep.out: sub_rule\n  y = edge\n',
  });
  assert.equal(m.files, ['build.ninja', 'inc.ninja', 'sub/sub.ninja', 'sub/deeper.ninja']);
  assert.equal(edge(m, 'top.out').ins, ['top', 'from-include']);
  assert.is(edge(m, 'sub.out').command, 'sub shadowed from-include sub-only');
  assert.is(edge(m, 'sub2.out').command, 'inc shadowed', 'a rule sees the scope of the edge using it');
  assert.is(edge(m, 'deep.out').command, 'sub shadowed edge sub-only');
  assert.is(edge(m, 'deep.out').file, 'sub/deeper.ninja');
  assert.is(edge(m, 'deep.out').line, 1);
  assert.is(edge(m, 'sub2.out').line, 6);
  assert.equal(m.defaults, ['sub.out']);
});

test('subninja rules stay in the subninja; include rules do not', () => {
  const e = parseError({ 'build.ninja': 'subninja s.ninja\nbuild a: r\n', 's.ninja': 'rule r\n  command = x\n' });
  assert.is(e.reason, "unknown build rule 'r'");
  assert.is(e.file, 'build.ninja');
  assert.is(e.line, 2);
  // A subninja may define a rule of the same name as its parent; an include may not.
  const m = parse({ 'build.ninja': `${CAT}subninja s.ninja\n`, 's.ninja': 'rule cat\n  command = other\nbuild a: cat\n' });
  assert.is(edge(m, 'a').command, 'other');
  const d = parseError({ 'build.ninja': `${CAT}include i.ninja\n`, 'i.ninja': 'rule cat\n  command = other\n' });
  assert.is(d.reason, "duplicate rule 'cat'");
  assert.is(d.file, 'i.ninja');
  assert.is(d.line, 1);
});

test('missing files: an include names the including line, the top file gives ENOENT', () => {
  const e = parseError(`${CAT}include missing.ninja\n`);
  assert.is(e.message, "build.ninja:3: loading 'missing.ninja': No such file or directory\ninclude missing.ninja\n                     ^ near here");
  const e2 = parseError({ 'build.ninja': 'subninja a.ninja\n', 'a.ninja': '\n\nsubninja b.ninja\n' });
  assert.is(e2.file, 'a.ninja');
  assert.is(e2.line, 3);
  try {
    parse({}, 'nope.ninja');
    assert.unreachable();
  } catch (err) {
    assert.not.instance(err, NinjaSyntaxError);
    assert.is((err as Error).message, "loading 'nope.ninja': No such file or directory");
    assert.is((err as { code?: string }).code, 'ENOENT');
  }
});

test('phony edges, and phony self-references dropped with a warning', () => {
  const m = parse(`${CAT}build x: cat\nbuild all: phony x all\nbuild alias: phony\n`);
  assert.equal(edge(m, 'all').ins, ['x']);
  assert.equal(m.warnings, ["phony target 'all' names itself as an input; ignoring [-w phonycycle=warn]"]);
  assert.equal(edge(m, 'alias').ins, []);
  const m2 = parse(`${CAT}build x: cat\nbuild all: phony x || all x\n`);
  assert.equal(edge(m2, 'all').ins, ['x', 'x']);
  assert.is(edge(m2, 'all').orderOnlyIns, 1);
  assert.is(edge(m, 'alias').command, '');
  assert.is(parseError('rule phony\n  command = x\n').reason, "duplicate rule 'phony'");
});

test('builddir, ninja_required_version and version checks', () => {
  const m = parse(`ninja_required_version = 1.13\nbuilddir = out/$x\n${CAT}`);
  assert.is(m.builddir, 'out/');
  assert.is(m.requiredVersion, '1.13');
  assert.is(parse('ninja_required_version = 1.7.2\n').requiredVersion, '1.7.2');
  assert.is(parse({ 'build.ninja': 'subninja s\n', s: 'builddir = nope\n' }).builddir, '');
  const e = parseError('ninja_required_version = 1.14\nbuild $\n');
  assert.is(e.reason, `ninja version (${NINJA_VERSION}) incompatible with build file ninja_required_version version (1.14).`);
  assert.is(e.line, 1);
  assert.is(parseError('ninja_required_version = 2.0\n').line, 1);
  assert.match(parse('ninja_required_version = 0.1\n').warnings[0]!, /versions may be incompatible/);
});

test('paths are canonicalized; canonical forms identify nodes', () => {
  const m = parse(`${CAT}build ./a//b/../c/.: cat ./x ../y/./z /abs//p ../../w/../v\nbuild d: cat a/c\n`);
  const e = m.edges[0]!;
  assert.equal(e.outs, ['a/c']);
  assert.equal(e.ins, ['x', '../y/z', '/abs/p', '../../v']);
  assert.equal(m.edges[1]!.ins, ['a/c']);
  assert.ok(m.producer.has('a/c'));
  // Also paths with escapes, and paths built from variables.
  const m2 = parse(`d = ./x/..\n${CAT}build a$ b/./c: cat x$ y/../z $d/w | $d/.\n`);
  assert.equal(m2.edges[0]!.outs, ['a b/c']);
  assert.equal(m2.edges[0]!.ins, ['z', 'w', '.']);
});

test('duplicate outputs are errors', () => {
  const e = parseError(`${CAT}build a: cat\nbuild b ./a: cat\n\n`);
  assert.is(e.reason, 'multiple rules generate a');
  assert.is(e.line, 5);
  assert.is(parseError(`${CAT}build a | a: cat\n`).reason, 'a is defined as an output multiple times');
});

test('dyndep binding must name an input; it is stored canonical', () => {
  const m = parse(`${CAT}build dd: cat\nbuild o: cat x || ./dd\n  dyndep = ./dd\n`);
  assert.is(edge(m, 'o').dyndep, 'dd');
  const e = parseError(`${CAT}build o: cat x\n  dyndep = dd\n`);
  assert.is(e.reason, "dyndep 'dd' is not an input");
});

test('rule errors', () => {
  assert.is(parseError('rule cat\n  command = x\nrule cat\n  command = y\n').reason, "duplicate rule 'cat'");
  assert.is(parseError('rule r\n  description = x\n').reason, "expected 'command =' line");
  assert.is(parseError('rule r\n  command =\n').reason, "expected 'command =' line");
  assert.is(parseError('rule r\n  command = x\n  rspfile = y\n').reason, 'rspfile and rspfile_content need to be both specified');
  assert.is(parseError('rule r\n  command = x\n  rspfile_content = y\n').reason, 'rspfile and rspfile_content need to be both specified');
  const e = parseError('rule r\n  command = x\n  foo = bar\n');
  assert.is(e.message, "build.ninja:3: unexpected variable 'foo'\n  foo = bar\n           ^ near here");
  assert.is(parseError('rule\n').reason, 'expected rule name');
  assert.is(parseError('rule r x\n').reason, 'expected newline, got identifier');
});

test('build statement errors', () => {
  assert.is(parseError(`${CAT}build a: nope\n`).reason, "unknown build rule 'nope'");
  assert.is(parseError(`${CAT}build: cat\n`).reason, 'expected path');
  assert.is(parseError(`${CAT}build a: \n`).reason, 'expected build command name');
  assert.is(parseError(`${CAT}build a cat\n`).reason, "expected ':', got newline ($ also escapes ':')");
  assert.is(parseError(`${CAT}build a: cat\n  x\n`).reason, "expected '=', got newline");
  assert.is(parseError(`${CAT}e =\nbuild $e: cat\n`).reason, 'empty path');
  assert.is(parseError(`${CAT}e =\nbuild a: cat $e\n`).reason, 'empty path');
  assert.is(parseError(`${CAT}build a: cat | | b\n`).reason, "expected newline, got '|'");
  assert.equal(parse(`${CAT}build a: cat || |@\n`).edges[0]!.ins, []);
  assert.is(parseError(`${CAT}build a: cat\n  = x\n`).reason, 'expected variable name');
});

test('lexical errors, with the line and a caret like ninja', () => {
  const e = parseError('x = 1\ny = $!\n');
  assert.is(e.message, 'build.ninja:2: bad $-escape (literal $ must be written as $$)\ny = $!\n    ^ near here');
  assert.is(e.line, 2);
  assert.is(e.col, 4);
  assert.is(parseError('x = ${a b}\n').reason, 'bad $-escape (literal $ must be written as $$)');
  assert.is(parseError('x = ${}\n').reason, 'bad $-escape (literal $ must be written as $$)');
  assert.is(parseError('x = a$^b\n').reason, 'bad $-escape (literal $ must be written as $$)');
  assert.is(parseError('x = $.a\n').reason, 'bad $-escape (literal $ must be written as $$)');
  assert.is(parseError('x = $\ry\n').reason, 'bad $-escape (literal $ must be written as $$)');
  assert.is(parseError('x = $').reason, 'bad $-escape (literal $ must be written as $$)');
  const eof = parseError('x = 1');
  assert.is(eof.message, 'build.ninja:1: unexpected EOF\nx = 1\n     ^ near here');
  assert.is(parseError('x = $\n').message, 'build.ninja:2: unexpected EOF');
  assert.is(parseError(`${CAT}build a: cat`).reason, 'unexpected EOF');
  assert.is(parseError('\tx = 1\n').reason, 'tabs are not allowed, use spaces');
  assert.is(parseError('x = 1\n# comment at the end').message, 'build.ninja:2: lexing error');
  assert.is(parseError('x = a\rb\n').reason, 'lexing error');
  assert.is(parseError('  x = 1\n').reason, 'unexpected indent');
  assert.is(parseError('x 1\n').message, "build.ninja:1: expected '=', got identifier\nx 1\n  ^ near here");
  assert.is(parseError('x\n').message, "build.ninja:1: expected '=', got newline\nx\n ^ near here");
  assert.is(parseError(':\n').reason, "unexpected ':'");
  assert.is(parseError('x = 1\n=\n').message, "build.ninja:2: unexpected '='");
  // A NUL ends the input, as in ninja.
  assert.is(parse('x = 1\n\0garbage').edges.length, 0);
});

test('error context: long lines are cut, far columns get no caret', () => {
  const long = `x = ${'a'.repeat(60)}$!${'b'.repeat(30)}\n`;
  const e = parseError(long);
  assert.is(e.message, `build.ninja:1: bad $-escape (literal $ must be written as $$)\n${long.slice(0, 72)}...\n${' '.repeat(64)}^ near here`);
  const far = `x = ${'a'.repeat(80)}$!\n`;
  assert.is(parseError(far).message, 'build.ninja:1: bad $-escape (literal $ must be written as $$)');
});

test('cycles in rule variables are reported when evaluated', () => {
  const m = parse('rule c\n  command = $description\n  description = $depfile\n  depfile = $command\nbuild b: c\n  k = v\n');
  try {
    void edge(m, 'b').command;
    assert.unreachable();
  } catch (e) {
    assert.instance(e, NinjaSyntaxError);
    assert.is((e as NinjaSyntaxError).reason, 'cycle in rule variables: description -> depfile -> command -> description');
    assert.is((e as NinjaSyntaxError).line, 5);
  }
  // A rule variable used twice is not a cycle.
  const ok = parse('rule c\n  command = $description $description\n  description = $depfile x\n  depfile = d\nbuild b: c\n');
  assert.is(edge(ok, 'b').command, 'd x d x');
});

test('edges record their file and line in manifest order', () => {
  const m = parse({
    'build.ninja': `${CAT}\nbuild a: cat\ninclude i.ninja\n\n\nbuild $\n  b: cat\n`,
    'i.ninja': '# c\nbuild c: cat\n',
  });
  assert.equal(m.edges.map((e) => [e.id, e.outs[0], e.file, e.line]), [
    [0, 'a', 'build.ninja', 4],
    [1, 'c', 'i.ninja', 2],
    [2, 'b', 'build.ninja', 8],
  ]);
});

test('keywords are only keywords as whole words', () => {
  const m = parse('buildx = 1\nrule.y = 2\ndefault_z = 3\n' + `${CAT}build o: cat $buildx ${'${rule.y}'} $default_z\n`);
  assert.equal(m.edges[0]!.ins, ['1', '2', '3']);
});

test.run();
