// Micro benchmark of the Ninja manifest parser against ninja itself: generates a Chromium-sized
// manifest (gn-style: a toolchain rules file, one subninja per target with file-level
// defines/include_dirs/cflags, per-edge bindings, depfiles, actions, links with long input lists)
// in a temp dir, then prints the median of 5 parses by parseManifest (in this process, and in
// fresh processes, which is what a build pays) and the median of 5 `ninja -C dir -t targets all`
// runs (process wall time: ninja's load, plus its tiny start-up and printing the targets).
//
//   node scripts/bench-ninja-parse.ts [statements=90000] [--keep]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseManifest } from '../src/ninja-parser.ts';

const args = process.argv.slice(2);
const keep = args.includes('--keep');
const wanted = Number(args.find((a) => /^\d+$/.test(a)) ?? 90_000);
const PER_TARGET = 45;
const targets = Math.max(1, Math.round(wanted / PER_TARGET));

function list(prefix: string, n: number, f: (i: number) => string): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(prefix + f(i));
  return parts.join(' ');
}

function generate(dir: string): number {
  let statements = 0;
  const rules = `# Toolchain rules, like gn's toolchain.ninja.
rule cc
  command = ../../third_party/llvm-build/Release+Asserts/bin/clang -MMD -MF $out.d $defines $include_dirs $cflags $cflags_c -c $in -o $out
  description = CC $out
  depfile = $out.d
  deps = gcc
rule cxx
  command = ../../third_party/llvm-build/Release+Asserts/bin/clang++ -MMD -MF \${out}.d \${defines} \${include_dirs} \${cflags} \${cflags_cc} -c \${in} -o \${out}
  description = CXX \${out}
  depfile = \${out}.d
  deps = gcc
rule alink
  command = rm -f $out && ../../third_party/llvm-build/Release+Asserts/bin/llvm-ar $arflags -r -c -s -D $out @$rspfile
  description = AR $out
  rspfile = $out.rsp
  rspfile_content = $in
rule link
  command = python3 ../../build/toolchain/gcc_link_wrapper.py --output=$out -- ../../third_party/llvm-build/Release+Asserts/bin/clang++ $ldflags -o $out -Wl,--start-group @$rspfile $solibs -Wl,--end-group $libs
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
`;
  fs.writeFileSync(path.join(dir, 'toolchain.ninja'), rules);
  const defines = list('-D', 40, (i) => `FEATURE_${i}=${i % 3}`);
  const includeDirs = list('-I', 40, (i) => `../../third_party/lib${i}/include`) + ' -Igen -I../..';
  const cflags = list('-', 30, (i) => `fflag-number-${i}`) + ' -Wall -Werror -O2';
  fs.mkdirSync(path.join(dir, 'obj'));
  const finals: string[] = [];
  const top: string[] = [
    'ninja_required_version = 1.7.2',
    'builddir = .',
    'pool link_pool',
    '  depth = 4',
    'include toolchain.ninja',
  ];
  for (let t = 0; t < targets; t++) {
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
      `  command = python3 ../../tools/gen.py --in $in --out $out --depfile $depfile`,
      `  description = ACTION //dir${t % 97}:t${t}_action`,
      '',
    ];
    const dep = t > 0 ? `obj/dir${(t - 1) % 97}/t${t - 1}.stamp` : '';
    const objs: string[] = [];
    // 2 generated headers (actions with depfiles), 38 C++ objects, 2 C objects, 1 copy.
    for (let k = 0; k < 2; k++) {
      lines.push(`build gen/dir${t}/gen_${k}.h gen/dir${t}/gen_${k}.cc: __t${t}_action___rule ../../src/dir${t}/api_${k}.idl | ../../tools/gen.py ../../tools/gen_lib.py`);
      lines.push(`  depfile = gen/dir${t}/gen_${k}.d`);
      statements++;
    }
    for (let k = 0; k < 38; k++) {
      const o = `${d}/file_${k}.o`;
      objs.push(o);
      lines.push(`build ${o}: cxx ../../src/dir${t}/file_${k}.cc || gen/dir${t}/gen_0.h gen/dir${t}/gen_1.h${dep ? ' ' + dep : ''}`);
      lines.push(`  source_file_part = file_${k}.cc`);
      lines.push(`  source_name_part = file_${k}`);
      if (k % 10 === 0) lines.push(`  cflags_cc = $cflags_cc -DSPECIAL_${k}`);
      statements++;
    }
    for (let k = 0; k < 2; k++) {
      const o = `${d}/cfile_${k}.o`;
      objs.push(o);
      lines.push(`build ${o}: cc ../../src/dir${t}/cfile_${k}.c`);
      statements++;
    }
    lines.push(`build gen/dir${t}/data.bin: copy ../../data/dir${t}/data.bin`);
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
      lines.push(`build ${exe}: link ${objs.slice(0, 4).join(' ')} ${libs.join(' ')} | ../../build/toolchain/gcc_link_wrapper.py`);
      lines.push('  ldflags = -fuse-ld=lld -Wl,--icf=all -Wl,-z,relro -pie');
      lines.push('  libs = -ldl -lpthread -lrt');
      lines.push('  solibs =');
      finals.push(exe);
      statements++;
    }
    lines.push('');
    fs.mkdirSync(path.join(dir, path.dirname(`obj/t${t}.ninja`)), { recursive: true });
    fs.writeFileSync(path.join(dir, `obj/t${t}.ninja`), lines.join('\n'));
    top.push(`subninja obj/t${t}.ninja`);
  }
  top.push(`build all: phony ${finals.join(' ')}`, 'default all', '');
  statements++;
  fs.writeFileSync(path.join(dir, 'build.ninja'), top.join('\n'));
  return statements;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** One parse of `dir`'s manifest, timed from the first read to the finished manifest. */
