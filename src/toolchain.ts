// What a node can run identically: its platform and the fingerprints of the tools a command
// uses (the compiler's `--version`), and whether it sees the client's files at the same paths.
// A client sends work to a node only when all of these match; `probe` work items answer them.

import * as fs from 'node:fs';
import { fenceSupport, isolation } from './sandbox.ts';
import { cacheDir } from './cachedir.ts';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { digest, digestHex } from './hash.ts';
import { execCommand } from './exec.ts';
import type { ProbeResult, ProbeWork, ToolPrint } from './messages.ts';
export type { ProbeResult, ProbeWork, ToolPrint };

export function platform(): string {
  return `${process.platform}-${process.arch}`;
}

function which(tool: string): string | null {
  if (tool.includes('/')) return fs.existsSync(tool) ? path.resolve(tool) : null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const f = path.join(dir, tool);
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return f;
    } catch {
      // not here
    }
  }
  return null;
}

const cache = new Map<string, Promise<ToolPrint>>();

/**
 * The fingerprint of a tool on this machine (cached per process). `link:DRIVER` stands for a
 * link through a compiler driver (rexec-link.ts): the driver's `--version` names the compiler,
 * not the linker (binutils' ld is another package, and its release changes the bytes it writes),
 * so the linker the driver runs (`-print-prog-name=ld`) is asked for its `--version` too.
 */
export function toolPrint(tool: string): Promise<ToolPrint> {
  if (tool.startsWith('link:')) return linkPrint(tool);
  let p = cache.get(tool);
  if (p === undefined) {
    p = new Promise<ToolPrint>((resolve) => {
      const where = which(tool);
      if (where === null) {
        resolve({ path: null, version: '', hash: 'missing' });
        return;
      }
      // Through exec.ts (the spawn helper), like every command: no fork of this big process.
      void execCommand({ argv: [where, '--version'], maxOutput: 1 << 20 }, AbortSignal.timeout(10_000)).then((r) => {
        const text = r.output;
        resolve({ path: where, version: text.split('\n')[0]?.trim() ?? '', hash: digestHex(digest(text)) });
      });
    });
    cache.set(tool, p);
  }
  return p;
}

function linkPrint(tool: string): Promise<ToolPrint> {
  let p = cache.get(tool);
  if (p === undefined) {
    p = (async (): Promise<ToolPrint> => {
      const driver = await toolPrint(tool.slice('link:'.length));
      if (driver.path === null) return driver;
      const named = await execCommand({ argv: [driver.path, '-print-prog-name=ld'], maxOutput: 1 << 16 }, AbortSignal.timeout(10_000));
      const ld = named.exit === 0 ? named.output.trim() : '';
      const linker = ld !== '' && !ld.includes('\n') ? await toolPrint(ld) : { path: null, version: '', hash: 'missing' };
      return { path: driver.path, version: `${driver.version}; ${linker.version || 'no linker'}`, hash: digestHex(digest(`${driver.hash} ${linker.hash}`)) };
    })();
    cache.set(tool, p);
  }
  return p;
}

export async function probe(w: ProbeWork): Promise<ProbeResult> {
  const tools: Record<string, ToolPrint> = {};
  for (const t of w.tools ?? []) tools[t] = await toolPrint(t);
  const r: ProbeResult = { platform: platform(), tools, isolation: isolation().text };
  if (w.file !== undefined) {
    try {
      r.sharedFs = fs.readFileSync(w.file, 'utf8') === w.expect;
    } catch {
      r.sharedFs = false;
    }
    // Seeing the files is not enough to be given commands on them: they must run fenced.
    if (r.sharedFs) r.fence = fenceSupport(path.join(cacheDir(), 'work')).ok;
  }
  return r;
}

/** The program a shell command line runs first (for toolchain matching). */
export function commandTool(cmd: string): string | undefined {
  const words = cmd.trim().split(/\s+/);
  for (const w of words) {
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) continue; // VAR=value prefix
    if (w === 'exec' || w === 'env' || w === 'ccache' || w === 'nice') continue;
    if (w === 'cd' || w === ':' || w.startsWith('(') || w === '[') return undefined;
    return w.replace(/^["']|["']$/g, '');
  }
  return undefined;
}

/**
 * Writes a random token under a build root, for a node to prove it sees the same files (the
 * `file`/`expect` of a probe; removed after a minute).
 */
export function writeFsToken(root: string): { file: string; token: string } | undefined {
  try {
    const dir = path.join(root, '.b');
    fs.mkdirSync(dir, { recursive: true });
    const token = randomBytes(16).toString('hex');
    const file = path.join(dir, `fs-probe-${process.pid}-${token.slice(0, 8)}`);
    fs.writeFileSync(file, token);
    setTimeout(() => fs.rmSync(file, { force: true }), 60_000).unref();
    return { file, token };
  } catch {
    return undefined;
  }
}
