// Fencing of nodes that share the client's files (fence.ts): an attempt the client declared dead
// must never write into its tree, however late its command finishes.
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { B, b, exited, lines, start, suite, tmp, until, startNode, stopNode } from './helpers.ts';

const test = suite('fence');

const node = startNode;
const stop = stopNode;

const read = (f: string): string => fs.readFileSync(f, 'utf8').trim();

test('a frozen node\'s command that finishes after the client gave up on it does not overwrite the accepted output', async () => {
  const n1 = await node(['--workers', '1', '--jobs', '1']);
  try {
    const dir = tmp('b-fence-');
    // Outside the build root, so the marker is seen wherever the command runs (fenced or not).
    const marks = tmp('b-fence-marks-');
    // On the node, the command writes its marker, then waits (for `go`, which the test writes
    // once the client has finished without it) and only then writes the output: a command that
    // outlives its attempt, deterministically. Run here, it writes the output at once.
    const go = path.join(marks, 'go');
    const onNode = `i=0; while [ ! -f ${go} ] && [ $$i -lt 300 ]; do sleep 0.1; i=$$((i+1)); done; echo "$\${B_NODE}" > $out; echo > ${marks}/node-done`;
    fs.writeFileSync(path.join(dir, 'build.ninja'), [
      'rule s',
      `  command = echo "$\${B_NODE}" > ${marks}/$out.on; if [ "$\${B_NODE}" = "${n1.id}" ]; then ${onNode}; else echo "$\${B_NODE}" > $out; fi`,
      'build o: s', '',
    ].join('\n'));
    const c = start(B, ['build', '-C', dir, '--node', n1.endpoint, '--local', '0', '--heartbeat', '100']);
    let err = '';
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const marker = path.join(marks, 'o.on');
    await until(() => fs.existsSync(marker) && read(marker) === n1.id, 30_000, `the command started on ${n1.id} (${err})`);
    process.kill(n1.proc.pid!, 'SIGSTOP');
    const r = await exited(c, 30_000);
    assert.is(r.code, 0, err);
    assert.match(err, new RegExp(`node ${n1.id} .*stopped answering`));
    const local = read(path.join(dir, 'o'));
    assert.is.not(local, n1.id, 'the client ran it again itself');
    assert.is(read(marker), local, 'the output is the local attempt\'s');
    // The node's command goes on and writes; the node comes back and sends its late result.
    fs.writeFileSync(go, '');
    process.kill(n1.proc.pid!, 'SIGCONT');
    await until(() => fs.existsSync(path.join(marks, 'node-done')), 30_000, 'the node\'s command finished');
    await new Promise((res) => setTimeout(res, 500)); // and its result reached the (finished) client side
    assert.is(read(path.join(dir, 'o')), local, 'the dead attempt wrote nothing into the tree');
    const again = await b(['build', '-C', dir, '--node', n1.endpoint, '--local', '0', '--heartbeat', '100'], { timeout: 30_000 });
    assert.is(again.code, 0, again.stderr);
    assert.match(again.stderr + again.stdout, /no work to do/);
  } finally {
    await stop(n1);
  }
}, { timeout: 90_000 });

test('a node that shares the files runs commands fenced: outputs come back, undeclared writes stay on the node', async () => {
  const n1 = await node(['--workers', '2', '--jobs', '2']);
  try {
    const dir = tmp('b-fence-ok-');
    fs.writeFileSync(path.join(dir, 'in.txt'), 'source\n');
    fs.writeFileSync(path.join(dir, 'build.ninja'), [
      'rule s',
      '  command = cat $in > $out; echo "$${B_NODE}" >> $out; echo side > side.txt',
      'build sub/o: s in.txt', '',
    ].join('\n'));
    const r = await b(['build', '-C', dir, '--node', n1.endpoint, '--local', '0', '--heartbeat', '100'], { timeout: 30_000 });
    assert.is(r.code, 0, r.stderr);
    assert.is(fs.readFileSync(path.join(dir, 'sub', 'o'), 'utf8'), `source\n${n1.id}\n`, 'ran on the node, output fetched');
    assert.not.ok(fs.existsSync(path.join(dir, 'side.txt')), 'a write the edge does not declare stays in the attempt\'s sandbox');
    const again = await b(['build', '-C', dir, '--node', n1.endpoint, '--local', '0', '--heartbeat', '100'], { timeout: 30_000 });
    assert.match(again.stderr + again.stdout, /no work to do/);
  } finally {
    await stop(n1);
  }
}, { timeout: 60_000 });

