// Links and archives as self-contained items (rexec-link.ts): which commands qualify, the
// linker trace a node adds, what a plan ships, and the client's check of a node's system files.
import * as assert from 'uvu/assert';
import { suite } from './helpers.ts';
import { andParts, foreignSystemFile, linkStep, planLink, withLinkTrace } from '../src/rexec-link.ts';

const test = suite('rexec-link');
const W = '/w/build';
const outs = (...o: string[]): string[] => o.map((x) => `${W}/${x}`);
// CMake's rules, as zstd's build.ninja expands them.
const ARCHIVE = ': && /usr/bin/cmake -E rm -f lib/libzstd.a && /usr/bin/ar qc lib/libzstd.a  lib/a.o lib/b.o && /usr/bin/ranlib lib/libzstd.a && :';
const LINK = ': && /usr/bin/cc -O3 -DNDEBUG -z noexecstack programs/x.o programs/y.o -o programs/zstd  lib/libzstd.a && :';

test('CMake archives and links qualify, with the tool nodes must share', () => {
  assert.equal(linkStep(ARCHIVE, W, outs('lib/libzstd.a')), { kind: 'archive', tool: '/usr/bin/ar' });
  assert.equal(linkStep(LINK, W, outs('programs/zstd')), { kind: 'link', tool: 'link:/usr/bin/cc' });
  assert.equal(linkStep('rm -f libx.a && ar rcs libx.a a.o', W, outs('libx.a')), { kind: 'archive', tool: 'ar' });
  assert.equal(linkStep('g++ -o app main.o -lpthread -L/usr/lib/x86_64-linux-gnu -Wl,-rpath,/opt/x', W, outs('app')), { kind: 'link', tool: 'link:g++' });
});

test('an archive not removed first, or with unsafe ops, stays local', () => {
  assert.is(linkStep('/usr/bin/ar qc lib/libzstd.a a.o', W, outs('lib/libzstd.a')), undefined, 'ar q appends to an archive that exists');
  assert.is(linkStep('rm -f l.a && ar qcT l.a a.o', W, outs('l.a')), undefined, 'thin archives name paths');
  assert.is(linkStep('rm -f l.a && ar qcu l.a a.o', W, outs('l.a')), undefined, 'u reads timestamps');
  assert.is(linkStep('rm -f l.a && ar qcU l.a a.o', W, outs('l.a')), undefined, 'U writes timestamps');
  assert.is(linkStep('rm -f other.a && ar qc l.a a.o', W, outs('l.a', 'other.a')), undefined, 'another file removed');
  assert.is(linkStep('rm -f l.a && ar qc l.a a.o', W, outs('m.a')), undefined, 'writes a file that is not an output');
  assert.is(linkStep('rm -f l.a && ar qc l.a @list', W, outs('l.a')), undefined, 'response file');
  assert.is(linkStep('rm -f l.a && ar qc l.a a.o && cc -o x a.o', W, outs('l.a', 'x')), undefined, 'an archive and a link');
});

test('links that search project directories or change the linker stay local', () => {
  const o = outs('app');
  for (const flags of ['-Llib', '-L /w/build/lib', '-Wl,-L,lib', '-Wl,-rpath-link,/w/lib', '-T link.ld', '-Wl,-T,x.ld', '-fuse-ld=gold', '-flto', '@args.rsp', '-B/w/tools', '--sysroot=/w/sys', '-specs=x', '-Wl,-rpath,/w/build/lib', '-Wl,-rpath=/w/lib', '-Wl,-R,/w/x']) {
    assert.is(linkStep(`cc ${flags} a.o -o app`, W, o), undefined, flags);
  }
  assert.is(linkStep('cc -c a.c -o app', W, o), undefined, 'a compile');
  assert.is(linkStep('cc a.o', W, o), undefined, 'no -o');
  assert.is(linkStep('cc a.o -o elsewhere', W, o), undefined, 'writes a file that is not an output');
  assert.is(linkStep('cd x && cc a.o -o app', W, o), undefined, 'cd');
  assert.is(linkStep('cc a.o -o app; touch y', W, o), undefined, ';');
  assert.is(linkStep('cc $(cat objs) -o app', W, o), undefined, '$(...)');
  assert.is(linkStep('cc a.o -o app > log', W, o), undefined, 'redirection');
  assert.is(linkStep('cc a.o -o app && strip app', W, o), undefined, 'an unknown program');
  assert.is(linkStep('cc *.o -o app', W, o), undefined, 'a glob');
  assert.is(linkStep('cc "a.o" -o app', W, o)?.kind, 'link', 'quoted words are words');
  assert.is(linkStep("cc a.o -o app '-Wl,-rpath,$ORIGIN/../lib'", W, o)?.kind, 'link', 'a relative rpath is not rewritten');
});

