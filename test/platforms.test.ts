// The other platforms' executables, started where this Linux x86-64 machine can start them:
// - linux-arm64 under qemu-user (Debian qemu-user-static, with Debian's arm64 libc through
//   multiarch, and binfmt_misc so that B can start itself again as its spawn helper);
// - win-x64 under Wine (Debian wine64).
// Missing Debian packages are installed (as root); where that is impossible the tests are
// skipped with the reason printed. The executables are built (scripts/build.ts --platform) when
// missing or older than this machine's.
//
// Also here: the zeromq addon extracted from the executable (now a SEA asset) lands in a private
// (0700), content-addressed file that concurrent starts agree on.

import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { B, b, exited, root, run, start, suite, tmp, onCleanup, type RunResult } from './helpers.ts';

const test = suite('platforms');
const log = (s: string): void => {
  process.stdout.write(`  [platforms] ${s}\n`);
};
const ARM = path.join(root, 'dist', 'b-linux-arm64');
const WIN = path.join(root, 'dist', 'b-win-x64.exe');
const BUILD_MS = 600_000; // base binaries come from the npm registry on the first build

type Ready = { ok: true; note: string } | { ok: false; why: string };

function sh(cmd: string, args: string[], timeout = 600_000): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}
const last = (s: string): string => s.trim().split('\n').slice(-3).join(' / ');

let aptUpdated = false;
/** apt-get install, with one `apt-get update` if the first try fails. Returns why not, or undefined. */
function aptInstall(pkgs: string[]): string | undefined {
  if (process.getuid?.() !== 0) return `${pkgs.join(' ')} not installed, and apt-get needs root`;
  const install = (): { status: number | null; out: string } => sh('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', ...pkgs]);
  let r = install();
  if (r.status !== 0 && !aptUpdated) {
    aptUpdated = true;
    sh('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update']);
    r = install();
  }
  return r.status === 0 ? undefined : `apt-get install ${pkgs.join(' ')} failed: ${last(r.out)}`;
}

const QEMU = '/usr/bin/qemu-aarch64-static';
const ARM_LOADER = '/lib/ld-linux-aarch64.so.1';
const BINFMT = '/proc/sys/fs/binfmt_misc';

/**
 * qemu-user for the arm64 executable. "binfmt": the kernel runs arm64 ELF files through qemu,
 * so B can start itself again (its spawn helper). "direct": only `qemu-aarch64-static b`, so
 * builds run with B_SPAWNER=0 (commands spawned directly), which is still B's code path on the
 * platforms without the helper.
 */
