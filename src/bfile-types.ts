// The Bfile API as TypeScript declarations, written by `b init` next to the Bfile so editors
// type-check rules. Keep in sync with bfile.ts (registry) and bfile-run.ts (rule context).

export const BFILE_DTS = `// Types of the B build-file API (written by \`b init\`; safe to commit).
// Use in a Bfile.ts:   /// <reference path="./b.d.ts" />
//                      import type { B } from 'b';
declare module 'b' {
  /** The rule registry a Bfile's default export receives. */
  export interface B {
    /**
     * A rule that makes files. \`outputs\` is a path ("app") or a pattern with one % ("obj/%.o");
     * several outputs are made together by one run of the body.
     */
    rule(outputs: string | string[], body: (r: Rule) => Promise<void> | void): void;
    /** A named question whose answer is the value the body returns (JSON-serializable). */
    oracle<T>(name: string, body: (r: Rule) => Promise<T> | T): void;
    /** A named target that runs every time it is built (tests, deploys). */
    phony(name: string, body: (r: Rule) => Promise<void> | void): void;
    /** What \`b build\` builds when no target is named. */
    default(...targets: (string | string[])[]): void;
  }

  export interface RunOptions {
    /** Directory to run in, relative to the Bfile's directory. */
    cwd?: string;
    /** Extra environment variables; part of what the rule depends on. */
    env?: Record<string, string>;
    /**
     * Files this command writes (default: the rule's outputs, if its command line names them).
     * With other nodes (--node) or the action cache (--cache) a command is an action: these are
     * what comes back from the node that ran it, and what a cache hit restores.
     */
    outputs?: string | readonly string[];
    /** The depfile it writes (default: the file after -MF): comes back too, for needDepfile. */
    depfile?: string;
    /** false: never answered from, nor recorded in, the action cache (a command that reads the clock, the network...). */
    cache?: boolean;
    /** false: always runs on this machine, never on another node. */
    remote?: boolean;
  }

  /** What a rule body gets. Paths are relative to the Bfile's directory. */
  export interface Rule {
    /** The key being built: the first output, or the oracle/phony name. */
    readonly key: string;
    /** First output. */
    readonly out: string;
    /** All outputs. */
    readonly outs: readonly string[];
    /** What % matched in a pattern rule ("" otherwise). */
    readonly stem: string;
    /** Absolute path of the Bfile's directory. */
    readonly dir: string;
    /** Builds these files (in parallel) and records them as dependencies of this rule. */
    need(...files: (string | readonly string[])[]): Promise<void>;
    /** The answer of an oracle, recorded as a dependency. */
    ask<T = unknown>(name: string): Promise<T>;
    /** An environment variable of the build, recorded as a dependency. */
    env(name: string): Promise<string | undefined>;
    /**
     * Runs a command (a shell string, or an argv array without a shell). Its output is shown;
     * a non-zero exit fails the rule. Resolves with its stdout.
     */
    run(cmd: string | readonly string[], opts?: RunOptions): Promise<{ stdout: string; exit: number }>;
    /** Reads a Makefile-style depfile (cc -MD) and needs every file it lists. */
    needDepfile(file: string): Promise<void>;
    /** Needs a file and returns its text. */
    read(file: string): Promise<string>;
    /** Writes an output file. */
    write(file: string, content: string): Promise<void>;
    /** Adds a line to the rule's output. */
    log(...msg: unknown[]): void;
  }
}
`;

export const STARTER_BFILE = `/// <reference path="./b.d.ts" />
// B build file. Build with \`b build\`; see \`b build --help\`.
import type { B } from 'b';

export default (b: B) => {
  b.default('hello.txt');

  // A file rule: needs its inputs (recorded as dependencies), then writes its output.
  b.rule('hello.txt', async ({ need, read, write, out }) => {
    await need('greeting.txt');
    const greeting = (await read('greeting.txt')).trim();
    await write(out, \`\${greeting}, world\\n\`);
  });

  // A pattern rule: any *.upper.txt from the matching *.txt, with a command.
  b.rule('%.upper.txt', async ({ stem, out, need, run }) => {
    await need(\`\${stem}.txt\`);
    await run(\`tr a-z A-Z < \${stem}.txt > \${out}\`);
  });
};
`;
