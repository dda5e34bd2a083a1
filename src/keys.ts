// CurveZMQ keys: generating them (`b keygen`), reading key files, allow lists and pinned node
// keys. Keys are Z85 text (40 characters for 32 bytes), as ZeroMQ writes them.
//
//   NAME.key   secret file (mode 0600): two lines, "public <z85>" and "secret <z85>"
//   NAME.pub   public key: one line "<z85>" (give it to the other side)
//   allow file one public key per line (lines starting with # are comments), for --allow
//   node addr  tcp://host:port#<z85 public key of the node>, or an address listed in the
//              known-nodes file (~/.config/b/nodes: "<address> <z85>" per line)

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHmac, createPrivateKey, createPublicKey, diffieHellman, randomBytes, timingSafeEqual } from 'node:crypto';
import { UserError } from './errors.ts';

const Z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const DECODE = new Map<string, number>([...Z85].map((c, i) => [c, i]));

export function z85Encode(data: Uint8Array): string {
  if (data.length % 4 !== 0) throw new Error('z85: length must be a multiple of 4');
  let out = '';
  for (let i = 0; i < data.length; i += 4) {
    let v = ((data[i]! << 24) >>> 0) + (data[i + 1]! << 16) + (data[i + 2]! << 8) + data[i + 3]!;
    const chunk: string[] = [];
    for (let k = 0; k < 5; k++) {
      chunk.unshift(Z85[v % 85]!);
      v = Math.floor(v / 85);
    }
    out += chunk.join('');
  }
  return out;
}

export function z85Decode(s: string): Buffer | undefined {
  if (s.length % 5 !== 0) return undefined;
  const out = Buffer.alloc((s.length / 5) * 4);
  for (let i = 0, o = 0; i < s.length; i += 5, o += 4) {
    let v = 0;
    for (let k = 0; k < 5; k++) {
      const d = DECODE.get(s[i + k]!);
      if (d === undefined) return undefined;
      v = v * 85 + d;
    }
    if (v > 0xffffffff) return undefined;
    out.writeUInt32BE(v, o);
  }
  return out;
}

export function isKey(s: string): boolean {
  return s.length === 40 && z85Decode(s)?.length === 32;
}

export interface KeyPair {
  publicKey: string;
  secretKey: string;
}