function setupQemu(): Ready & { binfmt?: boolean } {
  if (process.platform !== 'linux' || process.arch !== 'x64') return { ok: false, why: `qemu-user setup is for linux-x64 hosts, this is ${process.platform}-${process.arch}` };
  if (!fs.existsSync(QEMU)) {
    const why = aptInstall(['qemu-user-static']);
    if (why !== undefined) return { ok: false, why };
  }
  if (!fs.existsSync(ARM_LOADER)) {
    // The executable is dynamically linked against glibc and libstdc++: Debian's arm64 builds.
    if (process.getuid?.() !== 0) return { ok: false, why: `no arm64 libc (${ARM_LOADER}), and adding it needs root` };
    const add = sh('dpkg', ['--add-architecture', 'arm64']);
    if (add.status !== 0) return { ok: false, why: `dpkg --add-architecture arm64 failed: ${last(add.out)}` };
    aptUpdated = false; // the arm64 package lists are new
    const why = aptInstall(['libc6:arm64', 'libstdc++6:arm64', 'libgcc-s1:arm64']);
    if (why !== undefined) return { ok: false, why };
  }
  const entry = path.join(BINFMT, 'qemu-aarch64');
  if (!fs.existsSync(entry) && process.getuid?.() === 0) {
    if (!fs.existsSync(path.join(BINFMT, 'register'))) sh('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT]);
    try {
      // Debian's own registration line (flags OPF: the interpreter is opened now, so it works
      // in any mount namespace).
      fs.writeFileSync(path.join(BINFMT, 'register'), fs.readFileSync('/usr/lib/binfmt.d/qemu-aarch64.conf', 'utf8').trim());
    } catch (e) {
      log(`binfmt_misc registration failed (${(e as Error).message}); running qemu directly`);
    }
  }
  const binfmt = fs.existsSync(entry) && fs.readFileSync(entry, 'utf8').startsWith('enabled');
  return { ok: true, binfmt, note: binfmt ? 'qemu-user through binfmt_misc' : 'qemu-aarch64-static directly, B_SPAWNER=0' };
}

const WINE = '/usr/lib/wine/wine64';
function setupWine(): Ready {
  if (process.platform !== 'linux' || process.arch !== 'x64') return { ok: false, why: `Wine setup is for linux-x64 hosts, this is ${process.platform}-${process.arch}` };
  if (!fs.existsSync(WINE)) {
    const why = aptInstall(['wine64']);
    if (why !== undefined) return { ok: false, why };
  }
  return { ok: true, note: 'wine64' };
}

/** Builds dist/<file> if it is missing or older than this machine's executable. */
async function ensureBuilt(platform: string, file: string): Promise<void> {
  const fresh = fs.existsSync(file) && fs.existsSync(B) && fs.statSync(file).mtimeMs >= fs.statSync(B).mtimeMs;
  if (fresh) return;
  log(`building ${path.basename(file)}`);
  const r = await run(process.execPath, [path.join(root, 'scripts', 'build.ts'), '--no-check', '--platform', platform], { timeout: BUILD_MS });
  assert.is(r.code, 0, `build of ${platform} failed:\n${r.stderr}`);
  assert.ok(fs.existsSync(file), `${file} not built`);
}

const qemu = setupQemu();
const wine = setupWine();
const arm = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<RunResult> => {
  const e = { ...process.env, B_CACHE_DIR: path.join(cwd, '..', 'cache'), ...env };
  if (qemu.ok && qemu.binfmt) return run(ARM, args, { cwd, env: e, timeout: 300_000 });
  return run(QEMU, [ARM, ...args], { cwd, env: { ...e, B_SPAWNER: '0' }, timeout: 300_000 });
};

const NINJA_MANIFEST = `rule cp
  command = cp $in $out
  description = CP $out
rule cat
  command = cat $in > $out
  description = CAT $out
build a.txt: cp in1.txt
build b.txt: cp in2.txt
build all.txt: cat a.txt b.txt
default all.txt
`;

if (!qemu.ok) {
  test.skip('linux-arm64 under qemu-user: --version, b demo, a Ninja manifest and its no-op', qemu.why);
} else {
  test('linux-arm64 under qemu-user: --version, b demo, a Ninja manifest and its no-op', async () => {
    await ensureBuilt('linux-arm64', ARM);
    log(qemu.note);
    const dir = tmp('b-arm64-');
    const work = path.join(dir, 'w');
    fs.mkdirSync(work);

    const v = await arm(['--version'], work);
    assert.is(v.code, 0, v.stderr);
    assert.match(v.stdout, /linux-arm64 node-v22\./);

    // A real build: the C program when a C compiler is on PATH (the host's, which qemu-user's
    // arm64 B runs like any command), else the demo's text pipeline. Its own steps check the
    // no-op and the incremental rebuild; the exit code says whether they held.
    const demo = await arm(['demo', path.join(dir, 'demo')], work);
    assert.is(demo.code, 0, `${demo.stdout}\n${demo.stderr}`);
    assert.match(demo.stderr, /nothing changed, nothing runs\n.*no work to do/);

    fs.writeFileSync(path.join(work, 'build.ninja'), NINJA_MANIFEST);
    fs.writeFileSync(path.join(work, 'in1.txt'), 'one\n');
    fs.writeFileSync(path.join(work, 'in2.txt'), 'two\n');
    const first = await arm(['ninja'], work);
    assert.is(first.code, 0, first.stderr);
    assert.match(first.stdout, /\[3\/3\] CAT all\.txt/);
    assert.is(fs.readFileSync(path.join(work, 'all.txt'), 'utf8'), 'one\ntwo\n');
    const noop = await arm(['ninja'], work);
    assert.is(noop.code, 0, noop.stderr);
    assert.match(noop.stdout, /ninja: no work to do\./);
    fs.writeFileSync(path.join(work, 'in2.txt'), 'three\n');
    const again = await arm(['ninja'], work);
    assert.is(again.code, 0, again.stderr);
    assert.match(again.stdout, /CP b\.txt/);
    assert.not.match(again.stdout, /CP a\.txt/);
    assert.is(fs.readFileSync(path.join(work, 'all.txt'), 'utf8'), 'one\nthree\n');
  }, { timeout: BUILD_MS + 600_000 });
}

/**
 * Runs the Windows executable under Wine. Its stdout and stderr are files: with pipes, Node's
 * stdio setup fails under Wine 8 (`Error: open EBADF` at `new Socket`, from libuv's named-pipe
 * handling), before B runs a line.
 */
async function underWine(args: string[], cwd: string, prefix: string): Promise<RunResult> {
  const outFile = path.join(prefix, '..', 'stdout');
  const errFile = path.join(prefix, '..', 'stderr');
  const out = fs.openSync(outFile, 'w');
  const err = fs.openSync(errFile, 'w');
  try {
    const c = start(WINE, [WIN, ...args], { cwd, stdio: ['ignore', out, err], env: { ...process.env, WINEPREFIX: prefix, WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=' } });
    const { code, signal } = await exited(c, 300_000);
    return { code, signal, stdout: fs.readFileSync(outFile, 'utf8'), stderr: fs.readFileSync(errFile, 'utf8') };
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
  }
}

if (!wine.ok) {
  test.skip('win-x64 under Wine: --version and a Bfile build, its no-op and a rebuild', wine.why);
} else {
  test('win-x64 under Wine: --version and a Bfile build, its no-op and a rebuild', async () => {
    await ensureBuilt('win-x64', WIN);
    const dir = tmp('b-wine-');
    const prefix = path.join(dir, 'prefix');
    onCleanup(() => {
      spawnSync('/usr/lib/wine/wineserver64', ['-k'], { env: { ...process.env, WINEPREFIX: prefix }, timeout: 30_000 });
    });
    // A new prefix says Windows 7, and Node 22 refuses to start below Windows 8.1.
    const boot = spawnSync(WINE, ['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/d', 'win10', '/f'], { env: { ...process.env, WINEPREFIX: prefix, WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=' }, encoding: 'utf8', timeout: 300_000 });
    assert.is(boot.status, 0, `wine reg add failed: ${boot.stderr}`);
    const work = path.join(dir, 'w');
    fs.mkdirSync(work);

    const v = await underWine(['--version'], work, prefix);
    assert.is(v.code, 0, v.stderr);
    assert.match(v.stdout, /win32-x64 node-v22\./);

    // Worker threads, the zeromq addon (msvc build), a command through cmd.exe, files.
    fs.writeFileSync(path.join(work, 'in.txt'), 'hello\n');
    fs.writeFileSync(path.join(work, 'Bfile.js'), `export default (b) => {
  b.default('out.txt');
  b.rule('mid.txt', async ({ need, run, out }) => {
    await need('in.txt');
    await run(\`copy in.txt \${out}\`);
  });
  b.rule('out.txt', async ({ need, read, write, out }) => {
    await need('mid.txt');
    await write(out, (await read('mid.txt')).toUpperCase());
  });
};
`);
    const first = await underWine(['build'], work, prefix);
    assert.is(first.code, 0, `${first.stdout}\n${first.stderr}`);
    assert.match(first.stderr, /ran 2 rules/);
    assert.is(fs.readFileSync(path.join(work, 'out.txt'), 'utf8').replace(/\r\n/g, '\n'), 'HELLO\n');
    const noop = await underWine(['build'], work, prefix);
    assert.is(noop.code, 0, noop.stderr);
    assert.match(noop.stderr, /no work to do/);
    fs.writeFileSync(path.join(work, 'in.txt'), 'bye\n');
    const again = await underWine(['build'], work, prefix);
    assert.is(again.code, 0, again.stderr);
    assert.is(fs.readFileSync(path.join(work, 'out.txt'), 'utf8').replace(/\r\n/g, '\n'), 'BYE\n');
  }, { timeout: BUILD_MS + 600_000 });
}

test('the extracted zeromq addon: private (0700), content-addressed, one file for concurrent starts', async () => {
  const dir = tmp('b-addon-');
  const cache = path.join(dir, 'cache');
  const env = { ...process.env, B_CACHE_DIR: cache };
  // Four builds start at once with an empty cache: each extracts the addon; they must agree on
  // one file, and no temp file may be left behind.
  const works = [0, 1, 2, 3].map((i) => {
    const w = path.join(dir, `w${i}`);
    fs.mkdirSync(w);
    fs.writeFileSync(path.join(w, 'Bfile.js'), `export default (b) => { b.rule('x', async ({ write, out }) => { await write(out, 'x${i}'); }); b.default('x'); };\n`);
    return w;
  });
  const rs = await Promise.all(works.map((w) => b(['build', '-C', w], { env })));
  for (const r of rs) assert.is(r.code, 0, r.stderr);
  works.forEach((w, i) => assert.is(fs.readFileSync(path.join(w, 'x'), 'utf8'), `x${i}`));
  const addons = path.join(cache, 'addons');
  assert.is(fs.statSync(cache).mode & 0o777, 0o700);
  assert.is(fs.statSync(addons).mode & 0o777, 0o700);
  const files = fs.readdirSync(addons);
  assert.equal(files.length, 1, `expected one addon file, got: ${files.join(', ')}`);
  const addon = path.join(addons, files[0]!);
  assert.match(files[0]!, /^zeromq-linux-x64-[0-9a-f]{32}\.node$/);
  assert.is(fs.statSync(addon).mode & 0o077, 0, 'group and others have no access to the addon');
  // Content-addressed: the name is the SHA-256 of the bytes, and the bytes are the addon's.
  const bytes = fs.readFileSync(addon);
  const sha = createHash('sha256').update(bytes).digest('hex');
  assert.ok(files[0]!.includes(sha.slice(0, 32)), `${files[0]} is not named by its SHA-256 ${sha}`);
  const shipped = fs.readFileSync(path.join(root, 'node_modules', 'zeromq', 'build', 'linux', 'x64', 'node', 'glibc-127-Release', 'addon.node'));
  assert.ok(bytes.equals(shipped), 'the extracted addon differs from zeromq\'s linux-x64 build');
}, { timeout: 120_000 });

test.run();
