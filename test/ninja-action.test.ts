// ninja-action.ts placement: a command's tool (what the broker matches on other nodes) is found
// only where work may be placed; a build whose commands all run in this process (build-local.ts)
// skips parsing the command line for it. Pure: a manifest in a temp dir, nothing runs.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadNinja } from '../src/ninja-build.ts';
import { suite, tmp } from './helpers.ts';

const test = suite('ninja-action');

const manifest = `rule cc
  command = cc -c $in -o $out
rule link
  command = : && cc $in -o $out
rule console
  command = ./run $in
  pool = console
build a.o: cc a.c
build app: link a.o
build show: console app
`;

test('the tool is found where the broker may place work, and not looked for when everything runs here', () => {
  const dir = tmp('b-ninja-action-');
  fs.writeFileSync(path.join(dir, 'build.ninja'), manifest);
  const placed = loadNinja(path.join(dir, 'build.ninja'), dir);
  assert.equal(placed.actionFor('a.o')?.placement, { remote: true, root: dir, tool: 'cc' });
  assert.equal(placed.actionFor('app')?.placement, { remote: true, root: dir, tool: 'link:cc' });
  assert.equal(placed.actionFor('show')?.placement?.remote, false);
  const here = loadNinja(path.join(dir, 'build.ninja'), dir);
  here.placesRemotely = false;
  assert.equal(here.actionFor('a.o')?.placement, { remote: true, root: dir });
  assert.equal(here.actionFor('app')?.placement, { remote: true, root: dir });
  // The console pool still says it stays on the terminal (the build host flushes the status first).
  assert.equal(here.actionFor('show')?.placement, { remote: false, root: dir });
});

test.run();
