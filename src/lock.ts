// The build lock of a database directory (.b/lock): two builds never share a database. It holds
// the pid of the b that builds; a lock whose owner died (SIGKILL) is taken over.

import * as fs from 'node:fs';
import * as path from 'node:path';

export const NESTED = 'nested';

/**
 * Takes the build lock of `dbDir` as a build does: the unlock function; an error message when
 * another b holds it; 'nested' when the b holding it is the build this process runs under
 * (CMake's regeneration step runs `ninja -t restat` and `-t recompact` from inside the build).
 */
export function lockDb(dbDir: string): (() => void) | string {
  fs.mkdirSync(dbDir, { recursive: true });
  const file = path.join(dbDir, 'lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      return () => {
        try {
          fs.unlinkSync(file); // not rmSync: its first call loads rimraf (~20 ms of a no-op build)
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let pid = 0;
      try {
        pid = Number(fs.readFileSync(file, 'utf8').trim());
      } catch {
        pid = 0;
      }
      let alive = false;
      try {
        alive = pid > 0 && pid !== process.pid && (process.kill(pid, 0), true);
      } catch {
        alive = false;
      }
      if (alive && String(pid) === process.env.B_BUILD_PID) return NESTED;
      if (alive) return `another b (pid ${pid}) is building in ${path.dirname(dbDir)}`;
      fs.rmSync(file, { force: true }); // stale: its owner died
    }
  }
  return `cannot lock ${file}`;
}


