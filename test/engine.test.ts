// The build engine end to end: real `b build` runs on Bfiles in temp dirs, asserting (like
// Shake's tests) exactly which rules ran, from the --events stream.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { B, b, exited, start, suite, tmp } from './helpers.ts';

const test = suite('engine');

interface Ev {
  event: string;
  key: string;
  status?: string;
  ran?: boolean;
  node?: string;
  ms?: number;
}

function project(files: Record<string, string>): string {
  const dir = tmp('b-engine-');
  for (const [name, text] of Object.entries(files)) {
    const f = path.join(dir, name);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text);
  }
  return dir;
}

async function build(dir: string, args: string[] = [], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string; events: Ev[]; ran: string[] }> {
  const ev = path.join(dir, '..', `${path.basename(dir)}.events`);
  const r = await b(['build', '-C', dir, '--events', ev, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
  const events = fs.existsSync(ev) ? fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev) : [];
  fs.rmSync(ev, { force: true });
  const ran = events.filter((e) => e.event === 'finish' && e.ran).map((e) => e.key).sort();
  return { ...r, events, ran };
}

const CHAIN = `
import type { B } from 'b';
export default (b: B) => {
  b.default('final.txt');
  b.rule('out/%.up', async ({ stem, out, need, run }) => {
    await need(\`src/\${stem}.txt\`);
    await run(\`mkdir -p out && tr a-z A-Z < src/\${stem}.txt > \${out}\`);
  });
  b.rule('all.txt', async ({ need, run }) => {
    await need('out/a.up', 'out/b.up');
    await run('cat out/a.up out/b.up > all.txt');
  });
  // Early cutoff: only the first line of all.txt matters downstream.
  b.rule('first.txt', async ({ need, run }) => {
    await need('all.txt');
    await run('head -n 1 all.txt > first.txt');
  });
  b.rule('final.txt', async ({ read, write, out }) => {
    await write(out, '[' + (await read('first.txt')).trim() + ']\\n');
  });
};
`;

function chain(): string {
  return project({ 'Bfile.ts': CHAIN, 'src/a.txt': 'alpha\n', 'src/b.txt': 'beta\nsecond\n' });
}

test('first build runs every rule; a second build runs none', async () => {
  const dir = chain();
  const first = await build(dir);
  assert.is(first.code, 0, first.stderr);
  assert.equal(first.ran, ['all.txt', 'final.txt', 'first.txt', 'out/a.up', 'out/b.up']);
  assert.is(fs.readFileSync(path.join(dir, 'final.txt'), 'utf8'), '[ALPHA]\n');
  const second = await build(dir);
  assert.is(second.code, 0, second.stderr);
  assert.equal(second.ran, []);
  assert.match(second.stderr, /no work to do/);
  // Every rule considered is reported, with where it ran.
  const considered = second.events.filter((e) => e.event === 'finish');
  assert.is(considered.length, 5);
  for (const e of considered) assert.equal([e.status, e.ran, e.node], ['ok', false, 'local']);
  for (const e of first.events.filter((x) => x.event === 'finish')) {
    assert.is(e.node, 'local');
    assert.type(e.ms, 'number');
  }
});

test('changing one input reruns exactly its dependents; early cutoff stops at an unchanged output', async () => {
  const dir = chain();
  assert.is((await build(dir)).code, 0);
  fs.writeFileSync(path.join(dir, 'src/b.txt'), 'beta\nchanged\n');
  const r = await build(dir);
  assert.is(r.code, 0, r.stderr);
  // first.txt reruns (all.txt changed) but writes the same line: final.txt does not run.
  assert.equal(r.ran, ['all.txt', 'first.txt', 'out/b.up']);
  fs.writeFileSync(path.join(dir, 'src/a.txt'), 'omega\n');
  const r2 = await build(dir);
  assert.equal(r2.ran, ['all.txt', 'final.txt', 'first.txt', 'out/a.up']);
  assert.is(fs.readFileSync(path.join(dir, 'final.txt'), 'utf8'), '[OMEGA]\n');
});

test('touching a file without changing it rebuilds nothing, and a no-op build reads no file contents', async () => {
  const dir = chain();
  assert.is((await build(dir)).code, 0);
  await new Promise((r) => setTimeout(r, 2100)); // past the racy window
  assert.equal((await build(dir)).ran, []);
  const t = new Date(Date.now() - 10_000);
  fs.utimesSync(path.join(dir, 'src/a.txt'), t, t);
  const touched = await build(dir, ['--verbose']);
  assert.equal(touched.ran, []);
  const noop = await build(dir, ['--verbose']);
  assert.equal(noop.ran, []);
  assert.match(noop.stderr, /hashed 0 files/);
});

test('editing a rule reruns that rule only; editing the Bfile elsewhere reruns nothing', async () => {
  const dir = chain();
  assert.is((await build(dir)).code, 0);
  const bfile = path.join(dir, 'Bfile.ts');
  fs.writeFileSync(bfile, fs.readFileSync(bfile, 'utf8').replace("'head -n 1 all.txt > first.txt'", "'head -n 2 all.txt | tail -n 1 > first.txt'"));
  const r = await build(dir, ['--explain']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.ran, ['final.txt', 'first.txt']);
  assert.match(r.stderr, /explain: first\.txt: .*changed/);
  fs.writeFileSync(bfile, `// a comment\n${fs.readFileSync(bfile, 'utf8')}`);
  assert.equal((await build(dir)).ran, []);
});

test('the environment a rule reads is a dependency', async () => {
  const dir = project({
    'Bfile.ts': `import type { B } from 'b';
export default (b: B) => {
  b.rule('greet.txt', async ({ env, write, out }) => { await write(out, ((await env('GREETING')) ?? 'none') + '\\n'); });
  b.rule('other.txt', async ({ write, out }) => { await write(out, 'x\\n'); });
  b.default('greet.txt', 'other.txt');
};`,
  });
  assert.equal((await build(dir, [], { GREETING: 'hi' })).ran, ['greet.txt', 'other.txt']);
  assert.equal((await build(dir, [], { GREETING: 'hi' })).ran, []);
  assert.equal((await build(dir, [], { GREETING: 'hello' })).ran, ['greet.txt']);
  assert.is(fs.readFileSync(path.join(dir, 'greet.txt'), 'utf8'), 'hello\n');
});

test('a question asked by many rules at once runs once', async () => {
  const dir = project({
    'Bfile.ts': `import type { B } from 'b';
export default (b: B) => {
  b.rule('shared.txt', async ({ run }) => { await run('sleep 0.3; echo run >> runs.log; echo shared > shared.txt'); });
  b.rule('%.use', async ({ need, run, out }) => { await need('shared.txt'); await run(\`cp shared.txt \${out}\`); });
  b.default(['1', '2', '3', '4', '5', '6'].map((n) => n + '.use'));
};`,
  });
  const r = await build(dir, ['-j', '6']);
  assert.is(r.code, 0, r.stderr);
  assert.is(fs.readFileSync(path.join(dir, 'runs.log'), 'utf8'), 'run\n');
  assert.is(r.ran.length, 7);
});

test('a cycle is reported with its whole chain, never a hang', async () => {
  const dir = project({
    'Bfile.ts': `import type { B } from 'b';
export default (b: B) => {
  b.rule('a', async ({ need }) => { await need('b'); });
  b.rule('b', async ({ need }) => { await need('c'); });
  b.rule('c', async ({ need }) => { await need('a'); });
};`,
  });
  for (const j of ['1', '4']) {
    const r = await build(dir, ['-j', j, 'a']);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /dependency cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)/);
  }
});

