// The stripped-TypeScript cache (src/ts-cache.ts): a thread that imports a Bfile.ts someone
// already stripped reads the result instead of starting Node's stripper (~60 ms per isolate).
// Each case runs in a fresh Node process (the hook is process-wide), from the sources, with a
// private B_CACHE_DIR, and says what its hook did.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { b, root, run, suite, tmp } from './helpers.ts';

const test = suite('ts-cache');

const PROBE = `import { installTsCache, tsCacheStats } from ${JSON.stringify(pathToFileURL(path.join(root, 'src', 'ts-cache.ts')).href)};
installTsCache();
let value, error;
try {
  const m = await import(process.argv[2]);
  value = typeof m.default === 'function' ? m.default() : m.default;
} catch (e) {
  error = String(e.stack);
}
process.stdout.write(JSON.stringify({ stats: tsCacheStats, value, error }));
`;

interface Probe {
  stats: { hits: number; misses: number };
  value?: unknown;
  error?: string;
}

async function probe(cache: string, file: string): Promise<Probe> {
  const script = path.join(path.dirname(file), 'probe.mjs');
  fs.writeFileSync(script, PROBE);
  const r = await run(process.execPath, [script, pathToFileURL(file).href], { env: { ...process.env, B_CACHE_DIR: cache }, timeout: 30_000 });
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Probe;
}

test('a .ts module is stripped once, then read from the cache; an edit is stripped again', async () => {
  const dir = tmp();
  const cache = tmp();
  const mod = path.join(dir, 'mod.ts');
  fs.writeFileSync(mod, 'interface N { n: number }\nconst x: N = { n: 41 };\nexport default (): number => x.n + 1;\n');
  const first = await probe(cache, mod);
  assert.equal(first, { stats: { hits: 0, misses: 1 }, value: 42 });
  assert.is(fs.readdirSync(path.join(cache, 'ts')).filter((n) => n.endsWith('.js')).length, 1, 'one entry');
  assert.is((fs.statSync(path.join(cache, 'ts')).mode & 0o077), 0, 'the cache is private');
  const second = await probe(cache, mod);
  assert.equal(second, { stats: { hits: 1, misses: 0 }, value: 42 });
  fs.writeFileSync(mod, 'const x: number = 7;\nexport default (): number => x;\n');
  const edited = await probe(cache, mod);
  assert.equal(edited, { stats: { hits: 0, misses: 1 }, value: 7 });
}, { timeout: 60_000 });

test('an error\'s line is the source\'s, from a miss and from a hit alike', async () => {
  const dir = tmp();
  const cache = tmp();
  const mod = path.join(dir, 'bad.ts');
  fs.writeFileSync(mod, 'type T = {\n  a: string;\n};\nconst t: T = { a: "x" };\nexport default (): never => { throw new Error("boom " + t.a); };\n');
  for (const want of [{ hits: 0, misses: 1 }, { hits: 1, misses: 0 }]) {
    const p = await probe(cache, mod);
    assert.equal(p.stats, want);
    assert.match(p.error ?? '', /boom x/);
    assert.match(p.error ?? '', /bad\.ts:5:\d+/);
  }
}, { timeout: 60_000 });

test('what Node takes for CommonJS TypeScript is left to Node, and a package\'s "type" is part of the key', async () => {
  const dir = tmp();
  const cache = tmp();
  fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"commonjs"}');
  const cjs = path.join(dir, 'c.ts');
  fs.writeFileSync(cjs, 'const v: number = 7;\nmodule.exports = { v };\n');
  for (let i = 0; i < 2; i++) {
    const p = await probe(cache, cjs);
    assert.equal(p.stats, { hits: 0, misses: 1 }, 'never cached');
    assert.equal(p.value, { v: 7 });
  }
  const esm = path.join(dir, 'e.ts');
  fs.writeFileSync(esm, 'const v: number = 8;\nexport default v;\n');
  fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}');
  assert.equal(await probe(cache, esm), { stats: { hits: 0, misses: 1 }, value: 8 });
  assert.equal(await probe(cache, esm), { stats: { hits: 1, misses: 0 }, value: 8 });
  fs.writeFileSync(path.join(dir, 'package.json'), '{}');
  assert.equal(await probe(cache, esm), { stats: { hits: 0, misses: 1 }, value: 8 }, 'another package type: another key');
}, { timeout: 60_000 });

test('the executable: a Bfile build fills the cache, a rebuild reads it, an edited Bfile takes effect', async () => {
  const dir = tmp();
  const cache = tmp();
  fs.writeFileSync(path.join(dir, 'Bfile.ts'), `export default (b: any) => {
  b.default('out.txt');
  b.rule('out.txt', async ({ run }: { run: (c: string) => Promise<unknown> }) => { await run('echo one > out.txt'); });
};
`);
  const env = { ...process.env, B_CACHE_DIR: cache, B_NODES: '' };
  const r1 = await b(['build', '-C', dir], { env, timeout: 60_000 });
  assert.is(r1.code, 0, r1.stdout + r1.stderr);
  assert.is(fs.readFileSync(path.join(dir, 'out.txt'), 'utf8'), 'one\n');
  const entries = fs.readdirSync(path.join(cache, 'ts')).filter((n) => n.endsWith('.js'));
  assert.is(entries.length, 1, 'the Bfile, stripped once');
  fs.writeFileSync(path.join(dir, 'Bfile.ts'), fs.readFileSync(path.join(dir, 'Bfile.ts'), 'utf8').replace('echo one', 'echo two'));
  const r2 = await b(['build', '-C', dir], { env, timeout: 60_000 });
  assert.is(r2.code, 0, r2.stdout + r2.stderr);
  assert.is(fs.readFileSync(path.join(dir, 'out.txt'), 'utf8'), 'two\n', 'the edited Bfile ran');
  assert.is(fs.readdirSync(path.join(cache, 'ts')).filter((n) => n.endsWith('.js')).length, 2);
}, { timeout: 120_000 });

test.run();
