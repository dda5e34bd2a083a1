// B's wire protocol: every message that crosses a ZeroMQ socket, as pure encode/decode functions.
// No I/O here, so the whole protocol is unit-testable and the broker can validate untrusted peers
// before it touches any state.
//
// A message is a ZeroMQ multipart message. ROUTER sockets prepend the peer's routing id (and REQ
// peers an empty delimiter); that envelope is handled by the socket layer, not here. What remains
// is the *body*:
//
//   frame 0: header, 8 bytes   [0x42 'B'] [version u8] [type u8] [flags u8 = 0] [id u32 LE]
//   frame 1..: payload frames, an exact count per type (see FRAMES below)
//
// `id` is a request id (client <-> broker), a task id (broker <-> worker) or 0.
// Payloads of work and results are opaque bytes: the broker forwards them without parsing, as the
// original B did. Control payloads are UTF-8 JSON objects, validated here.

export const PROTOCOL_VERSION = 1;
export const MAGIC = 0x42;
export const HEADER_BYTES = 8;
/** Upper bound for one message (all frames). Larger messages are rejected, never buffered. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Message type codes. The numeric values are part of the protocol and never change meaning. */
export const T = {
  // client -> broker (frontend)
  HELLO: 0x01, // [json HelloInfo]        version handshake, first message of every client
  SUBMIT: 0x02, // [json meta][work]      run one work item somewhere, reply RESULT or FAILURE
  NEED: 0x03, // [json NeedRequest]       ask questions of the build engine, reply ANSWER or FAILURE
  CANCEL: 0x04, // []                     give up on request `id`
  PING: 0x05, // []                       liveness probe, reply PONG with the same id
  BYE: 0x06, // []                        client leaves; its pending requests are cancelled
  WAKE: 0x07, // []                       worker's client: suspended task `id` has all its answers
  // broker -> client (frontend)
  WELCOME: 0x11, // [json WelcomeInfo]    handshake accepted
  RESULT: 0x12, // [result bytes]         work item `id` finished (its own status is inside)
  FAILURE: 0x13, // [json Failure]        request `id` failed: no result will follow
  ANSWER: 0x14, // [json answers]         answers to NEED `id`
  EVENT: 0x15, // [ndjson bytes]          build events for request `id`
  PONG: 0x16, // [json PongInfo]          reply to PING
  ERROR: 0x17, // [json Failure]          protocol-level refusal (bad version, not welcomed, ...)
  // worker -> broker (backend); each of these also means "this worker is free for one item"
  READY: 0x21, // [json ReadyInfo]        first message of a worker
  DONE: 0x22, // [result bytes]           task `id` finished
  FAIL: 0x23, // [json Failure]           task `id` threw
  SUSPEND: 0x24, // []                    task `id` waits on answers; the worker may take other work
  PARK: 0x25, // []                       task `id` waits on a command it started; the worker may take other work
  // broker -> worker (backend)
  WORK: 0x31, // [work bytes]             run task `id`
  RESUME: 0x32, // []                     continue suspended task `id` (its answers have arrived)
  STOP: 0x33, // []                       leave: close sockets and end the thread
} as const;

export type MsgType = (typeof T)[keyof typeof T];

/** Number of payload frames after the header, per type. */
const FRAMES: ReadonlyMap<number, number> = new Map<number, number>([
  [T.HELLO, 1], [T.SUBMIT, 2], [T.NEED, 1], [T.CANCEL, 0], [T.PING, 0], [T.BYE, 0], [T.WAKE, 0],
  [T.WELCOME, 1], [T.RESULT, 1], [T.FAILURE, 1], [T.ANSWER, 1], [T.EVENT, 1], [T.PONG, 1], [T.ERROR, 1],
  [T.READY, 1], [T.DONE, 1], [T.FAIL, 1], [T.SUSPEND, 0], [T.PARK, 0],
  [T.WORK, 1], [T.RESUME, 0], [T.STOP, 0],
]);

const NAMES: ReadonlyMap<number, string> = new Map(Object.entries(T).map(([k, v]) => [v, k]));

export function typeName(type: number): string {
  return NAMES.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}

export type Body = Buffer | Uint8Array | string;

/** A decoded message body: `payload` is the first payload frame, `payload2` the second. */
export interface Decoded {
  type: MsgType;
  id: number;
  payload: Buffer | undefined;
  payload2: Buffer | undefined;
}

export type ProtocolErrorCode = 'frames' | 'magic' | 'version' | 'type' | 'size' | 'json' | 'schema';

/** Why a message was refused. A value, not an exception: peers are untrusted. */
export interface ProtocolError {
  error: ProtocolErrorCode;
  message: string;
  /** The version the peer spoke, when the header was readable. */
  peerVersion?: number;
}

