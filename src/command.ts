// What a command is, for everything that runs one: the request (shell line or argv, directory,
// environment, capture) and its result. A leaf module: exec.ts runs commands, spawner.ts and
// spawn-helper.ts pass them to the helper process, and work items carry them.

export interface ExecRequest {
  /** Run through the shell (`/bin/sh -c` or `cmd /c`), as Ninja does with rule commands. */
  shell?: string;
  /** Or run this argv directly, without a shell. */
  argv?: string[];
  cwd?: string;
  /** Extra environment on top of the worker's environment. */
  env?: Record<string, string>;
  /** Give the command the terminal (Ninja's console pool): no capture, same process group. */
  console?: boolean;
  /** Bytes of output kept; beyond this the middle is elided. */
  maxOutput?: number;
  /** Also return stdout on its own (Bfile `run` returns it to the rule). */
  splitStdout?: boolean;
}

export interface ExecResult {
  /** Exit status; -1 if the command could not start or died of a signal. */
  exit: number;
  signal?: string;
  /** stdout and stderr as one interleaved stream. */
  output: string;
  /** stdout alone, when asked for with splitStdout. */
  stdout?: string;
  /** Wall-clock start and end, ms since the epoch (used by tests to observe overlap). */
  start: number;
  end: number;
  /** Set when the command could not be started at all. */
  spawnError?: string;
}
