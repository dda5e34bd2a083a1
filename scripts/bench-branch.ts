// A branch switch with an action cache (issue 13): zstd (Debian's libzstd source, CMake + Ninja)
// built once, then in each round 10 sources get a real change (a function appended, new in every
// round so the edit is never in a cache), the tree is built, the 10 files are put back as they
// were (the original bytes, new mtimes, as `git checkout` does), and the tree is built again: that
// third build must be all hits. B (`b ninja --cache`) and ccache (CMake's compiler launcher under
// ninja 1.13.2) side by side, alternating, each with its own empty cache at the start.
//
//   node scripts/bench-branch.ts [--n 3] [--jobs 4] [--only b,ccache]
//
// Hits from B's summary line and `ccache --print-stats` (compiles only: ccache does not see the
// archive and the links, which ninja runs again); the steps each build ran from ninja's and B's
// `[k/N]` lines. After the last round B's objects are compared with the ones of its first build.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmp } from '../test/helpers.ts';
import { debianSource, ensureTools, objects } from '../test/real-sources.ts';
import { B, NINJA, bHits, ccacheEnv, ccacheHits, ccacheVersion, checkout, configure, load, median, numOpt, onlyOpt, runMain, say, secs, sh, type Ran } from './bench-cache-lib.ts';

const VARIANTS = ['b', 'ccache'] as const;
const N = numOpt('--n', 3);
const JOBS = String(numOpt('--jobs', 4));
const only = onlyOpt(VARIANTS);

/** 10 of the library's sources, spread over common/, compress/, decompress/ and dictBuilder/. */
function pickSources(src: string): string[] {
  const all: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory() && e.name !== 'legacy' && e.name !== 'deprecated') walk(p);
      else if (e.isFile() && e.name.endsWith('.c')) all.push(path.relative(src, p));
    }
  };
  walk(path.join(src, 'lib'));
  if (all.length < 10) throw new Error(`only ${all.length} sources under ${src}/lib`);
  const step = all.length / 10;
  return Array.from({ length: 10 }, (_, i) => all[Math.floor(i * step)]!);
}

/** Steps a build ran: the last `[k/N]` of its status lines (0 for a no-op). */
function steps(out: string): number {
  let n = 0;
  for (const m of out.matchAll(/^\[(\d+)\/(\d+)\]/gm)) n = Math.max(n, Number(m[2]));
  return n;
}

interface Tool {
  name: string;
  src: string;
  build: string;
  originals: Map<string, Buffer>;
  /** Runs one build and says how many of its steps were hits. */
  make(what: string): Promise<{ r: Ran; hits: string }>;
  rows: Map<string, { ms: number[]; hits: string[] }>;
}

async function main(): Promise<void> {
  if (!fs.existsSync(B)) throw new Error(`${B} is missing: npm run build:host first`);
  const tools = ensureTools(['cmake', 'cc', 'ccache']);
  if (!tools.ok) throw new Error(tools.why);
  const fetched = debianSource('libzstd');
  if (!fetched.ok) throw new Error(`cannot fetch libzstd: ${fetched.why}`);
  const world = tmp('b-bench-branch-');
  const bEnv = { ...process.env, B_CACHE_DIR: path.join(world, 'b-cache'), B_CACHE: '1' };
  const ccEnv = ccacheEnv(world);
  const list: Tool[] = [];
  if (only.has('b')) {
    const c = checkout(fetched.dir, world, 'b');
    await configure(c.src, c.build, undefined);
    list.push({ name: 'b ninja --cache', ...c, originals: new Map(), rows: new Map(), make: async (what) => {
      const r = await sh(B, ['ninja', '-C', c.build, '-j', JOBS], bEnv, `b ninja --cache (${what})`);
      const h = bHits(r.out);
      return { r, hits: h ? `${h.hits}/${h.of} cacheable steps, ${steps(r.out)} steps` : `no cache summary, ${steps(r.out)} steps` };
    } });
  }
  if (only.has('ccache')) {
    const c = checkout(fetched.dir, world, 'c');
    await configure(c.src, c.build, 'ccache', ccEnv);
    list.push({ name: 'ninja + ccache', ...c, originals: new Map(), rows: new Map(), make: async (what) => {
      await sh('ccache', ['--zero-stats'], ccEnv);
      const r = await sh(NINJA, ['-C', c.build, '-j', JOBS], ccEnv, `ninja + ccache (${what})`);
      const h = await ccacheHits(ccEnv);
      return { r, hits: `${h.hits}/${h.of} compiles, ${steps(r.out)} steps` };
    } });
  }
  const files = pickSources(list[0]!.src);
  say(`zstd ${fetched.version}, -j${JOBS}, ${N} rounds, ${ccacheVersion()}; edited: ${files.join(' ')}`);
  say(`load average at start: ${load()}`);
  for (const t of list) for (const f of files) t.originals.set(f, fs.readFileSync(path.join(t.src, f)));

  const step = async (t: Tool, label: string): Promise<void> => {
    const { r, hits } = await t.make(label);
    const row = t.rows.get(label) ?? { ms: [], hits: [] };
    row.ms.push(r.ms);
    row.hits.push(hits);
    t.rows.set(label, row);
    say(`  ${t.name}, ${label}: ${secs(r.ms)} s, ${hits} (load ${load()})`);
  };
  const first = new Map<string, Map<string, Buffer>>();
  for (const t of list) {
    await step(t, '1. first build (cold cache)');
    first.set(t.name, objects(t.build));
  }
  for (let round = 0; round < N; round++) {
    say(`round ${round + 1} of ${N}:`);
    for (const t of list) {
      files.forEach((f, i) => {
        const fn = `b_bench_branch_${round}_${i}`;
        fs.appendFileSync(path.join(t.src, f), `\nint ${fn}(int x);\nint ${fn}(int x) { return x * ${round + 3} + ${i}; }\n`);
      });
      await step(t, '2. 10 sources edited');
    }
    for (const t of list) {
      for (const [f, bytes] of t.originals) fs.writeFileSync(path.join(t.src, f), bytes);
      await step(t, '3. edits reverted');
    }
  }

  say('');
  say(`load average at end: ${load()}`);
  say('| tool | build | wall, median (s) | runs (s) | hits (each run) |');
  say('| --- | --- | --- | --- | --- |');
  for (const t of list) {
    for (const [label, row] of t.rows) say(`| ${t.name} | ${label} | ${secs(median(row.ms))} | ${row.ms.map(secs).join(' ')} | ${[...new Set(row.hits)].join('; ')} |`);
  }
  for (const t of list) {
    const before = first.get(t.name)!;
    const now = objects(t.build);
    const bad = [...before].filter(([k, v]) => !now.get(k)?.equals(v)).map(([k]) => k);
    say(bad.length === 0 ? `${t.name}: all ${now.size} objects and archives after the last revert identical to the first build's` : `${t.name}: objects differing from the first build after the revert: ${bad.join(' ')}`);
  }
}

runMain(main);
