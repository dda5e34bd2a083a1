// Bfile commands in the local action cache (bfile-farm.ts), on `b demo`'s project: a clean build
// in a fresh directory without the cache, with the cache on and cold (every command recorded),
// and with the cache warm from another directory (every command restored). Rounds alternate the
// variants; wall time and CPU of the whole process tree (user + sys, /usr/bin/time), medians.
//
//   node scripts/bench-bfile-cache.ts [--n 5] [--compare PATH]
//
// --compare PATH: every variant also with another binary (an older build), alternating in each
// round, each with its own warm cache (the two may key differently).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { C_PROJECT, writeProject } from '../src/demo.ts';

const root = path.resolve(import.meta.dirname, '..');
const exe = path.join(root, 'dist', `b-${process.platform === 'darwin' ? 'macos' : process.platform}-${process.arch}`);
const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--n') + 1] ?? 5) || 5;
const compare = args.includes('--compare') ? path.resolve(args[args.indexOf('--compare') + 1] ?? '') : undefined;

const world = fs.mkdtempSync(path.join(os.tmpdir(), 'b-bench-bcache-'));
process.on('exit', () => fs.rmSync(world, { recursive: true, force: true }));
for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => process.exit(130));

let dirs = 0;
function build(cacheDir: string | undefined, bin = exe): { wall: number; cpu: number; out: string } {
  const dir = path.join(world, `p${dirs++}`);
  writeProject(dir, C_PROJECT);
  const env = { ...process.env, B_CACHE_DIR: cacheDir ?? path.join(world, 'unused-cache') };
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', 'B_TIME %U %S', bin, 'build', '-C', dir, ...(cacheDir !== undefined ? ['--cache'] : [])], { env, encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`);
  const m = /B_TIME ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return { wall, cpu: m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN, out: r.stderr };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const bins: [string, string][] = [['', exe], ...(compare !== undefined ? [[` [${path.basename(compare)}]`, compare] as [string, string]] : [])];
for (const [tag, bin] of bins) build(path.join(world, `warm-cache${tag}`), bin); // warms each binary's cache from a first directory
const rows: Record<string, { wall: number[]; cpu: number[]; hits: string }> = {};
const add = (name: string, r: { wall: number; cpu: number; out: string }, hits: boolean): void => {
  const row = (rows[name] ??= { wall: [], cpu: [], hits: '-' });
  row.wall.push(r.wall);
  row.cpu.push(r.cpu);
  if (hits) row.hits = /action cache: ([^,]+)/.exec(r.out)?.[1] ?? '?';
};
for (let i = 0; i < N; i++) {
  for (const [tag, bin] of bins) {
    add(`no cache${tag}`, build(undefined, bin), false);
    add(`--cache, cold${tag}`, build(path.join(world, `cold-${i}${tag}`), bin), true);
    add(`--cache, warm, other directory${tag}`, build(path.join(world, `warm-cache${tag}`), bin), true);
  }
}
process.stdout.write(`b demo's project, ${N} rounds, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, ${os.cpus().length} CPUs\n\n`);
process.stdout.write('| variant | wall, median | CPU (user+sys), median | commands from the cache |\n| --- | --- | --- | --- |\n');
for (const [k, v] of Object.entries(rows)) process.stdout.write(`| ${k} | ${median(v.wall).toFixed(0)} ms | ${median(v.cpu).toFixed(0)} ms | ${v.hits} |\n`);
