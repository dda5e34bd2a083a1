// Real projects nobody here wrote, for the real-*.test.ts files and scripts/bench-ninja.ts: the
// Debian source packages of libzstd (CMake) and serd (Meson), fetched with apt and unpacked
// once into a cache dir that survives between runs on one machine, plus the tools to configure
// them (cmake, ninja, meson; installed with apt when missing).
//
//   node test/real-sources.ts [libzstd serd ...]   fetch ahead of time (prints the dirs)
//
// How: a `deb-src` entry for the archive that already serves this machine's binary packages
// (same URI and suite, component main) is added under /etc/apt/sources.list.d when there is
// none, `apt-get update` runs, then `apt-get source --download-only PKG` downloads the source
// package (apt checks it against the signed index) and the upstream tarball (`*.orig.tar.*`)
// is unpacked. Debian's patches are not applied: they only touch packaging details, and a plain
// tarball needs nothing beyond tar. Cache: $B_SOURCES_CACHE, else node_modules/.cache/b-sources.
//
// Only an unreachable package archive gives `{ ok: false }` (callers skip their tests loudly);
// anything else that goes wrong throws, so a broken fetch cannot pass as a skip.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
export const cacheRoot = process.env.B_SOURCES_CACHE ?? path.join(root, 'node_modules', '.cache', 'b-sources');

export type Fetched = { ok: true; dir: string; version: string } | { ok: false; why: string };

const SRC_LIST = '/etc/apt/sources.list.d/b-test-deb-src.sources';
const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' };
/** apt errors that mean "the archive cannot be reached" (the one reason to skip). */
const UNREACHABLE = /Failed to fetch|Temporary failure resolving|Could not resolve|Could not connect|Unable to connect|Connection (failed|refused|timed out)|Network is unreachable|No route to host|Some index files failed to download/;

interface Sh {
  status: number | null;
  out: string;
}