test('a missing source names the file and who needed it', async () => {
  const dir = project({
    'Bfile.ts': `import type { B } from 'b';
export default (b: B) => { b.rule('out.txt', async ({ need, run }) => { await need('nope.c'); await run('true'); }); };`,
  });
  const r = await build(dir);
  assert.is(r.code, 1);
  assert.match(r.stderr, /'nope\.c', needed by 'out\.txt', missing and no known rule to make it/);
});

test('a free worker takes the newest work first: a rule\'s needs run before its siblings start (depth first)', async () => {
  // Breadth first, every a_i would start (and wait, holding memory) before any b_i ran; a wide
  // build held all its rules suspended at once that way (100k rules: 1.96 GB).
  const dir = project({
    'Bfile.ts': `import type { B } from 'b';
import * as fs from 'node:fs';
export default (b: B) => {
  b.default('all');
  b.rule('all', async ({ need, write }) => { await need(['a1', 'a2', 'a3', 'a4', 'a5', 'a6']); await write('all', ''); });
  b.rule('a%', async ({ stem, need, write, dir }) => {
    fs.appendFileSync(dir + '/order', 'start a' + stem + '\\n');
    await need('b' + stem);
    fs.appendFileSync(dir + '/order', 'end a' + stem + '\\n');
    await write('a' + stem, '');
  });
  b.rule('b%', async ({ stem, write }) => { await write('b' + stem, ''); });
};`,
  });
  const r = await build(dir, ['-j', '1']);
  assert.is(r.code, 0, r.stderr);
  let open = 0;
  let most = 0;
  for (const line of fs.readFileSync(path.join(dir, 'order'), 'utf8').split('\n').filter(Boolean)) {
    open += line.startsWith('start') ? 1 : -1;
    most = Math.max(most, open);
  }
  // A suspended rule's slot is handed on as its SUSPEND arrives, which can be just before its
  // need reaches the queue: so a sibling or two more (timing), never all six.
  assert.ok(most <= 3, `${most} of the a_i were started and waiting at once`);
});

