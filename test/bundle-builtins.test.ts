// The bundle shares one namespace object per Node builtin (scripts/build.ts,
// shareBuiltinNamespaces): esbuild's per-module copies (`__toESM(require("node:fs"))` in each of
// 80 modules, a getter per export) cost start-up time in every run.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { root, suite } from './helpers.ts';

const test = suite('bundle-builtins');

test('every builtin namespace in the built bundle is the shared one', () => {
  const js = fs.readFileSync(path.join(root, 'dist', 'b.cjs'), 'utf8');
  const all = [...js.matchAll(/__toESM\(require\("node:[a-z_/]+"\)(, 1)?\)/g)];
  assert.ok(all.length > 50, `only ${all.length} builtin imports seen: is this the bundle?`);
  const unshared = all.filter((m) => !js.slice(Math.max(0, m.index - 4), m.index).endsWith('??= '));
  assert.equal(unshared.map((m) => m[0]), [], 'per-module copies left');
  assert.match(js.slice(0, 200), /^#![^\n]*\n"use strict";\nvar __bNs = \{\};\n/);
}, { timeout: 10_000 });

test.run();