test('a command that fails fenced on a node fails the build as it would here, once', async () => {
  const n1 = await node(['--workers', '1', '--jobs', '1']);
  try {
    const dir = tmp('b-fence-fail-');
    const runs = path.join(tmp('b-fence-runs-'), 'runs');
    fs.writeFileSync(path.join(dir, 'build.ninja'), `rule bad\n  command = echo "$\${B_NODE}" >> ${runs}; echo broken >&2; exit 3\nbuild o: bad\n`);
    const r = await b(['build', '-C', dir, '--node', n1.endpoint, '--local', '0', '--heartbeat', '100'], { timeout: 30_000 });
    assert.is.not(r.code, 0);
    assert.match(r.stderr, /exit code 3/);
    assert.match(r.stderr + r.stdout, /broken/);
    assert.equal(fs.readFileSync(runs, 'utf8').trim().split('\n'), [n1.id], 'it ran once, on the node (a real failure is not run again here)');
  } finally {
    await stop(n1);
  }
}, { timeout: 60_000 });

test('an output the command deletes on the node is deleted here too: no stale copy the database would call up to date', async () => {
  const n1 = await node(['--workers', '1', '--jobs', '1']);
  try {
    const dir = tmp('b-fence-del-');
    fs.writeFileSync(path.join(dir, 'in.txt'), 'keep\n');
    // The command writes its output from the input, or deletes it when the input says so.
    fs.writeFileSync(path.join(dir, 'build.ninja'), [
      'rule s',
      '  command = if grep -q del $in; then rm -f $out; else { cat $in; echo "$${B_NODE}"; } > $out; fi',
      'build o: s in.txt', '',
    ].join('\n'));
    const args = ['build', '-C', dir, '--node', n1.endpoint, '--local', '0', '--heartbeat', '100', '--events', path.join(dir, '.ev')];
    const first = await b(args, { timeout: 30_000 });
    assert.is(first.code, 0, first.stderr);
    assert.is(fs.readFileSync(path.join(dir, 'o'), 'utf8'), `keep\n${n1.id}\n`, 'ran on the node');
    fs.writeFileSync(path.join(dir, 'in.txt'), 'del\n');
    const second = await b(args, { timeout: 30_000 });
    assert.is(second.code, 0, second.stderr);
    const ev = fs.readFileSync(path.join(dir, '.ev'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; node?: string });
    assert.ok(ev.some((e) => e.event === 'finish' && e.node === n1.id), `the second run was the node's: ${JSON.stringify(ev)}`);
    assert.not.ok(fs.existsSync(path.join(dir, 'o')), 'the output the accepted attempt deleted is gone here too');
  } finally {
    await stop(n1);
  }
}, { timeout: 60_000 });

test('a chain of nodes: outputs come from the node that ran the attempt (each node its own store), verified, never run again here', async () => {
  // Separate cache directories: the near node cannot read the far node's store by accident.
  const far = await node(['--workers', '2', '--jobs', '2'], { B_CACHE_DIR: tmp('b-fence-cache-far-') });
  const near = await node(['--workers', '1', '--jobs', '1', '--node', far.endpoint], { B_CACHE_DIR: tmp('b-fence-cache-near-') });
  try {
    const dir = tmp('b-fence-chain-');
    const outs = [0, 1, 2, 3, 4, 5].map((i) => `o${i}`);
    fs.writeFileSync(path.join(dir, 'build.ninja'), [
      'rule s', '  command = sleep 0.3; echo "$${B_NODE}" > $out',
      ...outs.map((o) => `build ${o}: s`), '',
    ].join('\n'));
    const ev = path.join(dir, '.ev');
    const r = await b(['build', '-C', dir, '--node', near.endpoint, '--local', '0', '--heartbeat', '100', '--events', ev], { timeout: 60_000 });
    assert.is(r.code, 0, r.stderr);
    const by = outs.map((o) => read(path.join(dir, o)));
    assert.ok(by.includes(far.id), `the far node ran some: ${by.join(' ')}`);
    assert.ok(by.every((x) => x === far.id || x === near.id), `every output came from a node: ${by.join(' ')}`);
    const events = fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; note?: string });
    const notes = events.filter((e) => e.note !== undefined).map((e) => e.note);
    assert.equal(notes, [], 'nothing failed on a node and ran again here');
  } finally {
    await stop(near);
    await stop(far);
  }
}, { timeout: 90_000 });

