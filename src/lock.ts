// The build lock of a database directory (.b/lock): two builds never share a database. It holds
// the pid of the b that builds; a lock whose owner died (SIGKILL) is taken over.
//
// Taking it is one link(2) of a temp file that already holds our pid: link is atomic and fails
// with EEXIST if the lock exists, so the lock never exists without its pid. (The old way, an
// O_EXCL create followed by a write, had a window where the file was empty: a second build read
// no pid, took it for a dead owner's lock, removed it and took it too; 2-3 pairs in 20 started
// at the same instant both built.) A stale lock is moved aside by rename(2) and checked to be the
// same inode we judged dead before it is removed; if a live build's lock was moved instead (it
// took the lock between our read and our rename), it is linked back.

import * as fs from 'node:fs';
import * as path from 'node:path';

export const NESTED = 'nested';

function alive(pid: number): boolean {
  try {
    return pid > 0 && (process.kill(pid, 0), true);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(file: string): { pid: number; ino: number } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const ino = fs.fstatSync(fd).ino;
    const buf = Buffer.alloc(32);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const pid = Number(buf.toString('utf8', 0, n).trim());
    return { pid: Number.isInteger(pid) ? pid : 0, ino };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Takes the build lock of `dbDir` as a build does: the unlock function; an error message when
 * another b holds it; 'nested' when the b holding it is the build this process runs under
 * (CMake's regeneration step runs `ninja -t restat` and `-t recompact` from inside the build).
 */
export function lockDb(dbDir: string): (() => void) | string {
  fs.mkdirSync(dbDir, { recursive: true });
  const file = path.join(dbDir, 'lock');
  const unique = (what: string): string => `${file}.${what}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  const mine = unique('new');
  fs.writeFileSync(mine, String(process.pid), { flag: 'wx', mode: 0o644 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        fs.linkSync(mine, file);
        const ino = fs.statSync(mine).ino;
        return () => {
          // Only our own lock: a build that (wrongly) took it over must not lose it to us.
          if (readLock(file)?.ino === ino) fs.rmSync(file, { force: true });
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const held = readLock(file);
      if (held === undefined) continue; // released meanwhile: try again
      if (held.pid !== process.pid && alive(held.pid)) {
        if (String(held.pid) === process.env.B_BUILD_PID) return NESTED;
        return `another b (pid ${held.pid}) is building in ${path.dirname(dbDir)}`;
      }
      // Stale: its owner died. Move it aside, then make sure it is the one we judged.
      const aside = unique('stale');
      try {
        fs.renameSync(file, aside);
      } catch {
        continue; // someone else moved it first
      }
      const moved = readLock(aside);
      if (moved !== undefined && moved.ino !== held.ino) {
        // A live build took the lock between our read and our rename: give it back.
        try {
          fs.linkSync(aside, file);
        } catch {
          // a third build took it meanwhile; the live owner's unlock checks the inode
        }
      }
      fs.rmSync(aside, { force: true });
    }
    return `cannot lock ${file}`;
  } finally {
    fs.rmSync(mine, { force: true });
  }
}
