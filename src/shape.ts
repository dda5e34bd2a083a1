// The schema language of messages.ts: bounds, field specs and the strict checker every
// validator there is a table for (unknown fields refused, duplicate keys refused, sizes bounded).
// Split from messages.ts so that file holds the messages themselves; it imports only protocol.ts.

import { type ProtocolError, duplicateKey, isProtocolError, parseJson } from './protocol.ts';

// ---------------------------------------------------------------------------------------------
// Bounds. Generous for real builds (a clang command line of 100 kB, 20,000 inputs of a compile,
// a 1 MiB blob chunk in base64) and far below the 64 MiB message limit, so a hostile peer cannot
// make a receiver allocate per-field more than it already accepted as one message.

/** A path, a key, a command line. */
export const STR = 1 << 20;
/** Short names: kinds, ops, tool names, digests. */
export const NAME = 4096;
/** Long texts: captured command output, rspfile contents, base64 blob chunks. */
export const TEXT = 48 << 20;
export const LIST = 200_000;

// ---------------------------------------------------------------------------------------------
// A tiny schema language, so every validator is a table rather than hand-written checks.

export type Spec =
  | { t: 'str'; max: number; re?: RegExp }
  | { t: 'int'; min: number; max: number }
  | { t: 'num' }
  | { t: 'bool' }
  | { t: 'lit'; v: string }
  | { t: 'arr'; of: Spec; max: number }
  | { t: 'rec'; of: Spec; max: number }
  | { t: 'obj'; shape: Shape }
  | { t: 'nullable'; of: Spec }
  /** A discriminated union: the field `tag` names which shape the rest must have. */
  | { t: 'tagged'; tag: string; of: Record<string, Shape> }
  /** A string (at most STR), a finite number or a boolean. */
  | { t: 'scalar' }
  | { t: 'any' };
export type Shape = Record<string, Spec | { opt: Spec }>;

export const str = (max = STR, re?: RegExp): Spec => (re ? { t: 'str', max, re } : { t: 'str', max });
export const int = (min = 0, max = Number.MAX_SAFE_INTEGER): Spec => ({ t: 'int', min, max });
export const num: Spec = { t: 'num' };
export const bool: Spec = { t: 'bool' };
export const lit = (v: string): Spec => ({ t: 'lit', v });
export const arr = (of: Spec, max = LIST): Spec => ({ t: 'arr', of, max });
export const rec = (of: Spec, max = LIST): Spec => ({ t: 'rec', of, max });
export const obj = (shape: Shape): Spec => ({ t: 'obj', shape });
export const nullable = (of: Spec): Spec => ({ t: 'nullable', of });
export const opt = (s: Spec): { opt: Spec } => ({ opt: s });
export const ANY: Spec = { t: 'any' };
export const SCALAR: Spec = { t: 'scalar' };
/** `tagged('kind', { a: {...}, b: {...} })`: each variant's shape gets its tag as a literal field. */
export const tagged = (tag: string, variants: Record<string, Shape>): Spec => ({
  t: 'tagged',
  tag,
  of: Object.fromEntries(Object.entries(variants).map(([k, v]) => [k, { ...v, [tag]: lit(k) }])),
});

/** A content digest in hex: DIGEST_BYTES (hash.ts) = 16 bytes, 32 hex digits. */
export const HEX_DIGEST = /^[0-9a-f]{32}$/;
export const U32 = int(0, 0xffffffff);

export function refuse(message: string): ProtocolError {
  return { error: 'schema', message };
}

/**
 * Checks a value against a spec; the reason it is refused names where (`at`). Exported for a
 * message that is a spec rather than a shape at its top level (thread-messages.ts's unions).
 */
