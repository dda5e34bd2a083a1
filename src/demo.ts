// `b demo` and `b init`. The demo writes a small project (a C program when a C compiler is
// installed, a text pipeline otherwise), builds it, runs the result, then shows what an
// incremental build does: nothing when nothing changed, exactly the affected rules after an edit.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BFILE_DTS, STARTER_BFILE } from './bfile-types.ts';
import { buildCmd } from './cmd-build.ts';
import { UserError } from './errors.ts';
import type { Logger } from './logger.ts';

export const C_PROJECT: Record<string, string> = {
  'Bfile.ts': `/// <reference path="./b.d.ts" />
// Compiles a C program from several sources. Headers are not listed anywhere: each compile
// writes a depfile (-MD) and the rule needs the headers it names *after* compiling, so editing
// a header rebuilds exactly the objects that include it.
import type { B } from 'b';

const sources = ['main', 'greet', 'mathx'];
const objects = sources.map((s) => \`obj/\${s}.o\`);

export default (b: B) => {
  b.default('hello');

  b.rule('hello', async ({ need, run, env, out }) => {
    await need(objects);
    const cc = (await env('CC')) ?? 'cc';
    await run(\`\${cc} -o \${out} \${objects.join(' ')}\`);
  });

  b.rule('obj/%.o', async ({ stem, out, need, run, env, needDepfile }) => {
    const src = \`src/\${stem}.c\`;
    await need(src);
    const cc = (await env('CC')) ?? 'cc';
    await run(\`mkdir -p obj && \${cc} -O2 -Iinclude -c \${src} -o \${out} -MD -MF \${out}.d\`);
    await needDepfile(\`\${out}.d\`);
  });
};
`,
  'include/greet.h': '#pragma once\nvoid greet(const char *who);\n',
  'include/mathx.h': '#pragma once\nint triangle(int n);\n',
  'include/version.h': '#pragma once\n#define HELLO_VERSION "1.0"\n',
  'src/main.c': `#include <stdio.h>
#include "greet.h"
#include "mathx.h"
#include "version.h"

int main(void) {
  greet("B");
  printf("triangle(10) = %d (hello %s)\\n", triangle(10), HELLO_VERSION);
  return 0;
}
`,
  'src/greet.c': '#include <stdio.h>\n#include "greet.h"\n\nvoid greet(const char *who) { printf("Hello from %s!\\n", who); }\n',
  'src/mathx.c': '#include "mathx.h"\n\nint triangle(int n) { return n * (n + 1) / 2; }\n',
};

export const TEXT_PROJECT: Record<string, string> = {
  'Bfile.ts': `/// <reference path="./b.d.ts" />
// A text pipeline with no compiler: each chapter is upper-cased, then all are joined.
import type { B } from 'b';

const chapters = ['one', 'two', 'three'];

export default (b: B) => {
  b.default('book.txt');

  b.rule('book.txt', async ({ need, read, write, out }) => {
    const parts = chapters.map((c) => \`out/\${c}.txt\`);
    await need(parts);
    const texts = await Promise.all(parts.map((p) => read(p)));
    await write(out, texts.join(''));
  });

  b.rule('out/%.txt', async ({ stem, out, read, write }) => {
    const text = await read(\`chapters/\${stem}.txt\`);
    await write(out, text.toUpperCase());
  });
};
`,
  'chapters/one.txt': 'it was a dark and stormy night.\n',
  'chapters/two.txt': 'the build finished in no time.\n',
  'chapters/three.txt': 'and nothing ran twice.\n',
};

function hasCompiler(): boolean {
  try {
    execFileSync(process.env.CC ?? 'cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function writeProject(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    const f = path.join(dir, name);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text);
  }
  fs.writeFileSync(path.join(dir, 'b.d.ts'), BFILE_DTS);
}

export async function demoCmd(target: string | undefined, o: { jobs?: number }, log: Logger): Promise<number> {
  const keep = target !== undefined;
  const dir = keep ? path.resolve(target) : fs.mkdtempSync(path.join(os.tmpdir(), 'b-demo-'));
  if (keep && fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
    throw new UserError({ code: 'usage', message: `${dir} is not empty`, hint: 'give b demo a new or empty directory' });
  }
  const c = hasCompiler();
  try {
    writeProject(dir, c ? C_PROJECT : TEXT_PROJECT);
    log.info(`demo project (${c ? 'C program' : 'text pipeline: no C compiler found'}) in ${dir}`);
    log.info('1. first build: every rule runs');
    let code = await buildCmd([], { dir, ...(o.jobs !== undefined ? { jobs: o.jobs } : {}) }, log);
    if (code !== 0) return code;
    if (c) log.out(execFileSync(path.join(dir, 'hello'), { encoding: 'utf8' }).trimEnd());
    else log.out(fs.readFileSync(path.join(dir, 'book.txt'), 'utf8').trimEnd());
    log.info('2. build again: nothing changed, nothing runs');
    code = await buildCmd([], { dir }, log);
    if (code !== 0) return code;
    const edit = c ? 'include/mathx.h' : 'chapters/two.txt';
    fs.appendFileSync(path.join(dir, edit), c ? '/* edited */\n' : 'a new line.\n');
    log.info(`3. after editing ${edit}: only what depends on it runs`);
    code = await buildCmd([], { dir, explain: true }, log);
    if (code === 0 && keep) log.info(`the project stays in ${dir}: edit it and run \`b build -C ${dir}\``);
    return code;
  } finally {
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function initCmd(dir: string, log: Logger): number {
  const d = path.resolve(dir);
  fs.mkdirSync(d, { recursive: true });
  const bfile = path.join(d, 'Bfile.ts');
  if (fs.existsSync(bfile)) throw new UserError({ code: 'usage', message: `${bfile} already exists`, hint: 'b init only writes a new Bfile' });
  fs.writeFileSync(bfile, STARTER_BFILE);
  fs.writeFileSync(path.join(d, 'b.d.ts'), BFILE_DTS);
  if (!fs.existsSync(path.join(d, 'greeting.txt'))) fs.writeFileSync(path.join(d, 'greeting.txt'), 'Hello\n');
  log.info(`wrote ${path.relative(process.cwd(), bfile) || 'Bfile.ts'}, b.d.ts (types for editors) and greeting.txt; run \`b build\``);
  return 0;
}