test('the linker trace goes right after the driver, whatever precedes it', () => {
  assert.is(withLinkTrace(LINK, '/sb/.tmp/l.d'), ": && /usr/bin/cc '-Wl,--dependency-file=/sb/.tmp/l.d' -O3 -DNDEBUG -z noexecstack programs/x.o programs/y.o -o programs/zstd  lib/libzstd.a && :");
  assert.is(withLinkTrace('g++ a.o -o b', '/t'), "g++ '-Wl,--dependency-file=/t' a.o -o b");
  assert.is(withLinkTrace(ARCHIVE, '/t'), undefined);
  assert.is(andParts('a "x && y" && b')?.length, 2, '&& inside quotes does not split');
});

test('a plan ships the declared inputs only, and none is missing', () => {
  const digests: Record<string, string> = { [`${W}/programs/x.o`]: 'A'.repeat(16), [`${W}/programs/y.o`]: 'B'.repeat(16), [`${W}/lib/libzstd.a`]: 'C'.repeat(16) };
  const d = (abs: string): { digest: string; size: number; exec: boolean } | undefined => digests[abs] === undefined ? undefined : { digest: digests[abs]!, size: 3, exec: false };
  const e = { cmd: LINK, root: W, inputs: ['programs/x.o', 'programs/y.o', 'lib/libzstd.a', '/usr/lib/libm.a'], outputs: ['programs/zstd'], depfile: '', deps: '', rspfile: '', rspfileContent: '', msvcPrefix: '' };
  const p = planLink(e, d);
  assert.ok(p);
  assert.equal(p.work.inputs.map((i) => i.path), [`${W}/programs/x.o`, `${W}/programs/y.o`, `${W}/lib/libzstd.a`], 'system inputs are the node\'s own');
  assert.is(p.work.inputs[0]!.digest, '41'.repeat(16));
  assert.is(p.work.link, true);
  assert.equal(p.work.outputs, [`${W}/programs/zstd`]);
  assert.is(p.offered.get('43'.repeat(16)), `${W}/lib/libzstd.a`);
  assert.is(planLink({ ...e, inputs: [...e.inputs, 'programs/missing.o'] }, d), undefined, 'an input missing here');
  assert.is(planLink({ ...e, depfile: 'x.d' }, d), undefined, 'a depfile: its reads are not known before it runs');
  const a = planLink({ ...e, cmd: ARCHIVE, inputs: ['programs/x.o'], outputs: ['lib/libzstd.a'] }, d);
  assert.is(a?.work.link, undefined, 'an archive reads no system file: no trace');
});

test('a node\'s system files must be this machine\'s, byte for byte', () => {
  const deps = ['/w/build/a.o', '/usr/lib/libc.so.6', '/usr/lib/gcc/crt1.o'];
  const here: Record<string, string> = { '/usr/lib/libc.so.6': 'aa', '/usr/lib/gcc/crt1.o': 'bb' };
  const mine = (p: string): string | undefined => here[p];
  assert.is(foreignSystemFile(deps, ['x', 'aa', 'bb'], mine), undefined, 'project files are inputs: checked when shipped');
  assert.match(foreignSystemFile(deps, ['x', 'aa', 'cc'], mine) ?? '', /crt1\.o differs/);
  assert.match(foreignSystemFile(deps, ['x', 'aa', null], mine) ?? '', /crt1\.o/);
  assert.match(foreignSystemFile([...deps, '/usr/lib/libz.so'], ['x', 'aa', 'bb', 'dd'], mine) ?? '', /libz\.so is missing here/);
  assert.match(foreignSystemFile(deps, undefined, mine) ?? '', /did not say/);
  assert.match(foreignSystemFile(deps, ['aa'], mine) ?? '', /did not say/);
});

test.run();
