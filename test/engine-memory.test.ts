// What a finished edge keeps for the rest of a large build. A first build asks for an edge's
// fingerprint only after it ran (recordRun writes it into the trace); that must not expand the
// command again and keep it: a generated Chromium-style compile line is ~2.7 KB, and the 18k
// build held 8,000 of them (22 MB of its heap) half-way through.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite, tmp } from './helpers.ts';
import { loadNinja } from '../src/ninja-build.ts';

const test = suite('engine-memory');

test('an edge\'s fingerprint leaves no expanded command behind', () => {
  const dir = tmp();
  const file = path.join(dir, 'build.ninja');
  fs.writeFileSync(file, 'flags = -O2 -DX=1\nrule cc\n  command = cc $flags -c $in -o $out\nbuild a.o: cc a.c\n');
  const d = loadNinja(file, dir);
  const a = d.actionFor('a.o');
  assert.ok(a !== undefined);
  const fp = a.fingerprint;
  assert.type(fp, 'number');
  // The private cache of the expanded command (ninja-action.ts): empty unless the edge is running.
  assert.is((a as unknown as { command: string | undefined }).command, undefined);
  // The same fingerprint as when the command is expanded for the run.
  assert.is(a.work().k, 'cmd');
  assert.is(a.fingerprint, fp);
}, { timeout: 10_000 });

test.run();
