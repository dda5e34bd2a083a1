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
import { WRAP_HEAD, WRAP_TAIL } from '../src/sea-main.ts';

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
if (process.env.B_SPAWNER !== '1') process.on('exit', () => fs.writeFileSync(cfg.cacheOut, script.createCachedData()));
const mod = { exports: {} };
script.runInThisContext()(mod.exports, req, mod, __filename, __dirname);
`;
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

/**
 * Trains the cache for `bundle` (the text the executable carries) in `tmp`, with `addon` as the
 * zeromq addon for a command that loads zeromq. Returns the cache's bytes.
 */
export function trainCodeCache(bundle: string, addon: string, addonAsset: string, tmp: string, log: (s: string) => void): Buffer {
  const dir = fs.mkdtempSync(path.join(tmp, 'code-cache-'));
  const bundleFile = path.join(dir, 'b.js');
  fs.writeFileSync(bundleFile, bundle);
  fs.writeFileSync(path.join(dir, 'trainer.cjs'), trainerSource());
  const ninjaDir = path.join(dir, 'ninja');
  writeNinjaProject(ninjaDir);
  // Not the demo (a Bfile build): its no-op and edit measured the same with and without it in the
  // cache (75.6 vs 80.0 ms, 768 vs 763 ms: its rules run in worker threads, which compile the
  // thread bundle, not this one), and the cache grew from 531 to 1,151 kB, which every start
  // deserializes (`b --version` 43.6 vs 45.7 ms, medians of 15).
  const steps: { args: string[]; before?: () => void }[] = [
    { args: ['--version'] },
    { args: ['ninja', '-C', ninjaDir, '-j2'] },
    { args: ['ninja', '-C', ninjaDir, '-j2'] },
    { args: ['ninja', '-C', ninjaDir, '-j2'], before: () => fs.appendFileSync(path.join(ninjaDir, 'src', 'f3.c'), 'int g;\n') },
    { args: ['ninja', '-C', ninjaDir, '-n'], before: () => fs.appendFileSync(path.join(ninjaDir, 'src', 'f5.c'), 'int g;\n') },
  ];
  // Nothing of the user's: the action cache and everything else B keeps goes under dir.
  const env: NodeJS.ProcessEnv = { ...process.env, B_CACHE_DIR: path.join(dir, 'cache'), HOME: dir, B_NODES: '' };
  delete env.NODE_OPTIONS; // V8 options would change the flags the cache is valid for
  let cacheIn = '';
  const t0 = Date.now();
  steps.forEach((step, i) => {
    step.before?.();
    const cacheOut = path.join(dir, `cache-${i}.bin`);
    fs.writeFileSync(path.join(dir, 'trainer.json'), JSON.stringify({ bundle: bundleFile, addon, addonAsset, cacheIn, cacheOut }));
    const r = spawnSync(process.execPath, [path.join(dir, 'trainer.cjs'), ...step.args], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0 || !fs.existsSync(cacheOut)) {
      throw new Error(`code cache: \`b ${step.args.join(' ')}\` failed in training (exit ${r.status ?? r.signal}):\n${(r.stdout + r.stderr).slice(-3000)}`);
    }
    cacheIn = cacheOut;
  });
  const cache = fs.readFileSync(cacheIn);
  log(`code cache: ${steps.length} commands in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${(cache.length / 1e3).toFixed(0)} kB`);
  fs.rmSync(dir, { recursive: true, force: true });
  return cache;
}