test('a missing await is a clear error, never a hang or a lost task', async () => {
  const dir = project({
    'in.txt': 'hi',
    'Bfile.ts': `import type { B } from 'b';
export default (b: B) => {
  // @ts-ignore: the mistake under test
  b.rule('a.txt', async ({ read, write }) => { await write('a.txt', read('in.txt')); });
  b.rule('b.txt', async ({ need, write }) => { need('in.txt'); await write('b.txt', 'x'); });
  b.rule('c.txt', async ({ need, read, write }) => { await need('in.txt'); await write('c.txt', await read('in.txt')); });
};`,
  });
  const a = await build(dir, ['a.txt']);
  assert.is(a.code, 1, a.stderr);
  assert.match(a.stderr, /Bfile\.ts:4:\d+: write\("a\.txt", …\) was given a Promise, not a string/);
  assert.match(a.stderr, /hint: await the value first/);
  const bb = await build(dir, ['b.txt']);
  assert.is(bb.code, 1, bb.stderr);
  assert.match(bb.stderr, /rule b\.txt returned while 1 need\/read\/ask call was still running/);
  for (const r of [a, bb]) assert.not.match(r.stderr, /finished while suspended|is gone/);
  const c = await build(dir, ['c.txt']);
  assert.is(c.code, 0, c.stderr);
  assert.is(fs.readFileSync(path.join(dir, 'c.txt'), 'utf8'), 'hi');
});

test('a failing rule: exit 1, shown with its output; retried next time; -k 0 keeps going', async () => {
  const dir = project({
    'Bfile.ts': `import type { B } from 'b';
export default (b: B) => {
  b.rule('bad.txt', async ({ run }) => { await run('echo compiler says no; test -f fixed'); await run('touch bad.txt'); });
  b.rule('good1.txt', async ({ run }) => { await run('sleep 0.2; touch good1.txt'); });
  b.rule('good2.txt', async ({ run }) => { await run('sleep 0.4; touch good2.txt'); });
  b.rule('all', async ({ need, run }) => { await need('bad.txt', 'good1.txt', 'good2.txt'); await run('touch all'); });
  b.default('all');
};`,
  });
  const r = await build(dir, ['-j', '1', '-k', '0']);
  assert.is(r.code, 1);
  assert.match(r.stdout, /FAILED: bad\.txt/);
  assert.match(r.stdout, /compiler says no/);
  assert.match(r.stderr, /Bfile\.ts:3:\d+: command failed \(exit code 1\)/);
  assert.ok(fs.existsSync(path.join(dir, 'good1.txt')) && fs.existsSync(path.join(dir, 'good2.txt')), '-k 0 runs the independent rules');
  assert.not.ok(fs.existsSync(path.join(dir, 'all')));
  const again = await build(dir);
  assert.is(again.code, 1);
  assert.equal(again.ran, ['bad.txt'], 'the failed rule is retried, the good ones are not');
  fs.writeFileSync(path.join(dir, 'fixed'), '');
  const fixed = await build(dir);
  assert.is(fixed.code, 0, fixed.stderr);
  assert.equal(fixed.ran, ['all', 'bad.txt']);
});

