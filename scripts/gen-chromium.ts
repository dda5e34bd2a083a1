// A generated Chromium-sized project that really builds: a gn-style manifest (a toolchain rules
// file `include`d, one `subninja` per target with target-level defines/include_dirs/cflags,
// per-edge bindings, depfiles with `deps = gcc`, code-generating actions, static libraries and
// links through rspfiles, a link pool, stamps and copies), real (empty) source files, and a fake
// compiler: a small C program compiled once into the project, which writes every output it is
// given and a depfile naming the source and 8 of 200 shared headers. The layout is the one of
// scripts/bench-ninja-parse.ts (about 45 build statements per target), made buildable.
//
//   import { generateChromium } from './gen-chromium.ts';
//   const g = generateChromium(dir, 90_000);   // g.out is the build dir (build.ninja)
//
//   node scripts/gen-chromium.ts DIR [statements]   writes one to DIR

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const PER_TARGET = 45;

/** The fake compiler: `fakecc [args...] -o OUT [-o OUT2...] [-MF DEPFILE] [-c SRC]`. */
const FAKECC = String.raw`
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static unsigned hash(const char *s) {
  unsigned h = 2166136261u;
  while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
  return h;
}

int main(int argc, char **argv) {
  const char *outs[16];
  int nouts = 0;
  const char *dep = 0, *src = 0;
  for (int i = 1; i < argc; i++) {
    if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) && i + 1 < argc && nouts < 16) outs[nouts++] = argv[++i];
    else if ((!strcmp(argv[i], "-MF") || !strcmp(argv[i], "--depfile")) && i + 1 < argc) dep = argv[++i];
    else if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--in")) && i + 1 < argc) src = argv[++i];
  }
  long size = -1;
  if (src) {
    struct stat st;
    if (stat(src, &st) != 0) { perror(src); return 1; }
    size = (long)st.st_size;
  }
  for (int i = 0; i < nouts; i++) {
    FILE *f = fopen(outs[i], "w");
    if (!f) { perror(outs[i]); return 1; }
    fprintf(f, "fake output %s of %s (%ld bytes)\n", outs[i], src ? src : "-", size);
    fclose(f);
  }
  if (dep && nouts > 0) {
    FILE *f = fopen(dep, "w");
    if (!f) { perror(dep); return 1; }
    fprintf(f, "%s:", outs[0]);
    if (src) fprintf(f, " %s", src);
    unsigned h = hash(outs[0]);
    for (int k = 0; k < 8; k++) fprintf(f, " \\\n  ../src/base/h%u.h", (h + k * 37u) % 200u);
    fprintf(f, "\n");
    fclose(f);
  }
  return 0;
}
`;

function list(prefix: string, n: number, f: (i: number) => string): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(prefix + f(i));
  return parts.join(' ');
}

export interface Generated {
  /** The build directory (holds build.ninja). */
  out: string;
  statements: number;
  targets: number;
  /** A source file (relative to `out`) that one object compiles. */
  oneSource: string;
  /** The object compiled from it. */
  oneObject: string;
}

