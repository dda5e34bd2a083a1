// `b cache stats` and `b cache clear`: the local action cache (action-cache.ts) seen from the
// command line.

import type { Logger } from './logger.ts';
import { ActionCache } from './action-cache.ts';
import { fmtBytes } from './cache-tally.ts';
import { UserError } from './errors.ts';

export function cacheCmd(op: string, o: { json?: boolean }, log: Logger): number {
  const cache = new ActionCache();
  switch (op) {
    case 'stats': {
      const s = cache.stats();
      if (o.json === true) log.out(JSON.stringify(s));
      else {
        log.out(`action cache: ${s.dir}`);
        log.out(`  entries: ${s.entries}`);
        log.out(`  blobs:   ${s.blobs}`);
        log.out(`  size:    ${fmtBytes(s.bytes)} of ${fmtBytes(s.maxBytes)} (B_CACHE_MAX_BYTES)`);
      }
      return 0;
    }
    case 'clear': {
      const s = cache.stats();
      cache.clear();
      log.info(`action cache cleared: ${plural(s.entries, 'entry', 'entries')} and ${plural(s.blobs, 'blob', 'blobs')} (${fmtBytes(s.bytes)}) removed from ${s.dir}`);
      return 0;
    }
    default:
      throw new UserError({ code: 'usage', message: `unknown cache operation "${op}"`, hint: 'use `b cache stats` or `b cache clear`' });
  }
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
