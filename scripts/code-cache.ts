// V8's code cache for the single executable's bundle, made after B has run (src/sea-main.ts says
// why: Node's own SEA cache is made before anything runs, so it holds only the top level).
//
// The bundle runs under this host's Node (the very binary the executable embeds, so V8 and its
// flags are the same) through a small trainer that compiles it exactly as sea-main.ts does and
// writes `createCachedData()` when the process exits. Each command starts from the previous one's
// cache, so the last cache holds every function any of them compiled. The commands are what
// users run all day: --version, a Ninja build, its no-op, an edit-rebuild and a dry run. A
// command that fails fails the build: it means the bundle cannot do it either.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WRAP_HEAD, WRAP_TAIL } from '../src/sea-assets.ts';

/** The trainer: sea-main.ts's compile, plus the write at exit and a `node:sea` that serves the addon. */
function trainerSource(): string {
  return `'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const cfg = JSON.parse(fs.readFileSync(path.join(__dirname, 'trainer.json'), 'utf8'));
const sea = {
  isSea: () => true,
  getAsset(key, encoding) {
    if (key !== cfg.addonAsset) throw new Error('no asset ' + key + ' in training');
    const b = fs.readFileSync(cfg.addon);
    const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
    return encoding === undefined ? ab : new TextDecoder(encoding).decode(ab);
  },
};
const req = Object.assign((id) => (id === 'node:sea' ? sea : require(id)), require);
const source = ${JSON.stringify(WRAP_HEAD)} + fs.readFileSync(cfg.bundle, 'utf8') + ${JSON.stringify(WRAP_TAIL)};
let cachedData;
try { cachedData = fs.readFileSync(cfg.cacheIn); } catch {}
const script = new vm.Script(source, { filename: 'b.js', cachedData, importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
if (cachedData !== undefined && script.cachedDataRejected) {
  fs.writeSync(2, 'b code cache: V8 rejected the previous step\\'s cache\\n');
  process.exit(99);
}
// The spawn helper may be this script again (spawner.ts); only B itself writes.
if (process.env.B_SPAWNER !== '1' && cfg.cacheOut) process.on('exit', () => fs.writeFileSync(cfg.cacheOut, script.createCachedData()));
// Threads (threads.ts) start from the thread cache so far and write theirs at exit.
if (cfg.threadCacheIn) {
  const tc = new Uint8Array(fs.readFileSync(cfg.threadCacheIn));
  globalThis.__bThreadCache = () => tc;
  globalThis.__bThreadTrainOut = cfg.threadCacheOut;
}
const mod = { exports: {} };
script.runInThisContext()(mod.exports, req, mod, __filename, __dirname);
`;
}

/**
 * The thread bundle's cache as compiling alone makes it (the top level, which every thread
 * otherwise parses at its start): where trainCodeCache's Bfile builds begin. Made by a child
 * Node with no NODE_OPTIONS, as the executable's threads start.
 */
