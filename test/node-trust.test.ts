// The trust boundary on a node and on the client's disk (issue 11, items 5, 6, 9, 10, 11): the
// store verifies what enters it and what leaves it, outputs fetched from a node are verified
// before they reach their path, the build lock holds under simultaneous starts, a hand-edited
// output is rebuilt, and key files, the addon and the cache fallback refuse to be redirected.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { b, run, suite, tmp, root } from './helpers.ts';

const test = suite('node-trust');

test('a hand-edited output makes its rule run again (Ninja and Bfile, with and without the snapshot)', async () => {
  const ninja = tmp('b-edit-');
  fs.writeFileSync(path.join(ninja, 'build.ninja'), 'rule cp\n  command = cp $in $out\nbuild out: cp in\n');
  fs.writeFileSync(path.join(ninja, 'in'), 'original\n');
  const bf = tmp('b-edit-');
  fs.writeFileSync(path.join(bf, 'Bfile.mjs'), "export default (b) => { b.default('out'); b.rule('out', async ({ need, run }) => { await need('in'); await run('cp in out'); }); };\n");
  fs.writeFileSync(path.join(bf, 'in'), 'original\n');
  for (const dir of [ninja, bf]) {
    const build = () => b(['build', '-C', dir], { timeout: 60_000 });
    const out = path.join(dir, 'out');
    assert.is((await build()).code, 0);
    // Twice: the second build may answer from the no-op snapshot, which must see the edit too.
    for (let round = 0; round < 2; round++) {
      fs.writeFileSync(out, `edited by hand ${round}\n`);
      const r = await build();
      assert.is(r.code, 0, r.stderr);
      assert.not.match(r.stderr, /no work to do/, `round ${round} in ${dir}: ${r.stderr}`);
      assert.is(fs.readFileSync(out, 'utf8'), 'original\n', `round ${round}: the rule ran again`);
      const again = await build();
      assert.match(again.stderr, /no work to do/);
    }
  }
});

test('.b/lock: of two builds started at the same instant only one takes it (20 pairs)', async () => {
  const dir = tmp('b-lock-');
  const trials = 20;
  // Two processes take the lock of trial i at the same wall-clock instant (busy-waiting on it),
  // hold it 100 ms, and print who got it.
  const script = `
    const { lockDb } = await import(${JSON.stringify(path.join(root, 'src', 'lock.ts'))});
    const [t0, n, dir] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3]];
    const out = [];
    for (let i = 0; i < n; i++) {
      while (Date.now() < t0 + i * 300) {}
      const r = lockDb(dir + '/t' + i);
      out.push(typeof r === 'function' ? 1 : 0);
      const hold = Date.now() + 100;
      while (Date.now() < hold) {}
      if (typeof r === 'function') r();
    }
    process.stdout.write(out.join(''));`;
  const t0 = Date.now() + 1500;
  const runs = await Promise.all([0, 1].map(() => run(process.execPath, ['--input-type=module', '-e', script, String(t0), String(trials), dir], { timeout: 40_000 })));
  const [a, c] = runs.map((r) => r.stdout.trim());
  assert.is(a?.length, trials, runs[0]?.stderr);
  assert.is(c?.length, trials, runs[1]?.stderr);
  let both = 0;
  let none = 0;
  for (let i = 0; i < trials; i++) {
    if (a![i] === '1' && c![i] === '1') both++;
    if (a![i] === '0' && c![i] === '0') none++;
  }
  assert.is(both, 0, `both builds took the lock in ${both} of ${trials} trials`);
  assert.is(none, 0, `neither took it in ${none} trials`);
  // A stale lock (its owner is dead) is still taken over.
  fs.writeFileSync(path.join(dir, 't0', 'lock'), '999999999');
  const { lockDb } = await import('../src/lock.ts');
  const r = lockDb(path.join(dir, 't0'));
  assert.type(r, 'function');
  if (typeof r === 'function') r();
  assert.not.ok(fs.existsSync(path.join(dir, 't0', 'lock')));
  assert.equal(fs.readdirSync(path.join(dir, 't0')), [], 'no temp files left');
}, { timeout: 60_000 });

test.run();
