// How a Bfile rule's run() becomes an action (bfile-action.ts, bfile-farm.ts's pure parts): its
// inputs, outputs and depfile, where it may run, whether it may be cached, its key, and the
// self-contained item a node gets. No processes, no build.
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { suite } from './helpers.ts';
import { commandParts, depfileOf, endsInCompiler, placementTool, planRun, runSpec, shellQuote, type RuleFacts, type RunCall } from '../src/bfile-action.ts';
import { remoteResult, rexecItem, RunFailure, type FarmEnv } from '../src/bfile-farm.ts';
import { runBase } from '../src/action-env.ts';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { tmp } from './helpers.ts';
import { actionKey } from '../src/action-key.ts';
import { shellWords } from '../src/rexec-client.ts';

const test = suite('bfile-action');

const D = (c: string): string => c.repeat(32);

function facts(root: string, over: Partial<RuleFacts> = {}): RuleFacts {
  return { root, kind: 'file', outs: ['obj/main.o'], needed: [{ key: 'src/main.c', digest: D('a') }], lastDeps: undefined, ...over };
}

const COMPILE = 'mkdir -p obj && cc -O2 -Iinclude -c src/main.c -o obj/main.o -MD -MF obj/main.o.d';
const files = (root: string, present: string[]): ((abs: string) => boolean) => (abs) => present.some((p) => path.resolve(root, p) === abs);
const noScan = (): string[] => [];

test('a compile: needed files are its inputs, its outputs and the -MF depfile are what it writes', () => {
  const root = '/w/a';
  const p = planRun({ shell: COMPILE, cwd: root }, facts(root), files(root, ['src/main.c', 'obj/main.o', 'obj/main.o.d']), noScan);
  assert.equal(p.inputs, ['src/main.c']);
  assert.equal(p.outputs, ['obj/main.o']);
  assert.is(p.depfile, 'obj/main.o.d');
  assert.equal(p.programs, ['mkdir', 'cc']);
  assert.is(p.local, undefined, 'it may run on a node');
  assert.is(p.uncacheable, undefined, 'it may be cached');
  assert.is(p.text, COMPILE);
});

test('files the command line names and the rule did not need are inputs too; its outputs never are', () => {
  const root = '/w/a';
  const p = planRun({ shell: 'strip -o out tmp/x.o && cat notes.txt >/dev/null', cwd: root }, facts(root, { outs: ['out'], needed: [] }),
    files(root, ['tmp/x.o', 'out']), noScan);
  assert.equal(p.inputs, ['tmp/x.o'], 'an existing file it names (an earlier command wrote it); notes.txt is absent');
  assert.is(p.uncacheable, undefined);
});

test('what a node gets: the key\'s inputs, the last trace\'s headers, or on a first build the include and source dirs', () => {
  const root = '/w/a';
  const withTrace = planRun({ shell: COMPILE, cwd: root }, facts(root, { lastDeps: ['src/main.c', 'include/greet.h', '/usr/include/stdio.h'] }), files(root, []), noScan);
  assert.equal(withTrace.transfer.sort(), ['/usr/include/stdio.h', 'include/greet.h', 'src/main.c']);
  let scanned: string[] = [];
  const first = planRun({ shell: COMPILE, cwd: root }, facts(root), files(root, []), (dirs) => {
    scanned = dirs;
    return ['/w/a/include/greet.h', '/w/a/src/greet.c'];
  });
  assert.equal(scanned, ['/w/a/include', '/w/a/src'], 'the compile part of the line (after mkdir &&) is found');
  assert.equal(first.transfer.sort(), ['include/greet.h', 'src/greet.c', 'src/main.c']);
  assert.equal(first.inputs, ['src/main.c'], 'the scan adds nothing to the key (headers are the cache entry\'s second level)');
});

