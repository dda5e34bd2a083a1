// The GNU make jobserver client (src/jobserver.ts): MAKEFLAGS as ninja 1.13.2's
// ParseMakeFlagsValue reads it (the cases of its jobserver_test.cc), and the fifo client.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { suite, tmp } from './helpers.ts';
import { JobserverClient, nativeConfig, parseMakeflags } from '../src/jobserver.ts';

const test = suite('jobserver');

test('MAKEFLAGS: fifo, pipe and semaphore forms, the last one wins, make -n, negative fds', () => {
  assert.equal(parseMakeflags(undefined), { mode: 'none' });
  assert.equal(parseMakeflags(''), { mode: 'none' });
  assert.equal(parseMakeflags('foo bar'), { mode: 'none' });
  assert.equal(parseMakeflags(' -j2 --jobserver-auth=fifo:/tmp/x'), { mode: 'fifo', path: '/tmp/x' });
  assert.equal(parseMakeflags('ks -j3 --jobserver-auth=3,4'), { mode: 'pipe' });
  assert.equal(parseMakeflags('--jobserver-auth=-1,4'), { mode: 'none' });
  assert.equal(parseMakeflags('--jobserver-fds=3,4 --jobserver-auth=fifo:/a'), { mode: 'fifo', path: '/a' });
  assert.equal(parseMakeflags('--jobserver-auth=fifo:/a\t--jobserver-auth=semname'), { mode: 'semaphore', name: 'semname' });
  // `make -n` (flag letters in the first word): no jobserver.
  assert.equal(parseMakeflags('kns --jobserver-auth=fifo:/a'), { mode: 'none' });
  // A first word starting with '-' is not flag letters.
  assert.equal(parseMakeflags('-n --jobserver-auth=fifo:/a'), { mode: 'fifo', path: '/a' });
  assert.equal(parseMakeflags('--jobserver-fds=x'), { error: 'Invalid file descriptor pair [x]' });
  assert.equal(nativeConfig('--jobserver-auth=3,4'), { error: 'Pipe-based protocol is not supported!' });
  assert.equal(nativeConfig('--jobserver-auth=sem'), { error: 'Semaphore mode is not supported on Posix!' });
});

test('the fifo client: the implicit slot, then one byte per slot without blocking, each given back', () => {
  const dir = tmp('b-jobserver-');
  const fifo = path.join(dir, 'fifo');
  assert.is(spawnSync('mkfifo', [fifo]).status, 0);
  const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  const c = JobserverClient.open(fifo);
  try {
    assert.ok(c instanceof JobserverClient, JSON.stringify(c));
    fs.writeSync(fd, 'ab');
    const s1 = c.tryAcquire();
    const s2 = c.tryAcquire();
    const s3 = c.tryAcquire();
    assert.equal(s1, { implicit: true });
    assert.equal(s2, { implicit: false, byte: 97 });
    assert.equal(s3, { implicit: false, byte: 98 });
    assert.is(c.tryAcquire(), undefined, 'empty fifo: no slot, no blocking');
    c.release(s3!);
    c.release(s1!);
    assert.equal(c.tryAcquire(), { implicit: true });
    const b = Buffer.alloc(4);
    assert.is(fs.readSync(fd, b, 0, 4, null), 1);
    assert.is(b.toString('latin1', 0, 1), 'b');
  } finally {
    if (c instanceof JobserverClient) c.close();
    fs.closeSync(fd);
  }
  assert.equal(JobserverClient.open(path.join(dir, 'nosuch')), { error: 'Error opening fifo for reading: No such file or directory' });
  fs.writeFileSync(path.join(dir, 'plain'), '');
  assert.equal(JobserverClient.open(path.join(dir, 'plain')), { error: `Not a fifo path: ${path.join(dir, 'plain')}` });
  assert.equal(JobserverClient.open(''), { error: 'Empty fifo path' });
});

test.run();