test('a Bfile rule on a frozen node that resumes after the client gave up on it writes nothing into the tree (run() and write())', async () => {
  const cache = tmp('b-fence-rule-cache-');
  const n1 = await node(['--workers', '1', '--jobs', '1'], { B_CACHE_DIR: cache });
  try {
    const dir = tmp('b-fence-rule-');
    const marks = tmp('b-fence-rule-marks-');
    const go = path.join(marks, 'go');
    // On the node the rule runs a command that marks that it started (outside the build root,
    // seen wherever it runs), waits for `go` (written once the client finished without it) and
    // writes the output: that command is not frozen with the node, so it writes while
    // the node is dead, deterministically. When the node resumes, the rule writes the output
    // again by write() (whether or not its task was cancelled meanwhile) and says so. Here, the
    // rule writes at once.
    fs.writeFileSync(path.join(dir, 'Bfile.mjs'), `import * as fs from 'node:fs';
export default (b) => {
  b.rule('o', async ({ run, write }) => {
    const here = process.env.B_NODE;
    const mark = 'echo ' + here + ' > ${marks}/o.on';
    if (here === ${JSON.stringify(n1.id)}) {
      try {
        await run(mark + '; i=0; while [ ! -f ${go} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; echo late-run > o; echo > ${marks}/cmd-done');
      } finally {
        await write('o', 'late-write').catch(() => {});
        fs.writeFileSync('${marks}/node-done', '');
      }
    } else {
      await run(mark);
      await write('o', here);
    }
  });
};`);
    const args = ['build', '-C', dir, '--node', n1.endpoint, '--local', '0', '--heartbeat', '100'];
    const c = start(B, args);
    let err = '';
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const marker = path.join(marks, 'o.on');
    await until(() => fs.existsSync(marker) && read(marker) === n1.id, 30_000, `the rule started on ${n1.id} (${err})`);
    process.kill(n1.proc.pid!, 'SIGSTOP');
    const r = await exited(c, 30_000);
    assert.is(r.code, 0, err);
    assert.match(err, new RegExp(`node ${n1.id} .*stopped answering`));
    const local = read(path.join(dir, 'o'));
    assert.is.not(local, n1.id);
    assert.is(read(marker), local, 'the output is the local attempt\'s');
    fs.writeFileSync(go, '');
    await until(() => fs.existsSync(path.join(marks, 'cmd-done')), 30_000, 'the frozen node\'s command wrote its output');
    process.kill(n1.proc.pid!, 'SIGCONT');
    await until(() => fs.existsSync(path.join(marks, 'node-done')), 30_000, 'the node\'s rule called write()');
    await new Promise((res) => setTimeout(res, 500)); // and its result reached the (finished) client side
    assert.is(read(path.join(dir, 'o')), local, 'the dead attempt wrote nothing into the tree');
    // The cancelled rule ran to its end on the node, so its sandbox is gone (not left until a restart).
    await until(() => fs.readdirSync(path.join(cache, 'work')).length === 0, 10_000, `the node's work/ emptied: ${fs.readdirSync(path.join(cache, 'work')).join(' ')}`);
    const again = await b(args, { timeout: 30_000 });
    assert.is(again.code, 0, again.stderr);
    assert.match(again.stderr + again.stdout, /no work to do/);
  } finally {
    await stop(n1);
  }
}, { timeout: 90_000 });

test('a Bfile rule runs fenced on a node: it sees its own writes, its declared outputs come back, the rest stays there; one that writes outside the root runs here', async () => {
  const n1 = await node(['--workers', '2', '--jobs', '2']);
  try {
    const dir = tmp('b-fence-rule-ok-');
    const outside = tmp('b-fence-rule-outside-');
    fs.writeFileSync(path.join(dir, 'src.txt'), 'source\n');
    fs.writeFileSync(path.join(dir, 'Bfile.mjs'), `export default (b) => {
  b.default('all');
  b.phony('all', async ({ need }) => { await need(['gen/out.txt', 'far.txt']); });
  b.rule('gen/out.txt', async ({ need, run, read, write, needDepfile, out }) => {
    await need('src.txt');
    await run('mkdir -p gen/sub && echo side > side.txt');
    await run(['sh', '-c', 'pwd > where.txt; printf "x: src.txt\\\\n" > x.d'], { cwd: 'gen/sub' });
    await needDepfile('gen/sub/x.d');
    await write('gen/tmp.txt', 'made by write\\n');
    const mine = await read('gen/tmp.txt');
    await write(out, (await read('src.txt')) + mine + (await run('cat gen/sub/where.txt')).stdout + process.env.B_NODE + '\\n');
  });
  b.rule('far.txt', async ({ write, out }) => {
    await write(${JSON.stringify(path.join(outside, 'x'))}, 'outside');
    await write(out, process.env.B_NODE);
  });
};`);
    const ev = path.join(dir, '.ev');
    const args = ['build', '-C', dir, '--node', n1.endpoint, '--local', '0', '--heartbeat', '100', '--events', ev];
    const r = await b(args, { timeout: 60_000 });
    assert.is(r.code, 0, r.stderr);
    assert.is(fs.readFileSync(path.join(dir, 'gen', 'out.txt'), 'utf8'), `source\nmade by write\n${path.join(dir, 'gen', 'sub')}\n${n1.id}\n`);
    for (const f of ['side.txt', 'gen/tmp.txt', 'gen/sub/x.d', 'gen/sub/where.txt']) {
      assert.not.ok(fs.existsSync(path.join(dir, f)), `${f} (not declared) stays in the node's sandbox`);
    }
    const events = fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; key: string; node?: string; note?: string });
    const far = events.find((e) => e.event === 'finish' && e.key === 'far.txt');
    assert.match(far?.note ?? '', /could not run rule far\.txt fenced: write\(\) of .* outside the build root/);
    assert.is(far?.node, 'local', 'it ran here');
    assert.is(fs.readFileSync(path.join(outside, 'x'), 'utf8'), 'outside');
    assert.is.not(fs.readFileSync(path.join(dir, 'far.txt'), 'utf8'), n1.id);
    fs.rmSync(ev);
    const again = await b(args, { timeout: 30_000 });
    assert.is(again.code, 0, again.stderr);
    const ran = fs.readFileSync(ev, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; key: string; ran?: boolean }).filter((e) => e.event === 'finish' && e.ran === true && e.key !== 'all');
    assert.equal(ran, [], 'the next build runs nothing but the phony target');
  } finally {
    await stop(n1);
  }
}, { timeout: 90_000 });

