// `npm start [-- ARGS]`: builds this machine's executable if it is missing or older than the
// sources, then runs it with ARGS (default: `demo`, a real build of the bundled example).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const os = process.platform === 'darwin' ? 'macos' : process.platform === 'win32' ? 'win' : process.platform;
const exe = path.join(root, 'dist', `b-${os}-${process.arch}${process.platform === 'win32' ? '.exe' : ''}`);

function newest(dir: string): number {
  let t = 0;
  for (const f of fs.readdirSync(dir)) t = Math.max(t, fs.statSync(path.join(dir, f)).mtimeMs);
  return t;
}

// Sources and the build script itself (it decides what goes into the executable).
const inputs = Math.max(newest(path.join(root, 'src')), fs.statSync(path.join(root, 'scripts', 'build.ts')).mtimeMs);
if (!fs.existsSync(exe) || fs.statSync(exe).mtimeMs < inputs) {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.ts'), '--host'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const args = process.argv.slice(2);
const r = spawnSync(exe, args.length > 0 ? args : ['demo'], { stdio: 'inherit' });
process.exitCode = r.status ?? 1;
