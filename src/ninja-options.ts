// What one ninja invocation was asked (its flags), and strerror(3)'s words: shared by the Ninja
// command line (ninja-cli.ts) and its -t tools, which must not import the command line back.

/** Options of one ninja invocation, as ReadFlags leaves them. */
export interface NinjaOptions {
  /** The program name for getopt's messages (argv[0], or "ninja" for `b ninja`). */
  prog: string;
  file: string;
  dir: string | undefined;
  tool: string | undefined;
  jobs: number | undefined;
  /** 0: no limit. */
  keepGoing: number;
  loadAverage: number | undefined;
  dryRun: boolean;
  verbose: boolean;
  quiet: boolean;
  explain: boolean;
  stats: boolean;
  keepDepfile: boolean;
  keepRsp: boolean;
  phonyCycleErr: boolean;
  eventsFile: string | undefined;
  /** Targets, or the tool's arguments. */
  args: string[];
}

/** The text of a system error as strerror(3) words it. */
export function strerror(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    ENOENT: 'No such file or directory', ENOTDIR: 'Not a directory', EACCES: 'Permission denied',
    EPERM: 'Operation not permitted', ENOTEMPTY: 'Directory not empty', EISDIR: 'Is a directory',
    EBUSY: 'Device or resource busy', EEXIST: 'File exists', EROFS: 'Read-only file system',
  };
  return (code !== undefined ? words[code] : undefined) ?? (e as Error).message;
}
