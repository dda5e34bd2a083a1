// Micro benchmark of the Ninja manifest parser against ninja itself: generates the Chromium-sized
// project of scripts/gen-chromium.ts (gn-style manifest: a toolchain rules file, one subninja per
// target with file-level defines/include_dirs/cflags, per-edge bindings, depfiles, actions, links
// with long input lists) in a temp dir, then prints the median of 5 parses by parseManifest (in this process, and in
// fresh processes, which is what a build pays) and the median of 5 `ninja -C dir -t targets all`
// runs (process wall time: ninja's load, plus its tiny start-up and printing the targets).
//
//   node scripts/bench-ninja-parse.ts [statements=90000] [--keep]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseManifest } from '../src/ninja-parser.ts';
import { generateChromium } from './gen-chromium.ts';

const args = process.argv.slice(2);
const keep = args.includes('--keep');
const wanted = Number(args.find((a) => /^\d+$/.test(a)) ?? 90_000);
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** One parse of `dir`'s manifest, timed from the first read to the finished manifest. */
function timeParse(dir: string): { ms: number; bytes: number; edges: number } {
  let bytes = 0;
  const t0 = performance.now();
  const m = parseManifest('build.ninja', {
    readFile: (p) => {
      const s = fs.readFileSync(path.join(dir, p), 'utf8');
      bytes += s.length;
      return s;
    },
  });
  return { ms: performance.now() - t0, bytes, edges: m.edges.length };
}

if (args[0] === '--child') {
  // A fresh process parsing once, as `b` does: includes JIT warm-up and heap growth.
  process.stdout.write(`${timeParse(args[1]!).ms}\n`);
  process.exit(0);
}

const top = fs.mkdtempSync(path.join(os.tmpdir(), 'b-bench-ninja-'));
try {
  // The same generated project as scripts/bench-ninja.ts; only its manifest is read here.
  const g = generateChromium(top, wanted);
  const dir = g.out;
  const statements = g.statements;
  let info = { ms: 0, bytes: 0, edges: 0 };
  const warm: number[] = [];
  for (let i = 0; i < 5; i++) {
    info = timeParse(dir);
    warm.push(info.ms);
  }
  const cold: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = spawnSync(process.execPath, [import.meta.filename, '--child', dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
    cold.push(Number(r.stdout));
  }
  const theirs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const r = spawnSync('ninja', ['-C', dir, '-t', 'targets', 'all'], { stdio: ['ignore', 'ignore', 'pipe'] });
    theirs.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`ninja failed: ${r.stderr?.toString()}`);
  }
  const fmt = (xs: number[]): string => `median ${median(xs).toFixed(0)} ms  (${xs.map((x) => x.toFixed(0)).join(', ')})`;
  const b = median(theirs);
  process.stdout.write(
    `manifest: ${statements} build statements (${info.edges} edges), ${g.targets + 2} files, ${(info.bytes / 1e6).toFixed(1)} MB\n` +
    `parseManifest, in one process:   ${fmt(warm)}  ratio ${(median(warm) / b).toFixed(2)}\n` +
    `parseManifest, fresh process:    ${fmt(cold)}  ratio ${(median(cold) / b).toFixed(2)}\n` +
    `ninja -t targets all (process):  ${fmt(theirs)}\n` +
    (keep ? `kept ${top}\n` : ''),
  );
} finally {
  if (!keep) fs.rmSync(top, { recursive: true, force: true });
}
