// The spawn helper's end without a build: closed idle it is killed at once (its orderly exit,
// an interpreter's teardown, added 15-20 ms to every build's end); closed with a command running
// it exits in order, stopping that command first, so nothing it started outlives it.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { suite } from './helpers.ts';
import { PerlSpawner } from '../src/spawn-perl.ts';

const test = suite('spawn-helper');

for (const prefer of ['python', 'perl'] as const) {
  test(`${prefer}: closed idle, the helper is killed at once; closed busy, it stops the command and exits in order`, async () => {
    const idle = PerlSpawner.start(prefer);
    if (idle === undefined) return; // neither interpreter here: the Node spawner is used instead (runtime.test.ts)
    const ran = idle.run({ argv: ['true'] });
    assert.ok(ran, 'the helper took the command');
    assert.is((await ran.done).exit, 0);
    await idle.close();
    assert.is(idle.endedBy, 'SIGKILL', 'idle: killed, not waited for');

    const busy = PerlSpawner.start(prefer);
    assert.ok(busy);
    const marker = `/tmp/b-spawn-helper-${process.pid}-${prefer}`;
    fs.rmSync(marker, { force: true });
    const sleeping = busy.run({ shell: `sleep 30; touch ${marker}` });
    assert.ok(sleeping);
    await new Promise((r) => setTimeout(r, 200));
    await busy.close(5000);
    assert.is(busy.endedBy, null, 'busy: an orderly exit');
    const r = await sleeping.done;
    assert.is.not(r.exit, 0, 'the running command was stopped');
    await new Promise((res) => setTimeout(res, 300));
    assert.not.ok(fs.existsSync(marker), 'the command did not outlive the helper');
  });
}

test.run();
