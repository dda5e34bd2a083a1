// The `[%f/%t] ` progress prefix (NINJA_STATUS), one formatter for both renderers: the Ninja
// personality's (ninja-status.ts) and `b build`'s (progress.ts). A port of ninja 1.13.2's
// StatusPrinter::FormatProgressStatus, placeholder by placeholder, including its printf
// spellings of odd values (`?` for an unknown rate or ETA, `inf`/`-nan` for a division by 0).

/** What a status line is made of at one moment; the renderer keeps the counts. */
export interface StatusCounts {
  started: number;
  finished: number;
  /** Edges (rules) the build is expected to run. */
  total: number;
  running: number;
  /** ms since the build started, at the event being shown. */
  elapsedMs: number;
  /** Finished edges per second over the last -j edges, or -1 while unknown (ninja's SlidingRateInfo). */
  currentRate: number;
  /** Share of the work done, in time (0..1; 0 while unknown). */
  predicted: number;
}

/** The placeholders ninja knows (anything else after `%` is fatal in ninja). */
export const STATUS_PLACEHOLDERS = '%strufocpPewEW';

/** The first placeholder of a format that ninja does not know, if any (`''`: a lone final `%`). */
export function badPlaceholder(fmt: string): string | undefined {
  for (let i = 0; i < fmt.length; i++) {
    if (fmt[i] !== '%') continue;
    const c = fmt[++i] ?? '';
    if (c === '' || !STATUS_PLACEHOLDERS.includes(c)) return c;
  }
  return undefined;
}

/** printf("%.1f") of a rate as ninja's SnprintfRate does: -1 is "?". */
function rate(r: number): string {
  if (r === -1) return '?';
  return printfFixed(r, 1);
}

/** printf("%.Nf") spelling of non-finite values (glibc: 0.0/0.0 is a negative NaN on x86). */
function printfFixed(v: number, digits: number): string {
  if (Number.isNaN(v)) return '-nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return v.toFixed(digits);
}

const two = (n: number): string => String(n).padStart(2, '0');

export function formatStatus(fmt: string, s: StatusCounts): string {
  let out = '';
  for (let i = 0; i < fmt.length; i++) {
    const ch = fmt[i]!;
    if (ch !== '%') {
      out += ch;
      continue;
    }
    const c = fmt[++i];
    switch (c) {
      case '%': out += '%'; break;
      case 's': out += String(s.started); break;
      case 't': out += String(s.total); break;
      case 'r': out += String(s.running); break;
      case 'u': out += String(s.total - s.started); break;
      case 'f': out += String(s.finished); break;
      case 'o': out += rate(s.finished / (s.elapsedMs / 1e3)); break;
      case 'c': out += rate(s.currentRate); break;
      case 'p': {
        const percent = s.finished !== 0 && s.total !== 0 ? Math.trunc((100 * s.finished) / s.total) : 0;
        out += `${String(percent).padStart(3)}%`;
        break;
      }
      case 'P': out += `${String(Math.trunc(100 * s.predicted)).padStart(3)}%`; break;
      case 'e':
      case 'w':
      case 'E':
      case 'W': {
        const elapsed = s.elapsedMs / 1e3;
        const eta = s.predicted !== 0 ? (s.elapsedMs / s.predicted - s.elapsedMs) / 1e3 : -1;
        const hours = elapsed >= 3600 || eta >= 3600;
        const sec = c === 'e' || c === 'w' ? elapsed : eta;
        if (sec < 0) out += '?';
        else if (c === 'e' || c === 'E') out += sec.toFixed(3);
        else {
          const t = Math.trunc(sec);
          out += hours ? `${Math.trunc(t / 3600)}:${two(Math.trunc((t % 3600) / 60))}:${two(t % 60)}` : `${two(Math.trunc(t / 60))}:${two(t % 60)}`;
        }
        break;
      }
      default:
        // Rejected before the build (badPlaceholder); kept as written if it gets here.
        out += `%${c ?? ''}`;
    }
  }
  return out;
}

/** ninja's SlidingRateInfo: finished edges per second over the last `window` finishes. */
export class SlidingRate {
  private readonly times: number[] = [];
  private lastUpdate = -1;
  private rate = -1;
  private readonly window: number;
  constructor(window: number) {
    this.window = Math.max(1, window);
  }
  /** The rate after `finished` edges at `ms`, or -1 while fewer than two finishes are known. */
  update(finished: number, ms: number): number {
    if (finished === this.lastUpdate) return this.rate;
    this.lastUpdate = finished;
    if (this.times.length === this.window) this.times.shift();
    this.times.push(ms);
    const first = this.times[0]!;
    const last = this.times[this.times.length - 1]!;
    if (last !== first) this.rate = this.times.length / ((last - first) / 1e3);
    return this.rate;
  }
}
