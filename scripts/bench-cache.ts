// Warm action caches on a real build (issue 13): zstd (Debian's libzstd source, CMake + Ninja)
// built clean in a second checkout after a first checkout warmed each cache, side by side in one
// run:
//   b        B's local cache (`b ninja --cache`), and `b ninja` without it (the baseline)
//   b-node   B with an empty client cache and 2 warm build nodes that share neither network nor
//            files with the client (test/netns.ts's startHiddenNode), warmed by the first
//            checkout's build through them (`b build --cache --local 0 --node ...`)
//   ccache   ccache as CMake's compiler launcher under ninja 1.13.2, CCACHE_BASEDIR over all
//            checkouts; ninja with CCACHE_DISABLE=1 is the baseline
//   sccache  sccache (local disk cache) as the launcher; its cold build is the baseline. This
//            Debian sccache (0.4) has no base directory (SCCACHE_BASEDIRS came in 0.15), so a
//            second checkout is one run (its misses fill the cache for that checkout), and the
//            clean rebuild of the first checkout is measured as its hit path.
//
//   node scripts/bench-cache.ts [--n 3] [--jobs 4] [--only b,b-node,ccache,sccache]
//
// Variants alternate within each of N rounds (the machine is shared); wall medians, hit counts
// from B's summary line, `ccache --print-stats` and `sccache --show-stats`. The objects B restored
// (local and from the nodes) are compared byte for byte with the ones B compiled without a cache.
// Needs root for the nodes' namespaces (b-node is skipped, loudly, without them).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmp } from '../test/helpers.ts';
import { netnsAvailable, startHiddenNode, stopHiddenNode, type HiddenNode } from '../test/netns.ts';
import { debianSource, ensureTools } from '../test/real-sources.ts';
import { B, NINJA, bHits, bMisses, checkoutObjects, ccacheEnv, ccacheHits, ccacheVersion, checkout, configure, load, median, numOpt, onlyOpt, runMain, say, sccacheHits, sccacheServer, sccacheVersion, secs, sh } from './bench-cache-lib.ts';

const VARIANTS = ['b', 'b-node', 'ccache', 'sccache'] as const;
const N = numOpt('--n', 3);
const JOBS = String(numOpt('--jobs', 4));
const only = onlyOpt(VARIANTS);

interface Row {
  name: string;
  ms: number[];
  hits: string;
  /** The row whose median this one is compared with. */
  base?: string;
}

function differing(a: Map<string, Buffer>, b: Map<string, Buffer>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (!b.get(k)?.equals(v)) out.push(k);
  return out;
}