export function writeKeyPair(base: string, kp: KeyPair): { keyFile: string; pubFile: string } {
  const keyFile = `${base}.key`;
  const pubFile = `${base}.pub`;
  fs.mkdirSync(path.dirname(path.resolve(keyFile)), { recursive: true });
  // O_EXCL|O_NOFOLLOW: the secret goes only into a file this call creates, never through a
  // symlink planted at its name (even a dangling one) and never into a file another process is
  // creating at the same moment (an exists-check then a write raced).
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(keyFile, O_WRONLY | O_CREAT | O_EXCL | (O_NOFOLLOW ?? 0), 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new UserError({ code: 'keygen.exists', message: `${keyFile} already exists`, hint: 'choose another name, or delete the old key pair first' });
    throw e;
  }
  try {
    fs.writeSync(fd, `# B CurveZMQ key pair: keep this file secret\npublic ${kp.publicKey}\nsecret ${kp.secretKey}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  // The public key replaces whatever is at its name (rename does not follow a symlink there).
  const tmp = `${pubFile}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(tmp, `${kp.publicKey}\n`, { mode: 0o644, flag: 'wx' });
  try {
    fs.renameSync(tmp, pubFile);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return { keyFile, pubFile };
}

export function readKeyPair(file: string): KeyPair {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError({ code: 'key.read', message: `cannot read key file ${file}: ${(e as Error).message}`, hint: 'create one with `b keygen NAME`' });
  }
  const get = (name: string): string | undefined => new RegExp(`^${name}\\s+(\\S{40})\\s*$`, 'm').exec(text)?.[1];
  const publicKey = get('public');
  const secretKey = get('secret');
  if (!publicKey || !secretKey || !isKey(publicKey) || !isKey(secretKey)) {
    throw new UserError({ code: 'key.format', message: `${file} is not a B key file (expected "public <z85>" and "secret <z85>" lines)`, hint: 'create one with `b keygen NAME`' });
  }
  if (process.platform !== 'win32' && (fs.statSync(file).mode & 0o077) !== 0) {
    throw new UserError({ code: 'key.mode', message: `${file} is readable by other users`, hint: `chmod 600 ${file}` });
  }
  return { publicKey, secretKey };
}

/** Public keys from allow-list files or literal keys. */
export function readAllowList(items: string[]): Set<string> {
  const keys = new Set<string>();
  for (const item of items) {
    if (isKey(item)) {
      keys.add(item);
      continue;
    }
    let text: string;
    try {
      text = fs.readFileSync(item, 'utf8');
    } catch (e) {
      throw new UserError({ code: 'allow.read', message: `cannot read allow list ${item}: ${(e as Error).message}` });
    }
    for (const [i, raw] of text.split('\n').entries()) {
      // '#' is a Z85 digit: only a line that starts with it is a comment.
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const k = line.split(/\s+/)[0]!;
      if (!isKey(k)) throw new UserError({ code: 'allow.format', message: `${item}:${i + 1}: not a Z85 public key: ${k}` });
      keys.add(k);
    }
  }
  return keys;
}

export interface NodeAddress {
  address: string;
  /** The node's public key, pinned; undefined for a node without keys (loopback/--insecure). */
  serverKey: string | undefined;
}

export function configDir(): string {
  return process.env.B_CONFIG_DIR ?? path.join(process.env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config'), 'b');
}

/** Parses `tcp://host:port[#key]`, looking the key up in the known-nodes file when absent. */
export function parseNodeAddress(spec: string): NodeAddress {
  // The address cannot contain '#', the key can (it is a Z85 digit): split at the first one.
  const hash = spec.indexOf('#');
  const address = hash < 0 ? spec : spec.slice(0, hash);
  const key = hash < 0 ? undefined : spec.slice(hash + 1);
  if (!/^tcp:\/\/[^:/]+:\d+$/.test(address) && !/^tcp:\/\/\[[^\]]+\]:\d+$/.test(address) && !/^(ipc|inproc):\/\/.+/.test(address)) {
    throw new UserError({ code: 'usage', message: `not a node address: ${spec}`, hint: 'write tcp://HOST:PORT, optionally followed by #NODE_PUBLIC_KEY' });
  }
  if (key !== undefined) {
    const k = fs.existsSync(key) ? fs.readFileSync(key, 'utf8').trim() : key;
    if (!isKey(k)) throw new UserError({ code: 'usage', message: `${spec}: the part after # is not a node public key (or a .pub file)` });
    return { address, serverKey: k };
  }
  const known = path.join(configDir(), 'nodes');
  if (fs.existsSync(known)) {
    for (const line of fs.readFileSync(known, 'utf8').split('\n')) {
      if (line.trim().startsWith('#')) continue;
      const [a, k] = line.trim().split(/\s+/);
      if (a === address && k && isKey(k)) return { address, serverKey: k };
    }
  }
  return { address, serverKey: undefined };
}

/** The client's own key pair: --key FILE, else ~/.config/b/client.key (created on first use). */
export function clientKeyPair(file: string | undefined, generate: () => KeyPair): KeyPair {
  if (file !== undefined) return readKeyPair(file);
  const base = path.join(configDir(), 'client');
  if (!fs.existsSync(`${base}.key`)) {
    // A node and a client started at once both create the key (every local node uses it since
    // loopback needs keys too): the file appears complete or not at all (a private temp file
    // hard-linked into place, which fails if another process won), and everyone reads the winner.
    fs.mkdirSync(configDir(), { recursive: true, mode: 0o700 });
    const kp = generate();
    const tmp = `${base}.key.${process.pid}.${randomBytes(4).toString('hex')}`;
    fs.writeFileSync(tmp, `# B CurveZMQ key pair: keep this file secret\npublic ${kp.publicKey}\nsecret ${kp.secretKey}\n`, { mode: 0o600, flag: 'wx' });
    try {
      fs.linkSync(tmp, `${base}.key`);
      fs.writeFileSync(`${base}.pub`, `${kp.publicKey}\n`, { mode: 0o644 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  return readKeyPair(`${base}.key`);
}

export function isLoopback(address: string): boolean {
  const host = /^tcp:\/\/(\[[^\]]+\]|[^:]+):/.exec(address)?.[1] ?? '';
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]' || address.startsWith('inproc://') || address.startsWith('ipc://');
}

// ---------------------------------------------------------------------------------------------
// Session ids: the ZeroMQ routing id a client uses on a CurveZMQ connection, bound to its key.
//
// A ROUTER socket tells the application only the routing id a message came from, and a peer
// chooses its own routing id; zeromq.js does not expose the ZAP user id of a message
// (zmq_msg_gets). So a node could not tell which authenticated key sent a message, and any
// allowed client that learnt another's routing id could take over its session (ROUTER_HANDOVER)
// and receive its results. Instead a client's routing id is a proof of its key:
//
//   "b1" + client public key (Z85, 40) + nonce (16 hex) + MAC (32 hex)
//   MAC = HMAC-SHA256(X25519(client secret, node public), "b-session-v1" + client key + nonce + node key)[0..16)
//
// Only the holder of the client's secret key (or the node's) can compute the MAC, so only that
// client can speak or receive under that session id; the nonce (random per process) keeps two
// builds of one user apart. The MAC is specific to one node's key: a node that sees a session id
// cannot use it against another node. Sessions, forwarded questions and results on a node are
// keyed by this id, and the key inside it is checked against the allow list again.

const SESSION_PREFIX = 'b1';
export const SESSION_ID_LENGTH = 2 + 40 + 16 + 32;

function b64url(b: Buffer): string {
  return b.toString('base64url');
}

function sharedSecret(ownSecret: string, ownPublic: string, theirPublic: string): Buffer | undefined {
  const d = z85Decode(ownSecret);
  const x = z85Decode(ownPublic);
  const y = z85Decode(theirPublic);
  if (d?.length !== 32 || x?.length !== 32 || y?.length !== 32) return undefined;
  try {
    const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(d), x: b64url(x) }, format: 'jwk' });
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(y) }, format: 'jwk' });
    return diffieHellman({ privateKey, publicKey });
  } catch {
    return undefined;
  }
}