export function checkSpec(x: unknown, s: Spec, at: string): ProtocolError | undefined {
  switch (s.t) {
    case 'str':
      if (typeof x !== 'string') return refuse(`${at} must be a string`);
      if (x.length > s.max) return refuse(`${at} is ${x.length} characters long, more than ${s.max}`);
      if (s.re && !s.re.test(x)) return refuse(`${at} is not in the expected format`);
      return undefined;
    case 'int':
      if (typeof x !== 'number' || !Number.isInteger(x)) return refuse(`${at} must be an integer`);
      if (x < s.min || x > s.max) return refuse(`${at} must be from ${s.min} to ${s.max}`);
      return undefined;
    case 'num':
      return typeof x === 'number' && Number.isFinite(x) ? undefined : refuse(`${at} must be a number`);
    case 'bool':
      return typeof x === 'boolean' ? undefined : refuse(`${at} must be true or false`);
    case 'lit':
      return x === s.v ? undefined : refuse(`${at} must be "${s.v}"`);
    case 'arr': {
      if (!Array.isArray(x)) return refuse(`${at} must be an array`);
      if (x.length > s.max) return refuse(`${at} has ${x.length} entries, more than ${s.max}`);
      for (let i = 0; i < x.length; i++) {
        const e = checkSpec(x[i], s.of, `${at}[${i}]`);
        if (e) return e;
      }
      return undefined;
    }
    case 'rec': {
      if (typeof x !== 'object' || x === null || Array.isArray(x)) return refuse(`${at} must be an object`);
      const keys = Object.keys(x);
      if (keys.length > s.max) return refuse(`${at} has ${keys.length} entries, more than ${s.max}`);
      for (const k of keys) {
        if (k.length > STR) return refuse(`${at} has a key longer than ${STR}`);
        const e = checkSpec((x as Record<string, unknown>)[k], s.of, `${at}.${k}`);
        if (e) return e;
      }
      return undefined;
    }
    case 'obj':
      return checkShape(x, s.shape, at);
    case 'nullable':
      return x === null ? undefined : checkSpec(x, s.of, at);
    case 'tagged': {
      // Not an object reads as "no tag": the reason is the same for both (which variants exist).
      const v = typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Record<string, unknown>)[s.tag] : undefined;
      if (typeof v !== 'string' || !Object.hasOwn(s.of, v)) {
        return refuse(`${at}: unknown ${s.tag} ${JSON.stringify(v)?.slice(0, 64) ?? 'undefined'} (expected ${Object.keys(s.of).join(', ')})`);
      }
      // The variant's fields are named under it: `need reply.reason "missing".path ...`.
      return checkShape(x, s.of[v]!, `${at} "${v}"`);
    }
    case 'scalar':
      if (typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x))) return undefined;
      if (typeof x === 'string') return x.length > STR ? refuse(`${at} is ${x.length} characters long, more than ${STR}`) : undefined;
      return refuse(`${at} must be a string, a number or true or false`);
    case 'any':
      return undefined;
  }
}

export function checkShape(x: unknown, shape: Shape, at: string): ProtocolError | undefined {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return refuse(`${at} must be a JSON object`);
  const o = x as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!Object.hasOwn(shape, k)) return refuse(`${at} has an unknown field "${k.slice(0, 64)}"`);
  }
  for (const [k, spec] of Object.entries(shape)) {
    const v = o[k];
    if ('opt' in spec) {
      if (v === undefined) continue;
      const e = checkSpec(v, spec.opt, `${at}.${k}`);
      if (e) return e;
    } else {
      if (v === undefined) return refuse(`${at} lacks the field "${k}"`);
      const e = checkSpec(v, spec, `${at}.${k}`);
      if (e) return e;
    }
  }
  return undefined;
}

/** Parses a JSON payload and checks it against a shape: the value, or why it was refused. */
export function decodeShape<V>(payload: Buffer | undefined, what: string, shape: Shape, maxBytes: number): V | ProtocolError {
  if (payload !== undefined && payload.length > maxBytes) return { error: 'size', message: `${what} of ${payload.length} bytes is larger than ${maxBytes}` };
  const v = parseJson(payload);
  if (isProtocolError(v)) return v;
  const e = checkShape(v, shape, what);
  if (e) return e;
  const dup = duplicateKey(payload!.toString('utf8'));
  if (dup !== undefined) return refuse(`${what} has the field "${dup.slice(0, 64)}" twice`);
  return v as V;
}
