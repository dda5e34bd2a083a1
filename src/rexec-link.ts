// Links and static archives as self-contained items (issue 13): which of them a node without this
// machine's files may run, and what it must report so that the result is the one a local run
// would have written. Pure (no processes, no files): the client's plan (planLink) and the node's
// command rewrite (withLinkTrace) both read the command the same way.
//
// Accepted, as CMake writes them: parts joined by `&&` only, each one of
//   `:` / `true`                         (CMake's empty $PRE_LINK and $POST_BUILD)
//   `[/usr/bin/]cmake -E rm -f FILE...`, `rm -f FILE...`
//   `ar OPS ARCHIVE FILE...`             OPS from qrcsD only (no T: a thin archive names its
//                                        members by path; no u/o/U: they read timestamps)
//   `ranlib ARCHIVE`
//   `cc ... -o OUT ...`                  a gcc/clang driver without -c/-S/-E
// with one archive (removed first: `ar q` and `ar r` add to an archive that exists, so a node's
// fresh one would differ from the client's updated one) or one link, never both.
//
// What a link reads beyond its declared inputs is searched for: `-lfoo` and `-T` scripts in the
// -L directories, then in the system's. A search directory in the project would find, on the
// node (which has only the shipped inputs), a system file the client never reads: a different
// binary. So -L, -rpath-link, -B, --sysroot and -T must name system directories or are refused,
// and so are the options that change the linker (-fuse-ld, LTO's jobserver-driven partitions,
// response files). The rest is the system's (crt*.o, libgcc, libc): the node asks the linker
// for every file it read (`-Wl,--dependency-file`, GNU ld >= 2.35 and lld; elsewhere the link
// fails there and runs here), reports each with its digest, and the client accepts the result
// only if its own copies have the same digests (ninja-action.ts); a node's cache records them as
// the result's dependencies, so a lookup from a machine with other system libraries misses.

import * as path from 'node:path';
import { isSystem, shellWords, projectRoots } from './rexec-client.ts';
import { digestHex } from './hash.ts';
import type { RexecInput, RexecWork } from './messages.ts';

const DRIVER = /^(?:.*\/)?(?:[\w.+-]+-)?(?:cc|gcc|g\+\+|c\+\+|clang|clang\+\+)(?:-\d+(?:\.\d+)*)?$/;
const AR = /^(?:.*\/)?(?:[\w.+-]+-)?(?:gcc-)?ar(?:-\d+(?:\.\d+)*)?$/;
const RANLIB = /^(?:.*\/)?(?:[\w.+-]+-)?(?:gcc-)?ranlib(?:-\d+(?:\.\d+)*)?$/;
const CMAKE = /^(?:.*\/)?cmake$/;
/** Driver options that take the next word as their value and name a directory or file the linker searches. */
const SEARCHED = new Set(['-L', '-B', '--sysroot', '-T']);

export interface LinkStep {
  kind: 'link' | 'archive';
  /**
   * The program nodes must have the same of (PeerSet probes compare it): `link:DRIVER` for a
   * link (toolchain.ts: the driver's and its linker's `--version`), the archiver for an archive.
   */
  tool: string;
}

interface Part {
  words: string[];
  /** Where the part's first word ends in the command (for withLinkTrace). */
  programEnd: number;
}

