// Test runner: loads test/*.test.ts (or the files named on the command line) into uvu, runs
// them, and ends with the line CI reads: "N passed, N failed". uvu's own summary is not read.
//
//   node test/run.ts                 all tests (needs dist/ built: npm test does that)
//   node test/run.ts protocol ninja  only files whose name contains one of the words

import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = import.meta.dirname;
const words = process.argv.slice(2);
const files = fs.readdirSync(dir)
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => words.length === 0 || words.some((w) => f.includes(w)))
  .sort();

const g = globalThis as { UVU_DEFER?: number; UVU_QUEUE?: unknown[][]; UVU_INDEX?: number };
g.UVU_DEFER = 1;
g.UVU_QUEUE = [];

// uvu decides at import time whether it runs tests itself, so these globals are set before
// anything imports it (helpers.ts does, hence the dynamic import below).
const { tally, suiteMs, cleanupAll } = await import('./helpers.ts');

async function main(): Promise<void> {
  for (const [i, f] of files.entries()) {
    g.UVU_QUEUE!.push([f]);
    g.UVU_INDEX = i;
    await import(pathToFileURL(path.join(dir, f)).href);
  }
  const { exec } = await import('uvu');
  const t0 = Date.now();
  try {
    await exec(false);
  } finally {
    await cleanupAll();
  }
  const line = `${tally.passed} passed, ${tally.failed} failed${tally.skipped ? `, ${tally.skipped} skipped` : ''}`;
  const slowest = [...suiteMs].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([n, ms]) => `${n} ${(ms / 1000).toFixed(0)} s`).join(', ');
  process.stdout.write(`\n${files.length} test files in ${((Date.now() - t0) / 1000).toFixed(1)} s (slowest: ${slowest})\n${line}\n`);
  if (process.env.B_TEST_SUMMARY) fs.writeFileSync(process.env.B_TEST_SUMMARY, line + '\n');
  if (tally.failed > 0) process.exitCode = 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`test runner failed: ${(e as Error).stack ?? String(e)}\n`);
  if (process.env.B_TEST_SUMMARY) fs.writeFileSync(process.env.B_TEST_SUMMARY, `${tally.passed} passed, ${tally.failed + 1} failed\n`);
  process.exitCode = 1;
});