test('a Bfile error is exit 2 with file:line', async () => {
  const dir = project({ 'Bfile.ts': `import type { B } from 'b';\nexport default (b: B) => {\n  b.rule('x', 42 as never);\n};\n` });
  const r = await build(dir);
  assert.is(r.code, 2);
  assert.match(r.stderr, /body must be a function/);
  const syn = project({ 'Bfile.ts': 'export default (b) => {\n  b.rule("x", async () => {\n};\n' });
  const s = await build(syn);
  assert.is(s.code, 2);
  assert.match(s.stderr, /Bfile\.ts:\d+/);
  const none = project({ 'readme': 'x' });
  const n = await build(none);
  assert.is(n.code, 2);
  assert.match(n.stderr, /no Bfile\.ts, Bfile\.js, Bfile\.mjs or build\.ninja/);
});

test('a database from another platform or format is rebuilt with a message', async () => {
  const dir = chain();
  assert.is((await build(dir)).code, 0);
  const db = path.join(dir, '.b', 'db');
  const text = fs.readFileSync(db);
  const mine = `${process.platform}-${process.arch}`;
  const other = 'x'.repeat(mine.length);
  const patched = Buffer.from(text.toString('latin1').replace(`"platform":"${mine}"`, `"platform":"${other}"`), 'latin1');
  // Keep the header's checksum valid (same length, new CRC).
  const len = patched.readUInt32LE(4);
  const { crc32 } = await import('../src/hash.ts');
  patched.writeUInt32LE(crc32(patched, 8, 8 + len), 8 + len);
  fs.writeFileSync(db, patched);
  const r = await build(dir);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`was discarded: it was written on ${other}`));
  assert.is(r.ran.length, 5);
});

test('dead files: reported by b build after a rule goes away, removed by b clean --dead', async () => {
  const bfile = (rules: string[]): string => `import type { B } from 'b';
export default (b: B) => {
  b.default(${JSON.stringify(rules)});
${rules.map((r) => `  b.rule('${r}', async ({ write, out }) => { await write(out, '${r}\\n'); });`).join('\n')}
};`;
  const dir = project({ 'Bfile.ts': bfile(['keep.txt', 'gone.txt']) });
  assert.is((await build(dir)).code, 0);
  assert.ok(fs.existsSync(path.join(dir, 'gone.txt')));
  fs.writeFileSync(path.join(dir, 'Bfile.ts'), bfile(['keep.txt']));
  const r = await build(dir);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /1 file from earlier builds that the build no longer produces: gone\.txt/);
  const c = await b(['clean', '--dead', '-C', dir]);
  assert.is(c.code, 0, c.stderr);
  assert.match(c.stdout, /removed gone\.txt/);
  assert.not.ok(fs.existsSync(path.join(dir, 'gone.txt')));
  assert.ok(fs.existsSync(path.join(dir, 'keep.txt')));
  const again = await build(dir);
  assert.not.match(again.stderr, /no longer produces/);
  assert.equal(again.ran, []);
  const all = await b(['clean', '-C', dir]);
  assert.is(all.code, 0);
  assert.not.ok(fs.existsSync(path.join(dir, 'keep.txt')));
  assert.equal((await build(dir)).ran, ['keep.txt']);
});

test('SIGKILL at any moment, then build again: a correct build', async () => {
  const dir = project({
    'Bfile.ts': `import type { B } from 'b';
const n = Array.from({ length: 12 }, (_, i) => 'o' + i + '.txt');
export default (b: B) => {
  b.rule('o%.txt', async ({ stem, out, run }) => { await run(\`sleep 0.05; seq 1 2000 > \${out}.tmp; echo \${stem} >> \${out}.tmp; mv \${out}.tmp \${out}\`); });
  b.rule('sum.txt', async ({ need, run }) => { await need(n); await run('cat ' + n.join(' ') + ' | wc -l > sum.txt'); });
  b.default('sum.txt');
};`,
  });
  for (const delay of [50, 150, 300, 450, 700]) {
    fs.rmSync(path.join(dir, 'o3.txt'), { force: true });
    const c = start(B, ['build', '-C', dir, '-j', '2']);
    await new Promise((r) => setTimeout(r, delay));
    try {
      process.kill(c.pid!, 'SIGKILL');
    } catch {
      // it finished before the kill: fine, the next build must then be a no-op
    }
    await exited(c);
    const r = await build(dir, ['-j', '2']);
    assert.is(r.code, 0, r.stderr);
    assert.is(fs.readFileSync(path.join(dir, 'sum.txt'), 'utf8').trim(), String(12 * 2001));
    const again = await build(dir);
    assert.equal(again.ran, [], `after kill at ${delay} ms the rebuild is complete`);
  }
}, { timeout: 120_000 });

test.run();
