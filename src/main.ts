// Entry point of the `b` executable (and of `deno run -A src/main.ts`).

import { installSignalHandlers } from './signals.ts';
import * as path from 'node:path';
import { run } from './cli.ts';
import { Logger } from './logger.ts';

// Before anything slow: a Ctrl-C during start-up ends B with status 130 (signals.ts).
if (process.env.B_SPAWNER !== '1') installSignalHandlers();

/**
 * Invoked as `ninja` (a symlink or copy named ninja, ninja.exe or ninja-build): B is Ninja then,
 * command line and all. The name is argv[0] as the user ran it; in a single executable, argv[1]
 * and the executable path are checked too, and for `node b.cjs` argv[1] is the script.
 */
function ninjaName(): string | undefined {
  const isNinja = (p: string | undefined): boolean => p !== undefined && /^ninja(-build)?(\.exe)?$/i.test(path.basename(p));
  if (isNinja(process.argv0)) return process.argv0;
  if (isNinja(process.argv[1])) return 'ninja';
  if (isNinja(process.execPath)) return 'ninja';
  return undefined;
}

// Node prints warnings about experimental features B relies on (type stripping of Bfile.ts,
// loading a Bfile next to a package.json without "type") to stderr; they are noise to a user.
process.removeAllListeners('warning');
process.on('warning', (w: Error & { code?: string }) => {
  if (w.name === 'ExperimentalWarning' || w.code === 'MODULE_TYPELESS_PACKAGE_JSON') return;
  new Logger().warn(w.message);
});

const asNinja = ninjaName();
// The spawn helper (spawn-helper.ts) is this program started again with B_SPAWNER=1.
const spawner = process.env.B_SPAWNER === '1';
const main = spawner
  ? import('./spawn-helper.ts').then((m) => {
    m.serveSpawner();
    return new Promise<number>(() => {}); // it exits when B closes its stdin
  })
  : asNinja !== undefined
  ? import('./ninja-cli.ts').then((m) => m.runNinja(process.argv.slice(2), new Logger(), asNinja))
  : run(process.argv.slice(2));
main.then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    new Logger().fatal(e);
    process.exitCode = 70;
  },
);
