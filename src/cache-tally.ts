// The action cache's part of a build summary: hits, misses and bytes restored, counted from the
// `finish` events of cacheable actions (the one place both renderers, progress.ts and
// ninja-status.ts, learn about them).

import type { BuildEvent } from './engine-types.ts';

export class CacheTally {
  hits = 0;
  misses = 0;
  bytes = 0;

  event(e: BuildEvent): void {
    // A Bfile rule's commands are the actions (`command` events); its `finish` carries no cache field.
    if (e.event !== 'command' && (e.event !== 'finish' || e.status !== 'ok')) return;
    if (e.cache === 'local') {
      this.hits++;
      this.bytes += e.cacheBytes ?? 0;
    } else if (e.cache === 'miss') this.misses++;
  }

  /** One line for the end of the build; undefined when no action was cacheable. */
  summary(): string | undefined {
    const n = this.hits + this.misses;
    if (n === 0) return undefined;
    return `action cache: ${this.hits} hit${this.hits === 1 ? '' : 's'} of ${n} (${Math.round((100 * this.hits) / n)}%), ${fmtBytes(this.bytes)} restored`;
  }
}

export function fmtBytes(n: number): string {
  return n < 10_000 ? `${n} bytes` : n < 10_000_000 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`;
}