test('a node that sees the files but cannot fence gets neither Ninja commands nor Bfile rules on them, and says why', async () => {
  // An `unshare` that always fails: no mount namespace, so no overlay (as in a container that refuses them).
  const bin = tmp('b-fence-nounshare-');
  fs.writeFileSync(path.join(bin, 'unshare'), '#!/bin/sh\necho "unshare: not allowed here" >&2\nexit 1\n', { mode: 0o755 });
  const n1 = await node(['--workers', '2', '--jobs', '2'], { PATH: `${bin}:${process.env.PATH ?? ''}` });
  try {
    assert.match(n1.err() + n1.out.join('\n'), /cannot be fenced here/);
    const dir = tmp('b-fence-nofence-');
    fs.writeFileSync(path.join(dir, 'Bfile.mjs'), `export default (b) => {
  b.default('r.txt');
  b.rule('r.txt', async ({ run, write, out }) => { await run('true'); await write(out, process.env.B_NODE); });
};`);
    const ninja = tmp('b-fence-nofence-ninja-');
    fs.writeFileSync(path.join(ninja, 'build.ninja'), 'rule s\n  command = echo "$${B_NODE}" > $out\nbuild o: s\n');
    for (const [d, out] of [[dir, 'r.txt'], [ninja, 'o']] as const) {
      const r = await b(['build', '-C', d, '--node', n1.endpoint, '--local', '0', '--heartbeat', '100'], { timeout: 30_000 });
      assert.is(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`node ${n1.id} sees this build's files .* but cannot fence`));
      assert.is.not(read(path.join(d, out)), n1.id, `${out} was made here, not on the node that cannot fence`);
    }
  } finally {
    await stop(n1);
  }
}, { timeout: 60_000 });

test('a full disk on a node fails a fenced Bfile rule as the node\'s fault: it runs here, the node is marked unhealthy', async () => {
  if (process.getuid?.() !== 0) return test.skip('ENOSPC in a fenced rule', 'needs root to mount a small tmpfs over the node\'s cache directory');
  const cache = tmp('b-fence-enospc-');
  // 4 MB for the node's cache: the extracted addon takes 2 of them, a 3 MB write() does not fit.
  const proc = start('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=4m none '${cache}' && exec '${B}' node --workers 1 --jobs 1 --heartbeat 100 --listen 'tcp://127.0.0.1:*'`], { env: { ...process.env, B_CACHE_DIR: cache } });
  const out = lines(proc);
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await until(() => out.some((l) => l.startsWith('listening on tcp://')), 30_000, `node start (${err})`);
    const endpoint = out.find((l) => l.startsWith('listening on tcp://'))!.slice('listening on '.length);
    const id = /^node (\S+):/.exec(out[0] ?? '')?.[1] ?? '';
    const dir = tmp('b-fence-enospc-proj-');
    fs.writeFileSync(path.join(dir, 'Bfile.mjs'), `export default (b) => {
  b.rule('big', async ({ write, out }) => { await write(out, 'x'.repeat(3 * 1024 * 1024) + process.env.B_NODE); });
};`);
    const r = await b(['build', '-C', dir, '--node', endpoint, '--local', '0', '--heartbeat', '100'], { timeout: 40_000 });
    assert.is(r.code, 0, r.stderr + err);
    assert.match(r.stderr, new RegExp(`node ${id} is unhealthy \\(node infrastructure error: ENOSPC`));
    const made = fs.readFileSync(path.join(dir, 'big'), 'utf8');
    assert.ok(made.length > 3 * 1024 * 1024 && made.startsWith('xxx'), 'the whole output');
    assert.is.not(made.slice(3 * 1024 * 1024), id, 'made here');
  } finally {
    await stop({ proc });
  }
}, { timeout: 60_000 });

test.run();
