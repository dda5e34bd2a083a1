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
    fs.mkdirSync(configDir(), { recursive: true, mode: 0o700 });
    try {
      writeKeyPair(base, generate());
    } catch (e) {
      // Another b on first use created it at the same moment: use theirs.
      if (!(e instanceof UserError && e.code === 'keygen.exists')) throw e;
    }
  }
  // The file another process just created may not hold its lines yet (created, then written).
  for (let attempt = 0; ; attempt++) {
    try {
      return readKeyPair(`${base}.key`);
    } catch (e) {
      if (attempt >= 20 || !(e instanceof UserError && e.code === 'key.format')) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

export function isLoopback(address: string): boolean {
  const host = /^tcp:\/\/(\[[^\]]+\]|[^:]+):/.exec(address)?.[1] ?? '';
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]' || address.startsWith('inproc://') || address.startsWith('ipc://');
}
