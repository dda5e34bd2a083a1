// What `--cache-upload` costs the build that uploads: N small C compiles (a Ninja manifest) built
// clean with `--cache --node X` and with `--cache --cache-upload --node X` against one `b node` on
// loopback that lists this client as a cache writer, alternating, fresh tree and local cache each
// round (sources unique to the round: else the node's cache from an earlier round answers). Wall time of the whole `b build` (the uploads are drained before it exits, so they are
// in it), and how many results the node stored. Medians of --n rounds.
//
//   node scripts/bench-cache-upload.ts [--files 40] [--n 3]

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { hostExe as exe, numOpt as opt, scratch } from './bench-util.ts';

const FILES = opt('--files', 40);
const N = opt('--n', 3);

const { dir: world, procs } = scratch('b-bench-upload-');
let node: ChildProcess | undefined;

const env: NodeJS.ProcessEnv = { ...process.env, B_CONFIG_DIR: path.join(world, 'cfg') };
for (const k of ['B_CACHE', 'B_CACHE_UPLOAD', 'B_NODES']) delete env[k];
const b = (a: string[], e: NodeJS.ProcessEnv = env): ReturnType<typeof spawnSync> => spawnSync(exe, a, { env: e, encoding: 'utf8' });

let count = 0;
function project(): string {
  const dir = path.join(world, `p${count++}`);
  fs.mkdirSync(dir);
  // Order-only on a console job: the compiles are placed once this machine's workers are up, so
  // they run here (the case uploads are for) rather than fenced on the node.
  let m = 'rule cc\n  command = cc -O1 -c $in -o $out\nrule warm\n  command = sleep 0.5 && touch $out\n  pool = console\nbuild warm.stamp: warm\n';
  for (let i = 0; i < FILES; i++) {
    fs.writeFileSync(path.join(dir, `f${i}.c`), `int f${i}_${count}(int x) { int s = 0; for (int k = 0; k < x; k++) s += k * ${i}; return s; }\n`);
    m += `build f${i}.o: cc f${i}.c || warm.stamp\n`;
  }
  fs.writeFileSync(path.join(dir, 'build.ninja'), m);
  return dir;
}

async function main(): Promise<void> {
  b(['keygen', '--show']);
  b(['keygen', path.join(world, 'node')]);
  const me = (b(['keygen', '--show']).stdout as string).trim();
  fs.writeFileSync(path.join(world, 'clients.pub'), `${me}\n`);
  node = spawn(exe, ['node', '--listen', 'tcp://127.0.0.1:*', '--workers', '1', '--key', path.join(world, 'node.key'), '--allow', path.join(world, 'clients.pub'), '--cache-writers', path.join(world, 'clients.pub')], { env: { ...env, B_CACHE_DIR: path.join(world, 'node-cache') }, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(node);
  const endpoint = await new Promise<string>((resolve, reject) => {
    let out = '';
    node!.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (tcp:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    setTimeout(() => reject(new Error('node did not start')), 30_000);
  });
  const pinned = `${endpoint}#${path.join(world, 'node.pub')}`;
  const times: Record<string, number[]> = { cache: [], upload: [] };
  let uploaded = '';
  for (let r = 0; r < N; r++) {
    for (const mode of r % 2 === 0 ? ['cache', 'upload'] : ['upload', 'cache']) {
      const dir = project();
      const t0 = process.hrtime.bigint();
      const res = b(['build', '-C', dir, '--events', path.join(dir, 'ev'), '--local', '8', '--node', pinned, mode === 'upload' ? '--cache-upload' : '--cache'], { ...env, B_CACHE_DIR: path.join(world, `cc${count}`) });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (res.status !== 0) throw new Error(`${mode} build failed: ${res.stderr}`);
      const here = fs.readFileSync(path.join(dir, 'ev'), 'utf8').split('\n').filter((l) => l.includes('"finish"') && l.includes('"node":"local"') && /\.o"/.test(l)).length;
      if (mode === 'upload') uploaded = `${here} of ${FILES} compiles ran here; ${/action cache: uploaded .*/.exec(res.stderr as string)?.[0] ?? 'no upload line'}`;
      times[mode]!.push(ms);
      if (process.env.BENCH_VERBOSE) process.stderr.write(String(res.stderr));
    }
  }
  const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const c = med(times.cache!);
  const u = med(times.upload!);
  process.stdout.write(`${FILES} compiles, ${N} rounds, medians: --cache ${c.toFixed(0)} ms, --cache-upload ${u.toFixed(0)} ms (x${(u / c).toFixed(2)}); last upload: ${uploaded}\n`);
  process.stdout.write(`all: --cache ${times.cache!.map((x) => x.toFixed(0)).join(' ')} | --cache-upload ${times.upload!.map((x) => x.toFixed(0)).join(' ')}\n`);
  process.exit(0);
}

void main();
