// Sums the self time of a V8 CPU profile (`node --cpu-prof`) by function and by file, to read
// where a process spends its CPU without a browser.
//
//   node scripts/prof-summary.ts FILE.cpuprofile... [--top 40] [--by fn|file]

import * as fs from 'node:fs';
import * as path from 'node:path';

interface ProfNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] ?? def : def;
};
const top = Number(flag('--top', '40'));
const by = flag('--by', 'fn');
const self = new Map<string, number>();
let total = 0;
for (const file of args) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  for (const [i, id] of p.samples.entries()) {
    const n = byId.get(id);
    const us = p.timeDeltas[i] ?? 0;
    if (n === undefined) continue;
    const f = n.callFrame;
    const file = f.url === '' ? '(native)' : path.basename(f.url);
    const name = by === 'file' ? file : `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
    self.set(name, (self.get(name) ?? 0) + us);
    total += us;
  }
}
const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, top);
process.stdout.write(`total ${(total / 1000).toFixed(0)} ms in ${args.length} profile(s)\n`);
for (const [name, us] of rows) process.stdout.write(`${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}\n`);