/** The command's `&&`-joined parts, or undefined for any other shell syntax (`;`, `|`, `$`, redirections, newlines). */
export function andParts(cmd: string): Part[] | undefined {
  const parts: Part[] = [];
  let start = 0;
  let q: string | undefined;
  const close = (end: number): boolean => {
    const text = cmd.slice(start, end);
    const words = shellWords(text);
    if (words.length === 0) return false;
    const lead = /^\s*/.exec(text)![0].length;
    // The first word's end: quotes in a program name are not worth supporting here.
    const m = /^\S+/.exec(text.slice(lead));
    if (m === null || /['"\\]/.test(m[0])) return false;
    parts.push({ words, programEnd: start + lead + m[0].length });
    return true;
  };
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (q !== undefined) {
      if (c === q) q = undefined;
      else if (q === '"' && (c === '$' || c === '`')) return undefined;
      continue;
    }
    if (c === "'" || c === '"') q = c;
    else if (c === '&' && cmd[i + 1] === '&') {
      if (!close(i)) return undefined;
      start = ++i + 1;
    } else if (/[;|<>`$()\n&*?{}~#]/.test(c)) return undefined;
  }
  if (q !== undefined || !close(cmd.length)) return undefined;
  return parts;
}

/** Why a link's driver words would make it read files nobody shipped, or undefined. */
function unsafeLinkArg(words: string[], cwd: string): string | undefined {
  const sysDir = (d: string): boolean => isSystem(path.resolve(cwd, d) + '/');
  for (let i = 1; i < words.length; i++) {
    const a = words[i]!;
    if (a === '-c' || a === '-S' || a === '-E' || a === '-M' || a === '-MM') return `${a}: not a link`;
    if (a.startsWith('@')) return 'a response file';
    if (a.startsWith('-fuse-ld') || a.startsWith('--ld-path') || a.startsWith('-flto') || a.startsWith('-fwhopr')) return a;
    if (a.startsWith('-specs') || a.startsWith('--specs') || a === '-wrapper') return a;
    if (SEARCHED.has(a)) {
      const v = words[++i];
      if (v === undefined || !sysDir(v)) return `${a} ${v ?? ''}`;
      continue;
    }
    for (const f of ['-L', '-B', '--sysroot=', '-T']) {
      if (a.startsWith(f) && a.length > f.length && !sysDir(a.slice(f.length))) return a;
    }
    if (a.startsWith('-Wl,') || a === '-Xlinker') {
      const opts = a === '-Xlinker' ? [words[++i] ?? ''] : a.slice(4).split(',');
      for (let k = 0; k < opts.length; k++) {
        const o = opts[k]!;
        if (o.startsWith('@') || /^-(?:-?plugin|-?dependency-file)/.test(o)) return `-Wl,${o}`;
        // An -rpath into the project is a path the node rewrote into its sandbox (rexec.ts relocate) and the linker writes into the binary.
        const m = /^(?:-L|--library-path=|-T|--script=|-rpath-link[=,]?|--rpath-link=?|--sysroot=|-dT|-rpath[=,]?|--rpath=?|-R)(.*)$/.exec(o);
        if (m === null) continue;
        const v = m[1] !== '' ? m[1]! : (opts[++k] ?? '');
        if (/^-(?:-?rpath[=,]?|R)/.test(o) && !v.startsWith('/')) continue; // $ORIGIN/..: not relocated
        if (!sysDir(v)) return `-Wl,${o}`;
      }
    }
  }
  if (!words.includes('-o')) return 'no -o';
  return undefined;
}

/**
 * The link or archive `cmd` is, if a node may run it from its declared inputs alone; `outputs`
 * (absolute) are the edge's: what it writes must be one of them.
 */
export function linkStep(cmd: string, cwd: string, outputs: string[]): LinkStep | undefined {
  const parts = andParts(cmd);
  if (parts === undefined) return undefined;
  const outs = new Set(outputs);
  const isOut = (w: string): boolean => outs.has(path.resolve(cwd, w));
  const removed = new Set<string>();
  let step: LinkStep | undefined;
  for (const { words } of parts) {
    const p = words[0]!;
    const args = words.slice(1);
    if (p === ':' || p === 'true') {
      if (args.length > 0) return undefined;
    } else if ((CMAKE.test(p) && args[0] === '-E' && (args[1] === 'rm' || args[1] === 'remove') && args[2] === '-f') || (/^(?:\/bin\/|\/usr\/bin\/)?rm$/.test(p) && args[0] === '-f')) {
      const files = CMAKE.test(p) ? args.slice(3) : args.slice(1);
      if (files.length === 0 || files.some((f) => f.startsWith('-') || !isOut(f))) return undefined;
      for (const f of files) removed.add(path.resolve(cwd, f));
    } else if (AR.test(p)) {
      const [ops, archive, ...members] = args;
      if (step !== undefined || ops === undefined || archive === undefined || !/^[qrcsD]+$/.test(ops) || !/[qr]/.test(ops)) return undefined;
      if (!isOut(archive) || !removed.has(path.resolve(cwd, archive))) return undefined;
      if (members.some((m) => m.startsWith('-') || m.startsWith('@'))) return undefined;
      step = { kind: 'archive', tool: p };
    } else if (RANLIB.test(p)) {
      if (step?.kind !== 'archive' || args.length !== 1 || !isOut(args[0]!)) return undefined;
    } else if (DRIVER.test(p)) {
      if (step !== undefined || unsafeLinkArg(words, cwd) !== undefined) return undefined;
      const o = words[words.indexOf('-o') + 1];
      if (o === undefined || !isOut(o)) return undefined;
      step = { kind: 'link', tool: `link:${p}` };
    } else return undefined;
  }
  return step;
}

/**
 * The command with `-Wl,--dependency-file=FILE` right after the link driver (node side): the
 * linker then names every file it read. Undefined when the command has no driver part.
 */
export function withLinkTrace(cmd: string, file: string): string | undefined {
  const part = andParts(cmd)?.find((p) => DRIVER.test(p.words[0]!));
  if (part === undefined) return undefined;
  return `${cmd.slice(0, part.programEnd)} '-Wl,--dependency-file=${file}'${cmd.slice(part.programEnd)}`;
}

/**
 * The self-contained item for a link or archive edge, or undefined when it must run here: its
 * declared inputs (each one present here, outside the system's directories, is shipped; one
 * that is missing keeps the edge here) and nothing else.
 */
export function planLink(
  e: { cmd: string; root: string; inputs: string[]; outputs: string[]; depfile: string; deps: string; rspfile: string; rspfileContent: string; msvcPrefix: string },
  digestOf: (abs: string) => { digest: string; size: number; exec: boolean } | undefined,
): { work: RexecWork; offered: Map<string, string> } | undefined {
  if (e.depfile !== '' || e.deps !== '' || e.rspfile !== '') return undefined;
  const abs = (p: string): string => path.resolve(e.root, p);
  const outputs = e.outputs.map(abs);
  const step = linkStep(e.cmd, e.root, outputs);
  if (step === undefined) return undefined;
  const inputs: RexecInput[] = [];
  const offered = new Map<string, string>();
  for (const f of new Set(e.inputs.map(abs))) {
    if (isSystem(f)) continue;
    const d = digestOf(f);
    if (d === undefined) return undefined;
    const hex = digestHex(d.digest);
    inputs.push({ path: f, digest: hex, size: d.size, exec: d.exec });
    offered.set(hex, f);
  }
  const roots = projectRoots([e.root, ...inputs.map((i) => i.path), ...outputs]);
  return {
    work: {
      k: 'rexec', cmd: e.cmd, cwd: e.root, roots, inputs, outputs, depfile: '', deps: '', msvcPrefix: e.msvcPrefix, rspfile: '', rspfileContent: '',
      prefixMap: false, inline: true, ...(step.kind === 'link' ? { link: true } : {}),
    },
    offered,
  };
}

/**
 * Why a node's link result is not what this machine would link, or undefined: each file of the
 * system it read (`deps`, with the node's digests) must have the same digest here. `digestOf`
 * gives this machine's (hex; undefined: missing here).
 */
export function foreignSystemFile(deps: string[], digests: (string | null)[] | undefined, digestOf: (abs: string) => string | undefined): string | undefined {
  if (digests === undefined || digests.length !== deps.length) return 'the node did not say which system files the linker read';
  for (const [i, d] of deps.entries()) {
    if (!isSystem(d)) continue;
    const theirs = digests[i];
    const mine = digestOf(d);
    if (theirs === null || theirs === undefined || mine !== theirs) return `${d} ${mine === undefined ? 'is missing here' : 'differs from this machine\'s'}`;
  }
  return undefined;
}