function sessionMac(shared: Buffer, clientKey: string, nonce: string, nodeKey: string): string {
  return createHmac('sha256', shared).update(`b-session-v1${clientKey}${nonce}${nodeKey}`).digest('hex').slice(0, 32);
}

/** The routing id a client uses towards the node with public key `nodeKey`. */
export function sessionId(client: KeyPair, nodeKey: string, nonce = randomBytes(8).toString('hex')): string {
  const shared = sharedSecret(client.secretKey, client.publicKey, nodeKey);
  if (shared === undefined) throw new Error('session id: malformed key');
  return `${SESSION_PREFIX}${client.publicKey}${nonce}${sessionMac(shared, client.publicKey, nonce, nodeKey)}`;
}

/** The client public key a session id proves, or undefined if it proves none (for this node). */
export function verifySessionId(rid: string, node: KeyPair): string | undefined {
  if (rid.length !== SESSION_ID_LENGTH || !rid.startsWith(SESSION_PREFIX)) return undefined;
  const clientKey = rid.slice(2, 42);
  const nonce = rid.slice(42, 58);
  const mac = rid.slice(58);
  if (!isKey(clientKey) || !/^[0-9a-f]{16}$/.test(nonce) || !/^[0-9a-f]{32}$/.test(mac)) return undefined;
  const shared = sharedSecret(node.secretKey, node.publicKey, clientKey);
  if (shared === undefined) return undefined;
  const want = Buffer.from(sessionMac(shared, clientKey, nonce, node.publicKey), 'hex');
  return timingSafeEqual(want, Buffer.from(mac, 'hex')) ? clientKey : undefined;
}