export function threadCodeCache(threadSource: string, tmp: string): Buffer {
  const dir = fs.mkdtempSync(path.join(tmp, 'thread-cache-'));
  try {
    fs.writeFileSync(path.join(dir, 'thread.js'), threadSource);
    const script = `const fs = require('node:fs'), vm = require('node:vm');
const s = new vm.Script(${JSON.stringify(WRAP_HEAD)} + fs.readFileSync(process.argv[1], 'utf8') + ${JSON.stringify(WRAP_TAIL)}, { filename: 'b-thread.js' });
fs.writeFileSync(process.argv[2], s.createCachedData());`;
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_OPTIONS;
    const out = path.join(dir, 'thread.cache');
    const r = spawnSync(process.execPath, ['-e', script, path.join(dir, 'thread.js'), out], { env, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0 || !fs.existsSync(out)) throw new Error(`thread code cache failed (exit ${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A small Ninja project: compiles with depfiles, a link, a phony alias (all `sh` commands). */
function writeNinjaProject(dir: string): void {
  fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
  const lines = [
    'rule cc',
    '  command = printf "%s: %s\\n" $out $in > $out.d && cat $in > $out',
    '  depfile = $out.d',
    '  deps = gcc',
    '  description = CC $out',
    'rule link',
    '  command = cat $in > $out',
    '  description = LINK $out',
  ];
  const objs: string[] = [];
  for (let i = 0; i < 12; i++) {
    fs.writeFileSync(path.join(dir, 'src', `f${i}.c`), `int f${i};\n`);
    lines.push(`build obj/f${i}.o: cc src/f${i}.c`);
    objs.push(`obj/f${i}.o`);
  }
  lines.push(`build app: link ${objs.join(' ')}`, 'build all: phony app', 'default all', '');
  fs.writeFileSync(path.join(dir, 'build.ninja'), lines.join('\n'));
}

/** A small Bfile project: rules with need, run() and a dependency chain (all `sh` commands). */
function writeBfileProject(dir: string): void {
  fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
  for (const n of ['a', 'b', 'c']) fs.writeFileSync(path.join(dir, 'src', `${n}.c`), `int ${n};\n`);
  fs.writeFileSync(path.join(dir, 'Bfile.ts'), `const objs: string[] = ['a', 'b', 'c'].map((n) => \`obj/\${n}.o\`);
export default (b: any) => {
  b.default('all.txt');
  b.rule('all.txt', async ({ need, run, out }: any) => {
    await need(objs);
    const r = await run(\`cat \${objs.join(' ')} > \${out} && echo linked\`);
    if (!r.stdout.includes('linked')) throw new Error('no stdout');
  });
  b.rule('obj/%.o', async ({ stem, out, need, run }: any) => {
    await need(\`src/\${stem}.c\`);
    await run(\`mkdir -p obj && cat src/\${stem}.c > \${out}\`);
  });
};
`);
}

/**
 * Trains the caches for `bundle` (the text the executable carries) in `tmp`, with `addon` as the
 * zeromq addon for a command that loads zeromq, and the thread bundle's from `threadCold` (its
 * compile-only cache). Returns both caches' bytes.
 */
export function trainCodeCache(bundle: string, threadCold: Buffer, addon: string, addonAsset: string, tmp: string, log: (s: string) => void): { main: Buffer; thread: Buffer } {
  const dir = fs.mkdtempSync(path.join(tmp, 'code-cache-'));
  const bundleFile = path.join(dir, 'b.js');
  fs.writeFileSync(bundleFile, bundle);
  fs.writeFileSync(path.join(dir, 'trainer.cjs'), trainerSource());
  const ninjaDir = path.join(dir, 'ninja');
  writeNinjaProject(ninjaDir);
  const bfDir = path.join(dir, 'bfile');
  writeBfileProject(bfDir);
  const touch = (f: string): void => fs.appendFileSync(f, 'int g;\n');
  // The main bundle's cache: the Ninja commands. Not a Bfile build's main thread: with the demo
  // in it the cache grew from 531 to 1,151 kB, which every start deserializes (`b --version`
  // 43.6 vs 45.7 ms, medians of 15), and the demo's no-op and edit measured the same (75.6 vs
  // 80.0 ms, 768 vs 763 ms). The thread bundle's: Bfile builds, whose broker and workers write
  // theirs at exit; each build starts from the last one kept, taken from the broker and from a
  // worker in turn, so the last holds what both compiled.
  const steps: { args: string[]; before?: () => void; thread?: 'broker' | 'worker' }[] = [
    { args: ['--version'] },
    { args: ['ninja', '-C', ninjaDir, '-j2'] },
    { args: ['ninja', '-C', ninjaDir, '-j2'] },
    { args: ['ninja', '-C', ninjaDir, '-j2'], before: () => touch(path.join(ninjaDir, 'src', 'f3.c')) },
    { args: ['ninja', '-C', ninjaDir, '-n'], before: () => touch(path.join(ninjaDir, 'src', 'f5.c')) },
    { args: ['build', '-C', bfDir], thread: 'broker' },
    { args: ['build', '-C', bfDir], before: () => touch(path.join(bfDir, 'src', 'a.c')), thread: 'worker' },
    { args: ['build', '-C', bfDir], before: () => touch(path.join(bfDir, 'src', 'b.c')), thread: 'broker' },
    { args: ['build', '-C', bfDir], before: () => touch(path.join(bfDir, 'src', 'c.c')), thread: 'worker' },
  ];
  // Nothing of the user's: the action cache and everything else B keeps goes under dir.
  const env: NodeJS.ProcessEnv = { ...process.env, B_CACHE_DIR: path.join(dir, 'cache'), HOME: dir, B_NODES: '' };
  delete env.NODE_OPTIONS; // V8 options would change the flags the cache is valid for
  let cacheIn = '';
  let threadIn = path.join(dir, 'thread-cold.bin');
  fs.writeFileSync(threadIn, threadCold);
  const t0 = Date.now();
  steps.forEach((step, i) => {
    step.before?.();
    const cacheOut = step.thread === undefined ? path.join(dir, `cache-${i}.bin`) : '';
    const threadOut = path.join(dir, `thread-${i}`);
    fs.writeFileSync(path.join(dir, 'trainer.json'), JSON.stringify({ bundle: bundleFile, addon, addonAsset, cacheIn, cacheOut, ...(step.thread !== undefined ? { threadCacheIn: threadIn, threadCacheOut: threadOut } : {}) }));
    const r = spawnSync(process.execPath, [path.join(dir, 'trainer.cjs'), ...step.args], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
    const what = `\`b ${step.args.join(' ')}\` failed in training (exit ${r.status ?? r.signal}):\n${(r.stdout + r.stderr).slice(-3000)}`;
    if (r.status !== 0 || (cacheOut !== '' && !fs.existsSync(cacheOut))) throw new Error(`code cache: ${what}`);
    if (cacheOut !== '') cacheIn = cacheOut;
    if (step.thread !== undefined) {
      const mine = fs.readdirSync(dir).find((f) => f.startsWith(`thread-${i}.${step.thread}-`));
      if (mine === undefined) throw new Error(`code cache: no ${step.thread} thread wrote its cache: ${what}`);
      threadIn = path.join(dir, mine);
    }
  });
  const main = fs.readFileSync(cacheIn);
  const thread = fs.readFileSync(threadIn);
  log(`code cache: ${steps.length} commands in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${(main.length / 1e3).toFixed(0)} kB, threads ${(thread.length / 1e3).toFixed(0)} kB (${(threadCold.length / 1e3).toFixed(0)} kB untrained)`);
  fs.rmSync(dir, { recursive: true, force: true });
  return { main, thread };
}