function timeParse(dir: string): { ms: number; bytes: number; edges: number } {
  let bytes = 0;
  const t0 = performance.now();
  const m = parseManifest('build.ninja', {
    readFile: (p) => {
      const s = fs.readFileSync(path.join(dir, p), 'utf8');
      bytes += s.length;
      return s;
    },
  });
  return { ms: performance.now() - t0, bytes, edges: m.edges.length };
}

if (args[0] === '--child') {
  // A fresh process parsing once, as `b` does: includes JIT warm-up and heap growth.
  process.stdout.write(`${timeParse(args[1]!).ms}\n`);
  process.exit(0);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'b-bench-ninja-'));
try {
  const statements = generate(dir);
  let info = { ms: 0, bytes: 0, edges: 0 };
  const warm: number[] = [];
  for (let i = 0; i < 5; i++) {
    info = timeParse(dir);
    warm.push(info.ms);
  }
  const cold: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = spawnSync(process.execPath, [import.meta.filename, '--child', dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
    cold.push(Number(r.stdout));
  }
  const theirs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const r = spawnSync('ninja', ['-C', dir, '-t', 'targets', 'all'], { stdio: ['ignore', 'ignore', 'pipe'] });
    theirs.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`ninja failed: ${r.stderr?.toString()}`);
  }
  const fmt = (xs: number[]): string => `median ${median(xs).toFixed(0)} ms  (${xs.map((x) => x.toFixed(0)).join(', ')})`;
  const b = median(theirs);
  process.stdout.write(
    `manifest: ${statements} build statements (${info.edges} edges), ${targets + 2} files, ${(info.bytes / 1e6).toFixed(1)} MB\n` +
    `parseManifest, in one process:   ${fmt(warm)}  ratio ${(median(warm) / b).toFixed(2)}\n` +
    `parseManifest, fresh process:    ${fmt(cold)}  ratio ${(median(cold) / b).toFixed(2)}\n` +
    `ninja -t targets all (process):  ${fmt(theirs)}\n` +
    (keep ? `kept ${dir}\n` : ''),
  );
} finally {
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
}