async function main(): Promise<void> {
  if (!fs.existsSync(B)) throw new Error(`${B} is missing: npm run build:host first`);
  const tools = ensureTools(['cmake', 'cc', 'ccache', 'sccache']);
  if (!tools.ok) throw new Error(tools.why);
  const fetched = debianSource('libzstd');
  if (!fetched.ok) throw new Error(`cannot fetch libzstd: ${fetched.why}`);
  const noNetns = only.has('b-node') ? netnsAvailable() : undefined;
  if (noNetns !== undefined) {
    say(`b-node skipped: ${noNetns}`);
    only.delete('b-node');
  }
  const world = tmp('b-bench-cache-');
  const keys = tmp('b-bench-keys-');
  const bEnv = { ...process.env, B_CACHE_DIR: path.join(world, 'b-cache'), B_CACHE: '', B_CONFIG_DIR: path.join(keys, 'cfg') };
  const bCached = { ...bEnv, B_CACHE: '1' };
  const ccEnv = ccacheEnv(world);
  const scEnv = only.has('sccache') ? sccacheServer(world) : process.env;
  // Checkouts in pairs, names of one length: the first warms, the second is measured.
  const t: Record<string, { src: string; build: string }> = {};
  const pairs: [string, 'ccache' | 'sccache' | undefined, NodeJS.ProcessEnv][] = [['b', undefined, bEnv], ['n', undefined, bEnv], ['c', 'ccache', ccEnv], ['s', 'sccache', scEnv]];
  for (const [p, launcher, env] of pairs) {
    if (!only.has({ b: 'b', n: 'b-node', c: 'ccache', s: 'sccache' }[p]!)) continue;
    for (const name of [`${p}1`, `${p}2`]) {
      t[name] = checkout(fetched.dir, world, name);
      await configure(t[name]!.src, t[name]!.build, launcher, env);
    }
  }
  say(`zstd ${fetched.version}, -j${JOBS}, ${N} rounds, ${ccacheVersion()}, ${sccacheVersion()}, ninja ${NINJA}`);
  say(`load average at start: ${load()}`);

  let nodes: HiddenNode[] = [];
  let nodeArgs: string[] = [];
  const rows = new Map<string, Row>();
  const record = (name: string, ms: number, hits: string, base?: string): void => {
    const r = rows.get(name) ?? { name, ms: [], hits, ...(base !== undefined ? { base } : {}) };
    r.ms.push(ms);
    r.hits = hits;
    rows.set(name, r);
    say(`  ${name}: ${secs(ms)} s, hits ${hits} (load ${load()})`);
  };
  const bSummary = (out: string): string => {
    const h = bHits(out);
    return h ? `${h.hits}/${h.of} (${((100 * h.hits) / Math.max(1, h.of)).toFixed(1)}%)` : 'no summary';
  };

  // Warm-ups: each cache filled by a cold build of the first checkout.
  say('warm-ups (first checkouts, cold caches):');
  if (only.has('b')) {
    const r = await sh(B, ['ninja', '-C', t.b1!.build, '-j', JOBS], bCached, 'b ninja --cache (warm-up)');
    record('b --cache, cold (recording), first checkout', r.ms, bSummary(r.out));
  }
  if (only.has('b-node')) {
    await sh(B, ['keygen', path.join(keys, 'node')], bEnv);
    fs.writeFileSync(path.join(keys, 'clients.pub'), (await sh(B, ['keygen', '--show'], bEnv)).stdout);
    nodes = await Promise.all([startHiddenNode(world, keys), startHiddenNode(world, keys)]);
    nodeArgs = ['--local', '0', '--heartbeat', '200', ...nodes.flatMap((n) => ['--node', n.addr])];
    const r = await sh(B, ['build', '-C', t.n1!.build, '-j', JOBS, '--cache', ...nodeArgs], { ...bEnv, B_CACHE_DIR: path.join(world, 'client-n1') }, 'b build through the nodes (warm-up)');
    record('b --cache through 2 nodes, cold (nodes record), first checkout', r.ms, bSummary(r.out));
  }
  if (only.has('ccache')) {
    const r = await sh(NINJA, ['-C', t.c1!.build, '-j', JOBS], ccEnv, 'ninja + ccache (warm-up)');
    record('ninja + ccache, cold, first checkout', r.ms, '-');
  }
  if (only.has('sccache')) {
    await sh('sccache', ['--zero-stats'], scEnv);
    const r = await sh(NINJA, ['-C', t.s1!.build, '-j', JOBS], scEnv, 'ninja + sccache (warm-up)');
    const h = await sccacheHits(scEnv);
    record('ninja + sccache, cold, first checkout', r.ms, `${h.hits}/${h.of} compiles`);
  }

  let uncached: Map<string, Buffer> | undefined;
  const restored = new Map<string, Map<string, Buffer>>();
  const misses = new Map<string, string[]>();
  for (let round = 0; round < N; round++) {
    say(`round ${round + 1} of ${N}:`);
    if (only.has('b')) {
      await sh(B, ['ninja', '-C', t.b2!.build, '-t', 'clean'], bEnv);
      let r = await sh(B, ['ninja', '-C', t.b2!.build, '-j', JOBS], bEnv, 'b ninja (no cache)');
      uncached ??= checkoutObjects(t.b2!.build, path.dirname(t.b2!.build));
      record('b ninja, no cache', r.ms, '-');
      await sh(B, ['ninja', '-C', t.b2!.build, '-t', 'clean'], bEnv);
      const ev = path.join(world, 'b2.events');
      r = await sh(B, ['ninja', '-C', t.b2!.build, '-j', JOBS, '--events', ev], bCached, 'b ninja --cache');
      record('b ninja --cache, warm, second checkout', r.ms, bSummary(r.out), 'b ninja, no cache');
      misses.set('b --cache', bMisses(ev));
      // The floor of any B build of this tree: start-up, manifest, stat, the 3 custom targets.
      r = await sh(B, ['ninja', '-C', t.b2!.build, '-j', JOBS], bCached, 'b ninja (up to date)');
      record('b ninja, up to date (floor)', r.ms, '-');
      restored.set('b --cache', checkoutObjects(t.b2!.build, path.dirname(t.b2!.build)));
    }
    if (only.has('b-node')) {
      await sh(B, ['ninja', '-C', t.n2!.build, '-t', 'clean'], bEnv);
      // An empty client cache each time: every hit comes from a node.
      const ev = path.join(world, 'n2.events');
      const r = await sh(B, ['build', '-C', t.n2!.build, '-j', JOBS, '--cache', '--events', ev, ...nodeArgs], { ...bEnv, B_CACHE_DIR: path.join(world, `client-n2-${round}`) }, 'b build from the nodes');
      record('b --cache, 2 warm nodes, empty client cache, second checkout', r.ms, bSummary(r.out), 'b ninja, no cache');
      const line = /action cache: [^\n]*/.exec(r.out)?.[0];
      if (round === 0 && line !== undefined) say(`    ${line}`);
      misses.set('b --cache from nodes', bMisses(ev));
      restored.set('b --cache from nodes', checkoutObjects(t.n2!.build, path.dirname(t.n2!.build)));
    }
    if (only.has('ccache')) {
      await sh(NINJA, ['-C', t.c2!.build, '-t', 'clean'], ccEnv);
      let r = await sh(NINJA, ['-C', t.c2!.build, '-j', JOBS], { ...ccEnv, CCACHE_DISABLE: '1' }, 'ninja (ccache disabled)');
      record('ninja, CCACHE_DISABLE=1', r.ms, '-');
      await sh(NINJA, ['-C', t.c2!.build, '-t', 'clean'], ccEnv);
      await sh('ccache', ['--zero-stats'], ccEnv);
      r = await sh(NINJA, ['-C', t.c2!.build, '-j', JOBS], ccEnv, 'ninja + ccache');
      const h = await ccacheHits(ccEnv);
      record('ninja + ccache, warm, second checkout', r.ms, `${h.hits}/${h.of} compiles`, 'ninja, CCACHE_DISABLE=1');
      r = await sh(NINJA, ['-C', t.c2!.build, '-j', JOBS], ccEnv, 'ninja (up to date)');
      record('ninja, up to date (floor)', r.ms, '-');
    }
    if (only.has('sccache')) {
      if (round === 0) {
        await sh('sccache', ['--zero-stats'], scEnv);
        const r = await sh(NINJA, ['-C', t.s2!.build, '-j', JOBS], scEnv, 'ninja + sccache (second checkout)');
        const h = await sccacheHits(scEnv);
        record('ninja + sccache, warm, second checkout (1 run)', r.ms, `${h.hits}/${h.of} compiles`, 'ninja + sccache, cold, first checkout');
      }
      await sh(NINJA, ['-C', t.s1!.build, '-t', 'clean'], scEnv);
      await sh('sccache', ['--zero-stats'], scEnv);
      const r = await sh(NINJA, ['-C', t.s1!.build, '-j', JOBS], scEnv, 'ninja + sccache (same checkout)');
      const h = await sccacheHits(scEnv);
      record('ninja + sccache, warm, same checkout', r.ms, `${h.hits}/${h.of} compiles`, 'ninja + sccache, cold, first checkout');
    }
  }
  await Promise.all(nodes.map(stopHiddenNode));

  say('');
  say(`load average at end: ${load()}`);
  say('| variant | wall, median (s) | runs (s) | vs clean | hits |');
  say('| --- | --- | --- | --- | --- |');
  for (const r of rows.values()) {
    const base = r.base !== undefined ? rows.get(r.base) : undefined;
    const ratio = base ? `${(median(r.ms) / median(base.ms)).toFixed(3)}x` : '-';
    say(`| ${r.name} | ${secs(median(r.ms))} | ${r.ms.map(secs).join(' ')} | ${ratio} | ${r.hits} |`);
  }
  const bw = rows.get('b ninja --cache, warm, second checkout');
  const cw = rows.get('ninja + ccache, warm, second checkout');
  const nw = rows.get('b --cache, 2 warm nodes, empty client cache, second checkout');
  if (cw && bw) say(`B local / ccache warm: ${(median(bw.ms) / median(cw.ms)).toFixed(2)}x`);
  if (cw && nw) say(`B from nodes / ccache warm: ${(median(nw.ms) / median(cw.ms)).toFixed(2)}x`);
  for (const [name, keys] of misses) say(`${name}, misses of the last run: ${keys.length === 0 ? 'none' : keys.join(' ')}`);
  if (uncached) {
    for (const [name, objs] of restored) {
      const bad = differing(uncached, objs);
      say(bad.length === 0 ? `${name}: all ${objs.size} objects and archives identical to B's uncached build` : `${name}: differing from B's uncached build: ${bad.join(' ')}`);
    }
  }
}

runMain(main);