/** Writes the project under `dir` (src/, tools/, out/) with about `wanted` build statements. */
export function generateChromium(dir: string, wanted = 90_000): Generated {
  const targets = Math.max(1, Math.round(wanted / PER_TARGET));
  const out = path.join(dir, 'out');
  const src = path.join(dir, 'src');
  fs.mkdirSync(out, { recursive: true });
  fs.mkdirSync(path.join(src, 'base'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'tools'), { recursive: true });
  for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(src, 'base', `h${i}.h`), '');
  fs.writeFileSync(path.join(dir, 'tools', 'gen.py'), '# the code generator (the fake compiler does its work)\n');
  fs.writeFileSync(path.join(dir, 'tools', 'link_wrapper.py'), '# the link wrapper\n');
  fs.writeFileSync(path.join(dir, 'tools', 'fakecc.c'), FAKECC);
  const cc = spawnSync('cc', ['-O2', '-o', path.join(dir, 'tools', 'fakecc'), path.join(dir, 'tools', 'fakecc.c')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`compiling the fake compiler failed: ${cc.stderr}`);

  let statements = 0;
  const FCC = '../tools/fakecc';
  fs.writeFileSync(path.join(out, 'toolchain.ninja'), `# Toolchain rules, like gn's toolchain.ninja.
rule cc
  command = ${FCC} -MMD -MF $out.d $defines $include_dirs $cflags $cflags_c -c $in -o $out
  description = CC $out
  depfile = $out.d
  deps = gcc
rule cxx
  command = ${FCC} -MMD -MF \${out}.d \${defines} \${include_dirs} \${cflags} \${cflags_cc} -c \${in} -o \${out}
  description = CXX \${out}
  depfile = \${out}.d
  deps = gcc
rule alink
  command = rm -f $out && ${FCC} ar $arflags rcsD -o $out @$rspfile
  description = AR $out
  rspfile = $out.rsp
  rspfile_content = $in
rule link
  command = ${FCC} link --wrapper=../tools/link_wrapper.py $ldflags -o $out -Wl,--start-group @$rspfile $solibs -Wl,--end-group $libs
  description = LINK $out
  rspfile = $out.rsp
  rspfile_content = $in
  pool = link_pool
rule stamp
  command = touch $out
  description = STAMP $out
rule copy
  command = ln -f $in $out 2>/dev/null || (rm -rf $out && cp -af $in $out)
  description = COPY $in $out
`);
  const defines = list('-D', 40, (i) => `FEATURE_${i}=${i % 3}`);
  const includeDirs = list('-I', 40, (i) => `../src/third_party/lib${i}/include`) + ' -Igen -I../src';
  const cflags = list('-', 30, (i) => `fflag-number-${i}`) + ' -Wall -Werror -O2';
  const finals: string[] = [];
  const top: string[] = [
    'ninja_required_version = 1.7.2',
    'builddir = .',
    'pool link_pool',
    '  depth = 4',
    'include toolchain.ninja',
  ];
  for (let t = 0; t < targets; t++) {
    const sdir = path.join(src, `dir${t}`);
    fs.mkdirSync(sdir, { recursive: true });
    fs.mkdirSync(path.join(src, 'data', `dir${t}`), { recursive: true });
    const d = `obj/dir${t % 97}/t${t}`;
    const lines: string[] = [
      `defines = ${defines} -DTARGET_${t}`,
      `include_dirs = ${includeDirs}`,
      `cflags = ${cflags}`,
      'cflags_c = -std=c11',
      'cflags_cc = -std=c++20 -fno-exceptions -fno-rtti',
      `label_name = t${t}`,
      `target_out_dir = obj/dir${t % 97}`,
      `target_output_name = t${t}`,
      '',
      `rule __t${t}_action___rule`,
      `  command = ${FCC} gen ../tools/gen.py --in $in -o gen/dir${t}/$name.h -o gen/dir${t}/$name.cc --depfile $depfile`,
      `  description = ACTION //dir${t % 97}:t${t}_action`,
      '',
    ];
    const dep = t > 0 ? `obj/dir${(t - 1) % 97}/t${t - 1}.stamp` : '';
    const objs: string[] = [];
    // 2 generated headers (actions with depfiles), 38 C++ objects, 2 C objects, 1 copy.
    for (let k = 0; k < 2; k++) {
      fs.writeFileSync(path.join(sdir, `api_${k}.idl`), '');
      lines.push(`build gen/dir${t}/gen_${k}.h gen/dir${t}/gen_${k}.cc: __t${t}_action___rule ../src/dir${t}/api_${k}.idl | ../tools/gen.py ../tools/fakecc`);
      lines.push(`  name = gen_${k}`);
      lines.push(`  depfile = gen/dir${t}/gen_${k}.d`);
      statements++;
    }
    for (let k = 0; k < 38; k++) {
      const o = `${d}/file_${k}.o`;
      objs.push(o);
      fs.writeFileSync(path.join(sdir, `file_${k}.cc`), '');
      lines.push(`build ${o}: cxx ../src/dir${t}/file_${k}.cc | ../tools/fakecc || gen/dir${t}/gen_0.h gen/dir${t}/gen_1.h${dep ? ' ' + dep : ''}`);
      lines.push(`  source_file_part = file_${k}.cc`);
      lines.push(`  source_name_part = file_${k}`);
      if (k % 10 === 0) lines.push(`  cflags_cc = $cflags_cc -DSPECIAL_${k}`);
      statements++;
    }
    for (let k = 0; k < 2; k++) {
      const o = `${d}/cfile_${k}.o`;
      objs.push(o);
      fs.writeFileSync(path.join(sdir, `cfile_${k}.c`), '');
      lines.push(`build ${o}: cc ../src/dir${t}/cfile_${k}.c | ../tools/fakecc`);
      statements++;
    }
    fs.writeFileSync(path.join(src, 'data', `dir${t}`, 'data.bin'), `data ${t}\n`);
    lines.push(`build gen/dir${t}/data.bin: copy ../src/data/dir${t}/data.bin`);
    const lib = `obj/dir${t % 97}/libt${t}.a`;
    lines.push(`build ${lib}: alink ${objs.join(' ')} || gen/dir${t}/data.bin`);
    lines.push('  arflags = -T');
    const stamp = `obj/dir${t % 97}/t${t}.stamp`;
    lines.push(`build ${stamp}: stamp ${lib}`);
    statements += 3;
    if (t % 20 === 19) {
      const exe = `bin/exe${t}`;
      const libs: string[] = [];
      for (let j = t - 19; j <= t; j++) libs.push(`obj/dir${j % 97}/libt${j}.a`);
      lines.push(`build ${exe}: link ${objs.slice(0, 4).join(' ')} ${libs.join(' ')} | ../tools/link_wrapper.py ../tools/fakecc`);
      lines.push('  ldflags = -fuse-ld=lld -Wl,--icf=all -Wl,-z,relro -pie');
      lines.push('  libs = -ldl -lpthread -lrt');
      lines.push('  solibs =');
      finals.push(exe);
      statements++;
    }
    lines.push('');
    fs.mkdirSync(path.join(out, 'obj'), { recursive: true });
    fs.writeFileSync(path.join(out, `obj/t${t}.ninja`), lines.join('\n'));
    top.push(`subninja obj/t${t}.ninja`);
  }
  // Targets not reached by a link still get built: `all` names every stamp too, like gn's.
  const stamps: string[] = [];
  for (let t = 0; t < targets; t++) stamps.push(`obj/dir${t % 97}/t${t}.stamp`);
  top.push(`build all: phony ${finals.join(' ')} ${stamps.join(' ')}`, 'default all', '');
  statements++;
  fs.writeFileSync(path.join(out, 'build.ninja'), top.join('\n'));
  return { out, statements, targets, oneSource: '../src/dir0/file_1.cc', oneObject: 'obj/dir0/t0/file_1.o' };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === import.meta.filename) {
  const dir = process.argv[2];
  if (dir === undefined) {
    process.stderr.write('usage: node scripts/gen-chromium.ts DIR [statements]\n');
    process.exit(2);
  }
  const g = generateChromium(path.resolve(dir), Number(process.argv[3] ?? 90_000));
  process.stdout.write(`${g.statements} build statements, ${g.targets} targets: ${g.out}/build.ninja\n`);
}