export function isProtocolError(x: unknown): x is ProtocolError {
  return typeof x === 'object' && x !== null && 'error' in x && typeof (x as ProtocolError).error === 'string';
}

export function header(type: MsgType, id: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h[0] = MAGIC;
  h[1] = PROTOCOL_VERSION;
  h[2] = type;
  h[3] = 0;
  h.writeUInt32LE(id >>> 0, 4);
  return h;
}

/**
 * Encodes a body. `payload` must be given exactly when the type has payload frames: one body
 * (bytes, text, or an object sent as JSON), or an array of bodies for multi-frame types.
 */
export function encode(type: MsgType, id: number, payload?: Body | object | (Body | object)[]): Buffer[] {
  const want = FRAMES.get(type);
  if (want === undefined) throw new Error(`protocol: cannot encode unknown type ${type}`);
  if (want === 0) {
    if (payload !== undefined) throw new Error(`protocol: ${typeName(type)} has no payload`);
    return [header(type, id)];
  }
  if (payload === undefined) throw new Error(`protocol: ${typeName(type)} needs a payload`);
  const parts = Array.isArray(payload) ? payload : [payload];
  if (parts.length !== want) throw new Error(`protocol: ${typeName(type)} needs ${want} payload frames`);
  return [header(type, id), ...parts.map(toBuffer)];
}

function toBuffer(p: Body | object): Buffer {
  if (Buffer.isBuffer(p)) return p;
  if (p instanceof Uint8Array) return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  if (typeof p === 'string') return Buffer.from(p, 'utf8');
  return Buffer.from(JSON.stringify(p), 'utf8');
}

/**
 * Decodes a body: the frames from `start` on (after the routing envelope). Never throws:
 * malformed input yields a ProtocolError that says what was wrong, so a node can count and drop it.
 */
export function decode(frames: readonly Buffer[], maxBytes = DEFAULT_MAX_MESSAGE_BYTES, start = 0): Decoded | ProtocolError {
  let total = 0;
  for (let i = start; i < frames.length; i++) total += frames[i]!.length;
  if (total > maxBytes) return { error: 'size', message: `message of ${total} bytes exceeds the limit of ${maxBytes} bytes` };
  const h = frames[start];
  if (h === undefined) return { error: 'frames', message: 'empty message' };
  if (h.length !== HEADER_BYTES) return { error: 'frames', message: `header frame has ${h.length} bytes, expected ${HEADER_BYTES}` };
  if (h[0] !== MAGIC) return { error: 'magic', message: `not a B message (first byte 0x${(h[0] ?? 0).toString(16)})` };
  const version = h[1] ?? 0;
  if (version !== PROTOCOL_VERSION) {
    return {
      error: 'version',
      peerVersion: version,
      message: `peer speaks B protocol v${version}, this node speaks v${PROTOCOL_VERSION}; run the same B release on every machine`,
    };
  }
  const type = h[2] ?? 0;
  const want = FRAMES.get(type);
  if (want === undefined) return { error: 'type', message: `unknown message type 0x${type.toString(16)}` };
  if (frames.length - start !== 1 + want) {
    return { error: 'frames', message: `${typeName(type)} has ${frames.length - start - 1} payload frames, expected ${want}` };
  }
  return { type: type as MsgType, id: h.readUInt32LE(4), payload: want >= 1 ? frames[start + 1] : undefined, payload2: want >= 2 ? frames[start + 2] : undefined };
}

/** Reads only the type of an already size-checked header, for hot paths that forward bodies. */
export function peekType(h: Buffer | undefined): number {
  return h !== undefined && h.length === HEADER_BYTES && h[0] === MAGIC && h[1] === PROTOCOL_VERSION ? (h[2] ?? 0) : -1;
}

// ---------------------------------------------------------------------------------------------
// Control payloads (JSON). Each has a validator that returns a ProtocolError instead of throwing.

export type Role = 'client' | 'worker-client' | 'peer';

export interface HelloInfo {
  protocol: number;
  /** B release of the sender, for messages only; compatibility is decided by `protocol`. */
  b: string;
  role: Role;
  /** Human-readable name of the sender (host, node id), shown in status and errors. */
  name: string;
}

export interface WelcomeInfo {
  protocol: number;
  b: string;
  node: string;
  /** Workers of this node and, one hop deep, of the nodes it uses. */
  workers: number;
  /** This node's own workers. */
  local?: number;
  platform?: string;
}

export interface ReadyInfo {
  worker: string;
}

export interface PongInfo {
  node: string;
  /** Work items the node could accept right now. */
  free: number;
  workers?: number;
  local?: number;
}

