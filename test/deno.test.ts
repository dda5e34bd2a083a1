// B under Deno (npm package `deno`): the sources and the bundle run directly, --version and a
// real local build of a Bfile project. Under Deno zeromq.js cannot wait for sockets natively
// (Deno's libuv emulation; see the README), and src/zmq.ts polls instead: these tests are what
// proves that path.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { root, run, suite, tmp } from './helpers.ts';
import { TEXT_PROJECT, writeProject } from '../src/demo.ts';

const test = suite('deno');
const deno = path.join(root, 'node_modules', '.bin', 'deno');
const env = { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' };

test('deno runs the sources and the bundle: --version', async () => {
  for (const entry of ['src/main.ts', 'dist/b.cjs']) {
    const r = await run(deno, ['run', '-A', path.join(root, entry), '--version'], { env, timeout: 60_000 });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /^b\/\d+\.\d+\.\d+ .*deno/);
  }
}, { timeout: 120_000 });

test('deno: a real local build of a Bfile project, then a no-op build', async () => {
  for (const entry of ['src/main.ts', 'dist/b.cjs']) {
    const dir = tmp('b-deno-');
    writeProject(dir, TEXT_PROJECT);
    const b = (args: string[]): ReturnType<typeof run> => run(deno, ['run', '-A', path.join(root, entry), ...args], { env, timeout: 90_000 });
    const first = await b(['build', '-C', dir, '-j', '2']);
    assert.is(first.code, 0, `${entry}: ${first.stderr}`);
    assert.match(first.stderr, /ran 4 rules/);
    assert.is(fs.readFileSync(path.join(dir, 'book.txt'), 'utf8'), 'IT WAS A DARK AND STORMY NIGHT.\nTHE BUILD FINISHED IN NO TIME.\nAND NOTHING RAN TWICE.\n');
    const second = await b(['build', '-C', dir]);
    assert.is(second.code, 0, second.stderr);
    assert.match(second.stderr, /no work to do/);
    fs.appendFileSync(path.join(dir, 'chapters/two.txt'), 'edited.\n');
    const third = await b(['build', '-C', dir]);
    assert.is(third.code, 0, third.stderr);
    assert.match(third.stderr, /ran 2 rules/);
  }
}, { timeout: 240_000 });

test('deno: recursive work through broker and workers', async () => {
  const r = await run(deno, ['run', '-A', path.join(root, 'src/main.ts'), 'debug', 'fib', '12', '--workers', '2'], { env, timeout: 90_000 });
  assert.is(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim()), { n: 12, fib: 144, workers: 2 });
}, { timeout: 120_000 });

test.run();
