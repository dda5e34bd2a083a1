// Which build file a directory has: -f wins, then Bfile.ts/.js/.mjs, then build.ninja.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from './errors.ts';

/** Finds the build file of a directory. */
export function findBuildFile(dir: string, file: string | undefined): string {
  if (file !== undefined) {
    const f = path.resolve(dir, file);
    if (!fs.existsSync(f)) throw new UserError({ code: 'buildfile.missing', message: `build file ${f} does not exist`, exitCode: 2 });
    return f;
  }
  for (const name of ['Bfile.ts', 'Bfile.js', 'Bfile.mjs', 'build.ninja']) {
    const f = path.join(dir, name);
    if (fs.existsSync(f)) return f;
  }
  throw new UserError({
    code: 'buildfile.missing',
    message: `no Bfile.ts, Bfile.js, Bfile.mjs or build.ninja in ${dir}`,
    hint: 'run `b init` to write a starter Bfile.ts, `b demo` to see an example, or pass -C DIR / -f FILE',
    exitCode: 2,
  });
}