/** A failure that crossed a thread or machine: what happened, where, and what to do about it. */
export interface Failure {
  code: string;
  message: string;
  hint?: string;
  /** Where it happened: a node id, worker id, file:line... */
  where?: string;
  fields?: Record<string, string | number | boolean>;
}

export function parseJson(payload: Buffer | undefined): unknown | ProtocolError {
  if (payload === undefined) return { error: 'json', message: 'missing JSON payload' };
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch (e) {
    return { error: 'json', message: `payload is not valid JSON: ${(e as Error).message}` };
  }
}

type Shape = Record<string, 'string' | 'number' | 'boolean' | 'string?' | 'number?' | 'object?'>;

/** Strict: every field of the shape checked, unknown and duplicate keys refused. */
function check<V>(payload: Buffer | undefined, what: string, shape: Shape): V | ProtocolError {
  const v = parseJson(payload);
  if (isProtocolError(v)) return v;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { error: 'schema', message: `${what}: expected a JSON object` };
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!Object.hasOwn(shape, k)) return { error: 'schema', message: `${what}: unknown field "${k.slice(0, 64)}"` };
  }
  for (const [k, t] of Object.entries(shape)) {
    const optional = t.endsWith('?');
    const base = optional ? t.slice(0, -1) : t;
    const x = o[k];
    if (x === undefined && optional) continue;
    if (typeof x !== base || x === null || Array.isArray(x)) return { error: 'schema', message: `${what}: field "${k}" must be a ${base}` };
  }
  const dup = duplicateKey(payload!.toString('utf8'));
  if (dup !== undefined) return { error: 'schema', message: `${what}: field "${dup.slice(0, 64)}" appears twice` };
  return o as V;
}

/**
 * The first key that occurs twice in one object of a valid JSON text, if any. JSON.parse keeps
 * the last of duplicates silently, so two readers of one message could disagree on what it says
 * (a validator reading one `op`, a handler another): such messages are refused.
 */
export function duplicateKey(text: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) return undefined; // not valid JSON: the parser already refused it
        let b = q - 1;
        while (text.charCodeAt(b) === 92) b--;
        if ((q - 1 - b) % 2 === 0) {
          j = q;
          break;
        }
        escaped = true;
        j = q + 1;
      }
      const top = stack[stack.length - 1];
      if (top && expectKey) {
        const raw = text.slice(i, j + 1);
        const k = escaped || raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (top.has(k)) return k;
        top.add(k);
        expectKey = false;
      }
      i = j;
    } else if (c === 123) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 91) stack.push(null);
    else if (c === 125 || c === 93) stack.pop();
    else if (c === 44 && stack[stack.length - 1]) expectKey = true;
  }
  return undefined;
}

export function parseHello(p: Buffer | undefined): HelloInfo | ProtocolError {
  const v = check<HelloInfo>(p, 'HELLO', { protocol: 'number', b: 'string', role: 'string', name: 'string' });
  if (isProtocolError(v)) return v;
  if (v.role !== 'client' && v.role !== 'worker-client' && v.role !== 'peer') return { error: 'schema', message: `HELLO: unknown role "${v.role}"` };
  if (v.protocol !== PROTOCOL_VERSION) {
    return { error: 'version', peerVersion: v.protocol, message: `client B ${v.b} speaks protocol v${v.protocol}, this node speaks v${PROTOCOL_VERSION}; run the same B release on every machine` };
  }
  return v;
}

export function parseWelcome(p: Buffer | undefined): WelcomeInfo | ProtocolError {
  return check<WelcomeInfo>(p, 'WELCOME', { protocol: 'number', b: 'string', node: 'string', workers: 'number', local: 'number?', platform: 'string?' });
}

export function parseReady(p: Buffer | undefined): ReadyInfo | ProtocolError {
  return check<ReadyInfo>(p, 'READY', { worker: 'string' });
}

export function parsePong(p: Buffer | undefined): PongInfo | ProtocolError {
  return check<PongInfo>(p, 'PONG', { node: 'string', free: 'number', workers: 'number?', local: 'number?' });
}

export function parseFailure(p: Buffer | undefined): Failure | ProtocolError {
  return check<Failure>(p, 'FAILURE', { code: 'string', message: 'string', hint: 'string?', where: 'string?', fields: 'object?' });
}

/** The failure to report when a message could not be decoded at all. */
export function failureOf(e: ProtocolError): Failure {
  return {
    code: `protocol.${e.error}`,
    message: e.message,
    ...(e.error === 'version' ? { hint: 'use the same B release on the client and on every node (b --version)' } : {}),
  };
}
