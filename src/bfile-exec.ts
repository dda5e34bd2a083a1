// A Bfile `run()` executed in place, worker side: the build host (bfile-action.ts) placed the
// action on this machine. The command runs as the rule would have run it itself (same cwd, same
// environment on top of the worker's), and the depfile it wrote, if any, is read so that the
// action cache can record the headers it read. The outputs are left where the command wrote
// them: the build host hashes and records them.

import * as fs from 'node:fs';
import { execCommand } from './exec.ts';
import { parseDepfile } from './depfile.ts';
import type { RunResult, RunWork } from './messages.ts';
import type { TaskContext } from './task-context.ts';

export async function runHere(w: RunWork, ctx: Pick<TaskContext, 'signal' | 'wait'>): Promise<RunResult> {
  const r = await ctx.wait(execCommand({
    ...(w.argv !== undefined ? { argv: w.argv } : { shell: w.shell ?? '' }),
    cwd: w.cwd,
    ...(w.env !== undefined ? { env: w.env } : {}),
    splitStdout: true,
  }, ctx.signal));
  const out: RunResult = { exit: r.exit, output: r.output, stdout: r.stdout ?? '', deps: [] };
  if (r.signal) out.signal = r.signal;
  if (r.spawnError !== undefined) out.spawnError = r.spawnError;
  if (r.exit !== 0 || r.spawnError !== undefined || w.depfile === '') return out;
  try {
    out.deps = parseDepfile(fs.readFileSync(w.depfile, 'utf8')).ins;
  } catch (e) {
    // No depfile is no dependencies (as Ninja); one that does not parse is not cached.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') out.depsError = `${w.depfile}: ${(e as Error).message}`;
  }
  return out;
}