test('outputs: opts.outputs and opts.depfile win; the rule\'s outputs count only when the command names them', () => {
  const root = '/w/a';
  const mk = planRun({ shell: 'mkdir -p obj', cwd: root }, facts(root), files(root, []), noScan);
  assert.match(mk.local ?? '', /does not name the rule's outputs/);
  assert.match(mk.uncacheable ?? '', /does not name the rule's outputs/);
  const given = planRun({ shell: 'make -s it', cwd: root, outputs: ['gen/x.h'], depfile: 'gen/x.d' }, facts(root), files(root, []), noScan);
  assert.equal(given.outputs, ['gen/x.h']);
  assert.is(given.depfile, 'gen/x.d');
  assert.is(given.local, undefined);
  const abs = planRun({ shell: `cc -c src/main.c -o ${root}/obj/main.o`, cwd: root }, facts(root), files(root, []), noScan);
  assert.is(abs.local, undefined, 'an absolute path names the output too');
  const prefix = planRun({ shell: 'cc -c src/main.c -o obj/main.obj', cwd: root }, facts(root), files(root, []), noScan);
  assert.match(prefix.local ?? '', /does not name/, 'obj/main.obj is another file than obj/main.o');
});

test('never cached, never remote: oracles, phony rules, options, outputs outside the root, no inputs', () => {
  const root = '/w/a';
  const f = files(root, []);
  const p = (call: Partial<RunCall>, over: Partial<RuleFacts> = {}) => planRun({ shell: COMPILE, cwd: root, ...call }, facts(root, over), f, noScan);
  assert.match(p({}, { kind: 'oracle' }).local ?? '', /oracle/);
  assert.match(p({}, { kind: 'oracle' }).uncacheable ?? '', /oracle/);
  assert.match(p({}, { kind: 'phony' }).uncacheable ?? '', /phony/);
  const noCache = p({ cache: false });
  assert.match(noCache.uncacheable ?? '', /cache: false/);
  assert.is(noCache.local, undefined, 'cache: false still runs anywhere');
  const here = p({ remote: false });
  assert.match(here.local ?? '', /remote: false/);
  assert.is(here.uncacheable, undefined, 'remote: false is still cached');
  assert.match(p({ outputs: ['../elsewhere.o'] }).local ?? '', /outside the build root/);
  assert.match(p({ outputs: ['../elsewhere.o'] }).uncacheable ?? '', /outside the build root/);
  assert.match(p({ cwd: '/tmp' }).local ?? '', /working directory is outside/);
  assert.match(p({ outputs: [] }).local ?? '', /declares no outputs/);
  assert.match(p({}, { needed: [] }).uncacheable ?? '', /no inputs/);
});

test('an argv is quoted for the node\'s shell and recorded as JSON', () => {
  const root = '/w/a';
  const argv = ['cc', '-DMSG=it\'s here', '-c', 'src/main.c', '-o', 'obj/main.o'];
  const p = planRun({ argv, cwd: root }, facts(root), files(root, []), noScan);
  assert.is(p.text, JSON.stringify(argv));
  assert.equal(shellWords(p.shell), argv, 'the quoted line splits back into the argv');
  assert.equal(p.programs, ['cc']);
  assert.is(shellQuote(['a b', "c'd", 'e']), `'a b' 'c'\\''d' e`);
});

test('helpers: command parts, -MF, the node\'s tool, -ffile-prefix-map only for a compiler last', () => {
  assert.equal(commandParts('mkdir -p o && cc -c "a && b.c" -o o/a.o; echo done || true'), ['mkdir -p o', 'cc -c "a && b.c" -o o/a.o', 'echo done', 'true']);
  assert.is(depfileOf(['cc', '-MD', '-MF', 'a.d']), 'a.d');
  assert.is(depfileOf(['cc', '-MFa.d']), 'a.d');
  assert.is(depfileOf(['cc', '-MD']), undefined);
  assert.is(placementTool(['mkdir', '/usr/bin/gcc-12']), '/usr/bin/gcc-12');
  assert.is(placementTool(['python3']), 'python3');
  assert.ok(endsInCompiler(COMPILE));
  assert.not.ok(endsInCompiler('cc -c a.c -o a.o && strip a.o'));
});

test('the key: the same compile in another directory has the same key; a flag, an input, the env or the tool change it', () => {
  const spec = (root: string, call: Partial<RunCall> = {}, over: Partial<RuleFacts> = {}, extra: { tool?: string; env?: Record<string, string> } = {}): string => {
    const c: RunCall = { shell: COMPILE, cwd: root, ...call };
    const f = facts(root, over);
    const plan = planRun(c, f, files(root, []), noScan);
    return actionKey(runSpec(plan, c, f, { platform: 'linux-x64', tool: extra.tool ?? 'cc:1', env: extra.env ?? {}, base: runBase(root, {}), digests: new Map(f.needed.map((n) => [n.key, n.digest])) }));
  };
  const k = spec('/w/a');
  assert.match(k, /^[0-9a-f]{32}$/);
  assert.is(spec('/home/me/elsewhere'), k, 'relative paths: another checkout hits');
  assert.is.not(spec('/w/a', { shell: COMPILE.replace('-O2', '-O3') }), k, 'a flag');
  assert.is.not(spec('/w/a', {}, { needed: [{ key: 'src/main.c', digest: D('b') }] }), k, 'an input\'s content');
  assert.is.not(spec('/w/a', { env: { CFLAGS_EXTRA: '1' } }), k, 'run()\'s env');
  assert.is.not(spec('/w/a', {}, {}, { env: { SOURCE_DATE_EPOCH: '1' } }), k, 'a declared variable');
  assert.is.not(spec('/w/a', {}, {}, { tool: 'cc:2' }), k, 'the compiler\'s fingerprint');
  assert.is.not(spec('/w/a', { outputs: ['obj/main.o', 'obj/extra'] }), k, 'the outputs');
  assert.is.not(spec('/w/a', { argv: shellWords(COMPILE.split('&& ')[1]!) }), spec('/w/a', { shell: COMPILE.split('&& ')[1]! }), 'an argv is not the shell line');
  assert.is(runBase('/w/a/sub', { B_CACHE_BASEDIR: '/w/a' }), '/w/a');
  assert.is(runBase('/w/a', { B_CACHE_BASEDIR: '/elsewhere' }), '/w/a', 'a base that does not hold the root is ignored');
});

test('the self-contained item: inputs as digests (system files stay), outputs with the depfile, stdout asked for', () => {
  const root = '/w/a';
  const call: RunCall = { shell: COMPILE, cwd: root, env: { X: '1' } };
  const f = facts(root, { lastDeps: ['src/main.c', 'include/greet.h', '/usr/include/stdio.h', 'gone.h'] });
  const plan = planRun(call, f, files(root, []), noScan);
  const offers: string[] = [];
  const env: FarmEnv = {
    digestOf: (abs) => (abs.endsWith('gone.h') ? undefined : { digest: Buffer.from(D(abs.endsWith('.h') ? '1' : '2'), 'hex').toString('latin1'), size: 10, exec: false }),
    offer: () => offers.push('x'),
  };
  const item = rexecItem(plan, call, f, env)!;
  assert.equal(item.work.inputs.map((i) => i.path).sort(), ['/w/a/include/greet.h', '/w/a/src/main.c']);
  assert.equal(item.work.outputs, ['/w/a/obj/main.o', '/w/a/obj/main.o.d']);
  assert.is(item.work.depfile, '/w/a/obj/main.o.d');
  assert.is(item.work.stdout, true);
  assert.equal(item.work.env, { X: '1' });
  assert.ok(item.work.prefixMap);
  assert.equal(item.work.roots, ['/w/a']);
  assert.equal([...item.offered.values()].sort(), ['/w/a/include/greet.h', '/w/a/src/main.c'], 'only its own inputs are offered');
  assert.equal(offers, [], 'offering is the caller\'s (when the item is placed)');
});

// A node is hostile: what it answers is checked before anything is written here.
test('a node\'s answer: a result "run in place" is refused, so are foreign dependencies, bytes that fail their digest and paths out of the root', async () => {
  const root = tmp('b-farm-unit-');
  fs.mkdirSync(path.join(root, 'obj'));
  const call: RunCall = { shell: COMPILE, cwd: root };
  const plan = planRun(call, facts(root), files(root, []), noScan);
  const bytes = Buffer.from('object code');
  const hex = createHash('sha256').update(bytes).digest('hex').slice(0, 32);
  const rexec = (over: object): Buffer => Buffer.from(JSON.stringify({ exit: 0, output: '', outputs: [{ path: path.join(root, 'obj/main.o'), digest: hex, size: bytes.length, mode: 0o644 }], deps: [], fetched: 0, ms: 1, stdout: '', ...over }));
  const honest = async (_h: string, _s: number, dest: string): Promise<void> => fs.writeFileSync(dest, bytes);
  const inPlace = await remoteResult(Buffer.from(JSON.stringify({ exit: 0, output: '', stdout: '', deps: [] })), plan, facts(root), [], honest);
  assert.ok(inPlace instanceof RunFailure && inPlace.failure.code === 'protocol', 'a node cannot claim it wrote our files');
  const ssh = await remoteResult(rexec({ deps: [path.join(process.env.HOME ?? '/root', '.ssh/id_rsa')] }), plan, facts(root), [], honest);
  assert.ok(ssh instanceof RunFailure && ssh.failure.code === 'remote.deps', 'a dependency outside the project is refused');
  const liar = await remoteResult(rexec({}), plan, facts(root), [], async (_h, _s, dest) => {
    fs.writeFileSync(dest, 'other bytes');
    throw new Error('digest mismatch'); // what the verified fetch (remote-output.ts) does
  });
  assert.ok(liar instanceof RunFailure && liar.failure.code === 'remote.fetch');
  assert.not.ok(fs.existsSync(path.join(root, 'obj/main.o')), 'nothing unverified is written at the output');
  assert.equal(fs.readdirSync(path.join(root, 'obj')), [], 'and no temp file is left');
  const ok = await remoteResult(rexec({}), plan, facts(root), [], honest);
  assert.not.ok(ok instanceof RunFailure);
  assert.ok(fs.readFileSync(path.join(root, 'obj/main.o')).equals(bytes));
  // A run() naming an output through a symlink out of the root: refused, nothing written there.
  const outside = tmp('b-farm-outside-');
  fs.symlinkSync(outside, path.join(root, 'link'));
  const viaLink = planRun({ shell: 'cc -c src/main.c -o link/x.o', cwd: root }, facts(root, { outs: ['link/x.o'] }), files(root, []), noScan);
  const esc = await remoteResult(Buffer.from(JSON.stringify({ exit: 0, output: '', outputs: [{ path: path.join(root, 'link/x.o'), digest: hex, size: bytes.length, mode: 0o644 }], deps: [], fetched: 0, ms: 1 })), viaLink, facts(root, { outs: ['link/x.o'] }), [], honest);
  assert.ok(esc instanceof RunFailure && esc.failure.code === 'remote.output', JSON.stringify(esc));
  assert.equal(fs.readdirSync(outside), []);
});

test.run();
