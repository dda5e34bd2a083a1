// The action cache's part of a build summary: hits by source (this machine's cache, each
// node's), misses, and the bytes restored, counted from the `finish` events of cacheable actions and the `command` events of Bfile rules
// (the one place both renderers, progress.ts and ninja-status.ts, learn about them).

import type { BuildEvent } from './engine-types.ts';

export class CacheTally {
  hits = 0;
  misses = 0;
  bytes = 0;
  /** Hits by source: `local` or `node:<id>`. */
  readonly bySource = new Map<string, { hits: number; bytes: number }>();

  event(e: BuildEvent): void {
    // A Bfile rule's commands are the actions (`command` events); its `finish` carries no cache field.
    if (e.event !== 'command' && (e.event !== 'finish' || e.status !== 'ok')) return;
    if (e.cache === undefined) return;
    if (e.cache === 'miss') {
      this.misses++;
      return;
    }
    this.hits++;
    this.bytes += e.cacheBytes ?? 0;
    const s = this.bySource.get(e.cache) ?? { hits: 0, bytes: 0 };
    s.hits++;
    s.bytes += e.cacheBytes ?? 0;
    this.bySource.set(e.cache, s);
  }

  /**
   * One line for the end of the build; undefined when no action was cacheable. With hits from
   * nodes it says how many came from where: `action cache: 50 hits of 58 (86%), 4.1 MB restored
   * (local 10, node b1 40: 3.2 MB fetched)`.
   */
  summary(): string | undefined {
    const n = this.hits + this.misses;
    if (n === 0) return undefined;
    const line = `action cache: ${this.hits} hit${this.hits === 1 ? '' : 's'} of ${n} (${Math.round((100 * this.hits) / n)}%), ${fmtBytes(this.bytes)} restored`;
    if (![...this.bySource.keys()].some((k) => k.startsWith('node:'))) return line;
    const parts = [...this.bySource].sort(([a], [b]) => (a === 'local' ? -1 : b === 'local' ? 1 : a.localeCompare(b)))
      .map(([k, s]) => (k === 'local' ? `local ${s.hits}` : `node ${k.slice(5)} ${s.hits}: ${fmtBytes(s.bytes)} fetched`));
    return `${line} (${parts.join(', ')})`;
  }
}

/** How a hit's progress line says where it came from. */
export function cachedSuffix(cache: string | undefined): string {
  if (cache === undefined || cache === 'miss') return '';
  return cache === 'local' ? ' (cached)' : ` (cached on node ${cache.slice(5)})`;
}

/** The build's last word on `--cache-upload`: `action cache: uploaded 12 results (48.2 kB) to 1 node`. */
export function uploadLine(u: { results: number; bytes: number; nodes: number }): string {
  return `action cache: uploaded ${u.results} result${u.results === 1 ? '' : 's'} (${fmtBytes(u.bytes)}) to ${u.nodes} node${u.nodes === 1 ? '' : 's'}`;
}

export function fmtBytes(n: number): string {
  return n < 10_000 ? `${n} bytes` : n < 10_000_000 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`;
}
