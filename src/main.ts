// Entry point of the `b` executable (and of `deno run -A src/main.ts`).

import { run } from './cli.ts';
import { Logger } from './logger.ts';

// Node prints warnings about experimental features B relies on (type stripping of Bfile.ts,
// loading a Bfile next to a package.json without "type") to stderr; they are noise to a user.
process.removeAllListeners('warning');
process.on('warning', (w: Error & { code?: string }) => {
  if (w.name === 'ExperimentalWarning' || w.code === 'MODULE_TYPELESS_PACKAGE_JSON') return;
  new Logger().warn(w.message);
});

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    new Logger().fatal(e);
    process.exitCode = 70;
  },
);