function sh(cmd: string, args: string[], cwd?: string, timeoutMs = 300_000): Sh {
  const r = spawnSync(cmd, args, { cwd, env: APT_ENV, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return { status: 127, out: `${cmd}: not found` };
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}` };
}

function have(cmd: string): boolean {
  return sh('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function codename(): string {
  try {
    const m = /^VERSION_CODENAME=(\S+)/m.exec(fs.readFileSync('/etc/os-release', 'utf8'));
    if (m) return m[1]!;
  } catch {
    // fall through
  }
  return 'bookworm';
}

interface Archive {
  uri: string;
  signedBy?: string;
}

/** The archive serving this machine's binary packages for `suite` main, from apt's sources. */
function binaryArchive(suite: string): { binary?: Archive; source: boolean } {
  let binary: Archive | undefined;
  let source = false;
  const files: string[] = [];
  if (fs.existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  const d = '/etc/apt/sources.list.d';
  if (fs.existsSync(d)) for (const f of fs.readdirSync(d).sort()) files.push(path.join(d, f));
  for (const f of files) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    if (f.endsWith('.sources')) {
      for (const para of text.split(/\n\s*\n/)) {
        const field = (name: string): string[] => {
          const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'mi').exec(para.replace(/^#.*$/gm, ''));
          return m ? m[1]!.trim().split(/\s+/) : [];
        };
        if (/^Enabled:\s*no/mi.test(para)) continue;
        if (!field('Suites').includes(suite) || !field('Components').includes('main')) continue;
        const uri = field('URIs')[0];
        if (uri === undefined) continue;
        if (field('Types').includes('deb-src')) source = true;
        if (field('Types').includes('deb') && binary === undefined) {
          const sb = field('Signed-By')[0];
          binary = { uri, ...(sb !== undefined ? { signedBy: sb } : {}) };
        }
      }
    } else if (f.endsWith('.list')) {
      for (const line of text.split('\n')) {
        const m = /^\s*(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line);
        if (!m || m[4] !== suite || !m[5]!.split(/\s+/).includes('main')) continue;
        if (m[1] === 'deb-src') source = true;
        else if (binary === undefined) {
          const sb = /signed-by=(\S+)/.exec(m[2] ?? '');
          binary = { uri: m[3]!, ...(sb ? { signedBy: sb[1]! } : {}) };
        }
      }
    }
  }
  return { ...(binary ? { binary } : {}), source };
}

function knowsSource(pkg: string): boolean {
  const r = sh('apt-cache', ['showsrc', '--only-source', pkg]);
  return r.status === 0 && new RegExp(`^Package: ${pkg}$`, 'm').test(r.out);
}

let updated = false;

function aptUpdate(): Sh {
  updated = true;
  return sh('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update'], undefined, 600_000);
}

/** Makes `apt-get source PKG` possible: a deb-src entry and a fresh index. */
function ensureSourceIndex(pkg: string): Fetched | undefined {
  if (knowsSource(pkg)) return undefined;
  const suite = codename();
  const a = binaryArchive(suite);
  if (!a.source) {
    if (a.binary === undefined) throw new Error(`no apt source for '${suite}' main in /etc/apt/sources.list{,.d}: cannot add a deb-src entry for it`);
    fs.writeFileSync(SRC_LIST, [
      '# Added by B\'s test/real-sources.ts: Debian source packages of real projects to build.',
      'Types: deb-src',
      `URIs: ${a.binary.uri}`,
      `Suites: ${suite}`,
      'Components: main',
      ...(a.binary.signedBy !== undefined ? [`Signed-By: ${a.binary.signedBy}`] : []),
      '',
    ].join('\n'));
  }
  const u = aptUpdate();
  if (knowsSource(pkg)) return undefined;
  if (UNREACHABLE.test(u.out) || u.status !== 0) return { ok: false, why: `the Debian package archive cannot be reached (apt-get update: ${lastLines(u.out)})` };
  throw new Error(`apt knows no source package '${pkg}' after apt-get update:\n${lastLines(u.out)}`);
}

function lastLines(s: string, n = 6): string {
  return s.trim().split('\n').slice(-n).join('\n');
}

/** A lock shared by concurrent fetchers (tests and benchmarks on one machine). */
function withLock<T>(f: () => T): T {
  const lock = path.join(cacheRoot, '.lock');
  fs.mkdirSync(cacheRoot, { recursive: true });
  const t0 = Date.now();
  for (;;) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let pid = 0;
      try {
        pid = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8'));
      } catch {
        // being created or removed
      }
      let alive = true;
      if (pid > 0) {
        try {
          process.kill(pid, 0);
        } catch {
          alive = false;
        }
      }
      if (!alive) fs.rmSync(lock, { recursive: true, force: true });
      else if (Date.now() - t0 > 600_000) throw new Error(`${lock} held by pid ${pid} for 10 minutes`);
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    return f();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * The unpacked upstream source of Debian source package `pkg`, fetched on first use.
 * `{ ok: false }` only when the archive cannot be reached.
 */
export function debianSource(pkg: string): Fetched {
  const stamp = path.join(cacheRoot, `${pkg}.json`);
  const cached = (): Fetched | undefined => {
    try {
      const s = JSON.parse(fs.readFileSync(stamp, 'utf8')) as { dir: string; version: string };
      const dir = path.join(cacheRoot, s.dir);
      if (fs.existsSync(dir)) return { ok: true, dir, version: s.version };
    } catch {
      // not fetched yet
    }
    return undefined;
  };
  const hit = cached();
  if (hit) return hit;
  return withLock(() => {
    const again = cached();
    if (again) return again;
    const missing = ensureSourceIndex(pkg);
    if (missing) return missing;
    const dl = fs.mkdtempSync(path.join(cacheRoot, `dl-${pkg}-`));
    try {
      const r = sh('apt-get', ['source', '--download-only', '-o', 'APT::Sandbox::User=root', pkg], dl, 600_000);
      if (r.status !== 0) {
        if (UNREACHABLE.test(r.out)) return { ok: false, why: `the Debian package archive cannot be reached (apt-get source ${pkg}: ${lastLines(r.out)})` };
        throw new Error(`apt-get source --download-only ${pkg} failed:\n${r.out}`);
      }
      const files = fs.readdirSync(dl);
      const dsc = files.find((f) => f.endsWith('.dsc'));
      const version = dsc ? (/^Version:\s*(\S+)/m.exec(fs.readFileSync(path.join(dl, dsc), 'utf8'))?.[1] ?? '?') : '?';
      const tarball = files.find((f) => /\.orig\.tar\.[a-z0-9]+$/.test(f)) ?? files.find((f) => /\.tar\.[a-z0-9]+$/.test(f) && !/\.debian\.tar\./.test(f));
      if (tarball === undefined) throw new Error(`apt-get source ${pkg} gave no upstream tarball: ${files.join(', ')}`);
      const stage = path.join(dl, 'unpacked');
      fs.mkdirSync(stage);
      const t = sh('tar', ['-xf', path.join(dl, tarball), '-C', stage]);
      if (t.status !== 0) throw new Error(`tar -xf ${tarball} failed:\n${t.out}`);
      const top = fs.readdirSync(stage);
      if (top.length !== 1) throw new Error(`${tarball} does not unpack to one directory: ${top.join(', ')}`);
      const name = `${top[0]!}+debian-${version}`.replace(/[^A-Za-z0-9._+-]/g, '_');
      fs.rmSync(path.join(cacheRoot, name), { recursive: true, force: true });
      fs.renameSync(path.join(stage, top[0]!), path.join(cacheRoot, name));
      fs.writeFileSync(stamp, JSON.stringify({ pkg, version, dir: name, tarball }) + '\n');
      return { ok: true, dir: path.join(cacheRoot, name), version };
    } finally {
      fs.rmSync(dl, { recursive: true, force: true });
    }
  });
}

/** Tools the real-project tests run, and the Debian packages that provide them. */
const TOOL_PACKAGES: Record<string, string> = { cmake: 'cmake', ninja: 'ninja-build', meson: 'meson', cc: 'gcc', python3: 'python3' };

/** Installs the missing ones of `tools` with apt. `{ ok: false }` only for an unreachable archive. */
export function ensureTools(tools: string[]): { ok: true } | { ok: false; why: string } {
  const missing = tools.filter((t) => !have(t));
  if (missing.length === 0) return { ok: true };
  const pkgs = missing.map((t) => TOOL_PACKAGES[t] ?? t);
  return withLock(() => {
    const install = (): Sh => sh('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', ...pkgs], undefined, 600_000);
    let r = install();
    if (r.status !== 0 && !updated) {
      aptUpdate();
      r = install();
    }
    if (r.status !== 0) {
      if (UNREACHABLE.test(r.out)) return { ok: false, why: `cannot install ${pkgs.join(' ')}: the Debian package archive cannot be reached (${lastLines(r.out)})` };
      throw new Error(`apt-get install ${pkgs.join(' ')} failed:\n${r.out}`);
    }
    const still = missing.filter((t) => !have(t));
    if (still.length > 0) throw new Error(`installed ${pkgs.join(' ')} but ${still.join(', ')} still not on PATH`);
    return { ok: true };
  });
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === import.meta.filename) {
  const pkgs = process.argv.slice(2);
  const tools = ensureTools(['cmake', 'ninja', 'meson']);
  if (!tools.ok) process.stdout.write(`SKIP: ${tools.why}\n`);
  for (const p of pkgs.length > 0 ? pkgs : ['libzstd', 'serd']) {
    const r = debianSource(p);
    process.stdout.write(r.ok ? `${p} ${r.version}: ${r.dir}\n` : `SKIP ${p}: ${r.why}\n`);
  }
}

// ---- Comparing a build by B with the same build by ninja ----------------------------------

/** The descriptions of the steps a build ran, from its "[n/N] description" status lines. */
export function ranSteps(output: string): string[] {
  const steps: string[] = [];
  for (const line of output.split('\n')) {
    const m = /^\[\d+\/\d+\] (.*)$/.exec(line.replace(/\r$/, ''));
    if (m) steps.push(m[1]!);
  }
  return steps;
}

/** `ninja -t targets all` of a tree: every output and the rule that makes it. */
export function ninjaTargets(dir: string): Map<string, string> {
  const r = spawnSync('ninja', ['-C', dir, '-t', 'targets', 'all'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`ninja -t targets all failed in ${dir}: ${r.stderr}`);
  const m = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const i = line.lastIndexOf(': ');
    if (i > 0) m.set(line.slice(0, i), line.slice(i + 2));
  }
  return m;
}

/** `ninja -t deps` of a tree: each output's recorded dependencies (depfile headers). */
export function ninjaDeps(dir: string): Map<string, string[]> {
  const r = spawnSync('ninja', ['-C', dir, '-t', 'deps'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`ninja -t deps failed in ${dir}: ${r.stderr}`);
  const m = new Map<string, string[]>();
  let cur: string[] | undefined;
  for (const line of r.stdout.split('\n')) {
    const head = /^(\S.*): #deps \d+/.exec(line);
    if (head) m.set(head[1]!, (cur = []));
    else if (/^\s+\S/.test(line) && cur) cur.push(line.trim());
  }
  return m;
}

/** Outputs (of the ninja tree's manifest) whose dependencies include `file`. */
export function dependents(deps: Map<string, string[]>, file: string): string[] {
  return [...deps].filter(([, ds]) => ds.includes(file)).map(([o]) => o).sort();
}

/** Objects and archives (`.o`, `.a`) under a build tree, by relative path, with their bytes. */
export function objects(tree: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && (e.name.endsWith('.o') || e.name.endsWith('.a'))) m.set(path.relative(tree, p), fs.readFileSync(p));
    }
  };
  walk(tree);
  return m;
}

export interface TreeDiff {
  /** Built by ninja, absent in B's tree. */
  missing: string[];
  /** Built by B, absent in ninja's tree. */
  extra: string[];
  /** Present in both with different bytes (or symlink targets). */
  differ: string[];
  /** Present in both and identical. */
  same: string[];
}

/** Compares the outputs `outs` (relative paths) of two build trees, byte for byte. */
export function compareTrees(ninjaDir: string, bDir: string, outs: Iterable<string>): TreeDiff {
  const d: TreeDiff = { missing: [], extra: [], differ: [], same: [] };
  const lst = (p: string): fs.Stats | undefined => {
    try {
      return fs.lstatSync(p);
    } catch {
      return undefined;
    }
  };
  for (const o of outs) {
    const a = lst(path.join(ninjaDir, o));
    const b = lst(path.join(bDir, o));
    if (a?.isDirectory() || b?.isDirectory()) continue;
    if (a && !b) d.missing.push(o);
    else if (!a && b) d.extra.push(o);
    else if (a && b) {
      let same: boolean;
      if (a.isSymbolicLink() || b.isSymbolicLink()) {
        same = a.isSymbolicLink() && b.isSymbolicLink() && fs.readlinkSync(path.join(ninjaDir, o)) === fs.readlinkSync(path.join(bDir, o));
      } else {
        same = a.size === b.size && fs.readFileSync(path.join(ninjaDir, o)).equals(fs.readFileSync(path.join(bDir, o)));
      }
      (same ? d.same : d.differ).push(o);
    }
  }
  return d;
}

/** The set difference a \ b. */
export function minus(a: Iterable<string>, b: Iterable<string>): string[] {
  const s = new Set(b);
  return [...new Set(a)].filter((x) => !s.has(x)).sort();
}

export interface NinjaShim {
  /** `<dir>/ninja`, a symlink to B: B's Ninja personality (argv[0] is `ninja`). */
  bin: string;
  /** The directory to put first on PATH. */
  dir: string;
  /** Whether it answers `--version` as ninja does (CMake and Meson check that first). */
  works: boolean;
  version: string;
}

/** Makes the `ninja` symlink to the B executable `exe` in `dir` and checks that it answers. */
export function ninjaShim(dir: string, exe: string): NinjaShim {
  fs.mkdirSync(dir, { recursive: true });
  const bin = path.join(dir, 'ninja');
  fs.rmSync(bin, { force: true });
  fs.symlinkSync(exe, bin);
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  const version = (r.stdout ?? '').trim();
  return { bin, dir, works: r.status === 0 && /^\d+\.\d+(\.\d+)?$/.test(version), version: version || (r.stderr ?? '').trim() };
}
