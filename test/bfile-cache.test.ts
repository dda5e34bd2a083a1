// The action cache for Bfile run() commands (bfile-farm.ts), on this machine alone: hits across
// directories with identical outputs and the recorded stdout, misses for exactly the dependents of
// an edited header and for a changed flag, and what is never cached (a failed command, cache:
// false, a phony rule's command, a command with no known outputs).
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { run, suite, tmp, B } from './helpers.ts';
import { C_PROJECT, writeProject } from '../src/demo.ts';

const test = suite('bfile-cache');

interface Ev { event: string; key: string; cache?: string; node?: string; status?: string }

async function build(dir: string, cache: string, extra: string[] = [], env: Record<string, string> = {}): Promise<{ code: number | null; err: string; commands: Ev[] }> {
  const ev = path.join(path.dirname(dir), `${path.basename(dir)}.events`);
  const r = await run(B, ['build', '-C', dir, '--cache', '--events', ev, ...extra], { env: { ...process.env, B_CACHE_DIR: cache, ...env }, timeout: 60_000 });
  const events = fs.existsSync(ev) ? fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev) : [];
  fs.rmSync(ev, { force: true });
  return { code: r.code, err: r.stderr + r.stdout, commands: events.filter((e) => e.event === 'command') };
}

const byKey = (c: Ev[]): Record<string, string> => Object.fromEntries(c.map((e) => [e.key, e.cache ?? 'none']));
const cc = spawnSync('cc', ['--version']).status === 0;

if (!cc) test.skip('Bfile commands in the action cache', 'no C compiler (cc) here: the demo is a C program');
else {
  test('the demo in another directory: every command a hit, outputs identical, nothing ran; a header edit misses exactly its dependents', async () => {
    const top = tmp('b-bcache-');
    const cache = path.join(top, 'cache');
    const [a, c] = [path.join(top, 'a'), path.join(top, 'checkout-2')];
    writeProject(a, C_PROJECT);
    writeProject(c, C_PROJECT);
    const first = await build(a, cache);
    assert.is(first.code, 0, first.err);
    assert.equal(byKey(first.commands), { 'obj/main.o': 'miss', 'obj/greet.o': 'miss', 'obj/mathx.o': 'miss', hello: 'miss' });
    const second = await build(c, cache);
    assert.is(second.code, 0, second.err);
    assert.equal(byKey(second.commands), { 'obj/main.o': 'local', 'obj/greet.o': 'local', 'obj/mathx.o': 'local', hello: 'local' });
    assert.match(second.err, /action cache: 4 hits of 4 \(100%\)/);
    for (const f of ['hello', 'obj/main.o', 'obj/main.o.d', 'obj/greet.o', 'obj/mathx.o']) {
      assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(c, f))), `${f} identical`);
    }
    assert.match(spawnSync(path.join(c, 'hello'), { encoding: 'utf8' }).stdout, /triangle\(10\) = 55/);
    // mathx.h is included by main.c and mathx.c; an edit that changes code misses for them only.
    const h = path.join(c, 'include/mathx.h');
    fs.appendFileSync(h, 'static inline int b_cache_marker(void) { return 7; }\n#define TRIANGLE_OF_TEN 55\n');
    const edited = await build(c, cache);
    assert.is(edited.code, 0, edited.err);
    const k = byKey(edited.commands);
    assert.is(k['obj/greet.o'], undefined, 'greet.o does not include mathx.h: not even asked');
    assert.is(k['obj/main.o'], 'miss');
    assert.is(k['obj/mathx.o'], 'miss');
    // Back to the original header: hits again (the entry keeps a result per set of header digests).
    fs.writeFileSync(h, C_PROJECT['include/mathx.h']!);
    const back = await build(c, cache);
    assert.is(back.code, 0, back.err);
    // (The objects came out identical to before, so the link did not run: early cutoff.)
    assert.equal(byKey(back.commands), { 'obj/main.o': 'local', 'obj/mathx.o': 'local' });
  }, { timeout: 180_000 });

  test('a changed flag misses; stdout comes back from a hit; failed, cache:false, phony and unnamed-output commands are never cached', async () => {
    const top = tmp('b-bcache2-');
    const cache = path.join(top, 'cache');
    const bfile = (flag: string): string => `export default (b) => {
  b.default('out.txt', 'plain.txt', 'nocache.txt', 'two.txt');
  b.rule('out.txt', async ({ need, run, write, out }) => {
    await need('in.txt');
    const r = await run('tr a-z A-Z < in.txt | tee out.txt ${flag}');
    await write('stdout.txt', r.stdout);
  });
  b.rule('plain.txt', async ({ need, run }) => { await need('in.txt'); await run('cp in.txt plain.txt'); });
  b.rule('nocache.txt', async ({ need, run }) => { await need('in.txt'); await run('cp in.txt nocache.txt', { cache: false }); });
  b.rule('two.txt', async ({ need, run }) => { await need('in.txt'); await run('mkdir -p sub'); await run('cp in.txt two.txt'); });
  b.phony('check', async ({ need, run }) => { await need('out.txt'); await run('test -s out.txt'); });
  b.rule('fails.txt', async ({ need, run }) => { await need('in.txt'); await run('cp in.txt fails.txt && exit 3'); });
};
`;
    const mk = (name: string, flag = ''): string => {
      const d = path.join(top, name);
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, 'Bfile.mjs'), bfile(flag));
      fs.writeFileSync(path.join(d, 'in.txt'), 'hello cache\n');
      return d;
    };
    const one = mk('one');
    const r1 = await build(one, cache);
    assert.is(r1.code, 0, r1.err);
    const k1 = byKey(r1.commands);
    assert.is(k1['out.txt'], 'miss');
    assert.is(k1['plain.txt'], 'miss');
    assert.is(k1['nocache.txt'], 'none', 'cache: false');
    assert.equal(r1.commands.filter((e) => e.key === 'two.txt').map((e) => e.cache ?? 'none'), ['none', 'miss'], 'mkdir names no output of the rule: not cached');
    const two = mk('two');
    const r2 = await build(two, cache);
    assert.is(r2.code, 0, r2.err);
    assert.is(byKey(r2.commands)['out.txt'], 'local');
    assert.is(fs.readFileSync(path.join(two, 'stdout.txt'), 'utf8'), 'HELLO CACHE\n', 'run() resolved with the recorded stdout');
    assert.is(byKey(r2.commands)['nocache.txt'], 'none');
    const flagged = mk('three', '>/dev/null');
    const r3 = await build(flagged, cache);
    assert.is(r3.code, 0, r3.err);
    assert.is(byKey(r3.commands)['out.txt'], 'miss', 'another command line is another action');
    const phony = await build(two, cache, ['check']);
    assert.is(phony.code, 0, phony.err);
    assert.equal(phony.commands.map((e) => e.cache ?? 'none'), ['none'], 'a phony rule\'s command is never cached');
    for (let i = 0; i < 2; i++) {
      const f = await build(two, cache, ['fails.txt']);
      assert.is(f.code, 1, f.err);
      assert.match(f.err, /command failed \(exit code 3\)/);
      assert.equal(f.commands.map((e) => e.cache ?? 'none'), ['none'], 'a failed command is not recorded, so it runs again');
    }
  }, { timeout: 120_000 });
}

test.run();
