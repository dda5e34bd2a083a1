// B's command line. Each command's work lives in its own module (cmd-*.ts), loaded only when
// the command runs, so `b --version` starts without loading zeromq or the build engine.

import { cac } from 'cac';
import { VERSION } from './version.ts';
import { Logger } from './logger.ts';
import { UserError } from './errors.ts';

interface Common {
  verbose?: boolean;
  quiet?: boolean;
}

function int(v: unknown, flag: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UserError({ code: 'usage', message: `${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}` });
  }
  return n;
}

function list(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** cac reports flags camel-cased and without "no-"; name the flag as the user typed it. */
function originalFlag(message: string, argv: string[]): string {
  const m = /Unknown option `--?([^`]+)`/.exec(message);
  if (!m) return message.replace(/`/g, '"');
  const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const typed = argv.find((a) => {
    const name = a.replace(/^--?/, '').split('=')[0] ?? '';
    return a.startsWith('-') && (camel(name) === m[1] || camel(name.replace(/^no-/, '')) === m[1]);
  });
  return `unknown option "${typed?.split('=')[0] ?? m[1]}"`;
}

/**
 * Ninja users type `-j32`, `-k0`, `-Cout`: cac reads a glued short option as a cluster of flags
 * (`-j -3 -2`). Split each short option that takes a value from its value, for every such
 * option of every command (after flags without a value: `-nj8` is `-n -j 8`); `--` ends options.
 */
export function splitGlued(argv: string[], cli: { commands: { options: { rawName: string; names: string[] }[] }[]; globalCommand: { options: { rawName: string; names: string[] }[] } }): string[] {
  const takesValue = new Set<string>();
  for (const c of [cli.globalCommand, ...cli.commands]) {
    for (const o of c.options) if (/[<[]/.test(o.rawName)) for (const m of o.rawName.matchAll(/(?:^|[\s,])-([A-Za-z])\b/g)) takesValue.add(m[1]!);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const m = /^-([A-Za-z]+)(.*)$/s.exec(a);
    const k = m === null ? -1 : [...m[1]!].findIndex((c) => takesValue.has(c));
    if (m === null || k < 0 || a.length === k + 2) {
      out.push(a);
      continue;
    }
    // The letters before the first that takes a value are flags; the rest is its value.
    out.push(`-${a.slice(1, k + 2)}`, a.slice(k + 2));
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  // `b ninja ...` is Ninja's command line, parsed as ninja parses it (getopt), not by cac.
  if (argv[0] === 'ninja') {
    const { runNinja } = await import('./ninja-cli.ts');
    return runNinja(argv.slice(1), new Logger());
  }
  const cli = cac('b');
  let log = new Logger();
  let result: Promise<number> | undefined;
  const mk = (o: Common): Logger => (log = new Logger({ verbose: o.verbose === true, quiet: o.quiet === true }));

  cli.option('--verbose', 'Show debug output').option('-q, --quiet', 'Only show warnings and errors');

  cli
    .command('build [...targets]', 'Build targets (default: the build file\'s defaults) from Bfile.ts or build.ninja')
    .option('-C, --dir <dir>', 'Change to DIR before doing anything')
    .option('-f, --file <file>', 'Build file (default: Bfile.ts, Bfile.js, Bfile.mjs, then build.ninja)')
    .option('-j, --jobs <n>', 'Run N commands in parallel (default: CPUs + 2, as Ninja; 0: unlimited)')
    .option('--workers <n>', 'Threads that run JavaScript (rule bodies, hashing; default: number of CPUs)')
    .option('-k, --keep-going <n>', 'Keep going until N jobs fail (0: never stop)', { default: 1 })
    .option('-n, --dry-run', 'Show what would run without running it')
    .option('--explain', 'Say why each rule runs')
    .option('--events <file>', 'Write build events as NDJSON to FILE')
    .option('--io-threads <n>', 'ZeroMQ I/O threads', { default: 1 })
    .option('--node <addr>', 'Also run work on the build node at ADDR: tcp://HOST:PORT[#NODE_PUBLIC_KEY] (repeatable; or B_NODES=addr,addr)')
    .option('--local <n>', 'With --node: command slots on this machine (default: CPUs + 2; 0: send all work to nodes)')
    .option('--key <file>', 'With --node: this client\'s key pair (default: ~/.config/b/client.key)')
    .option('--heartbeat <ms>', 'With --node: heartbeat interval; a node silent for 6 intervals is declared dead', { default: 500 })
    .option('--insecure', 'With --node: use nodes without a pinned key, in plaintext (trusted networks only; or B_INSECURE=1)')
    .option('--cache', 'Use the local action cache for Ninja edges (or B_CACHE=1; see `b cache`)')
    .option('--cache-upload', 'With --cache and --node: upload results run on this machine into the nodes\' caches (or B_CACHE_UPLOAD=1; the nodes must list this key in --cache-writers)')
    .example('b build -j 8 app')
    .example('b build --node tcp://build1:7070#build1.pub --node tcp://build2:7070#build2.pub -j 64')
    .action(async (targets: string[], o: Common & Record<string, unknown>) => {
      const l = mk(o);
      // For the whole process: worker threads and nested builds read it too.
      if (o.cache === true) process.env.B_CACHE = '1';
      if (o.cacheUpload === true) {
        process.env.B_CACHE = '1';
        process.env.B_CACHE_UPLOAD = '1';
      }
      const { buildCmd } = await import('./cmd-build.ts');
      result = buildCmd(targets, {
        ...(o.dir !== undefined ? { dir: String(o.dir) } : {}),
        ...(o.file !== undefined ? { file: String(o.file) } : {}),
        ...(o.jobs !== undefined ? { jobs: int(o.jobs, '-j', 0, 65536) } : {}),
        ...(o.workers !== undefined ? { workers: int(o.workers, '--workers', 1, 4096) } : {}),
        keepGoing: int(o.keepGoing, '-k', 0, 1e9) ?? 1,
        dryRun: o.dryRun === true,
        explain: o.explain === true,
        ...(o.events !== undefined ? { eventsFile: String(o.events) } : {}),
        ioThreads: int(o.ioThreads, '--io-threads', 0, 64) ?? 1,
        verbose: o.verbose === true,
        nodes: list(o.node),
        ...(o.local !== undefined ? { local: int(o.local, '--local', 0, 4096) } : {}),
        ...(o.key !== undefined ? { keyFile: String(o.key) } : {}),
        heartbeatMs: int(o.heartbeat, '--heartbeat', 50, 60_000) ?? 500,
        insecure: o.insecure === true,
      }, l);
    });

  cli
    .command('clean', 'Remove the files builds wrote (--dead: only those the build no longer produces)')
    .option('--dead', 'Only outputs of earlier builds that no rule produces any more')
    .option('-C, --dir <dir>', 'Change to DIR before doing anything')
    .option('-f, --file <file>', 'Build file')
    .action(async (o: Common & Record<string, unknown>) => {
      const l = mk(o);
      const { buildCmd } = await import('./cmd-build.ts');
      result = buildCmd([], {
        clean: o.dead === true ? 'clean-dead' : 'clean',
        ...(o.dir !== undefined ? { dir: String(o.dir) } : {}),
        ...(o.file !== undefined ? { file: String(o.file) } : {}),
        jobs: 1,
      }, l);
    });

  cli
    .command('demo [dir]', 'Build a bundled example project (in a temp dir, or in DIR to keep it)')
    .option('-j, --jobs <n>', 'Run N jobs in parallel')
    .action(async (dir: string | undefined, o: Common & Record<string, unknown>) => {
      const l = mk(o);
      const { demoCmd } = await import('./demo.ts');
      result = demoCmd(dir, { ...(o.jobs !== undefined ? { jobs: int(o.jobs, '-j', 0, 4096) ?? 0 } : {}) }, l);
    });

  // Listed for `b --help`; `run` hands `b ninja ...` to ninja-cli.ts before cac sees it.
  cli
    .command('ninja [...args]', 'Be ninja: its flags, messages and -t tools (also when this executable is named ninja)')
    .allowUnknownOptions()
    .example('b ninja -C build -j 8 all')
    .action(() => {});

  cli
    .command('init [dir]', 'Write a starter Bfile.ts and its types (b.d.ts)')
    .action(async (dir: string | undefined, o: Common) => {
      const l = mk(o);
      const { initCmd } = await import('./demo.ts');
      result = Promise.resolve(initCmd(dir ?? '.', l));
    });

  cli
    .command('node', 'Run a build node until stopped (Ctrl-C)')
    .option('--workers <n>', 'Threads that run JavaScript (default: number of CPUs)')
    .option('--jobs <n>', 'Commands run at once: the slots this node advertises (default: CPUs + 2, as Ninja)')
    .option('--io-threads <n>', 'ZeroMQ I/O threads', { default: 1 })
    .option('--listen <addr>', 'Accept clients from other machines on ADDR, e.g. tcp://0.0.0.0:7070 (repeatable)')
    .option('--key <file>', 'This node\'s key pair (b keygen NAME): encrypt and authenticate --listen addresses')
    .option('--allow <file>', 'Public keys of the clients allowed to connect (file, one per line; repeatable)')
    .option('--cache-writers <file>', 'Public keys that may upload results into this node\'s action cache (file, one per line; repeatable)')
    .option('--insecure', 'Listen without keys, and use nodes without pinned keys (plaintext; trusted networks only)')
    .option('--node <addr>', 'Use another node too: tcp://HOST:PORT[#NODE_PUBLIC_KEY] (repeatable)')
    .option('--name <id>', 'Node id shown to clients (default: host-pid-random)')
    .option('--heartbeat <ms>', 'Heartbeat interval; a peer silent for 6 intervals is declared dead', { default: 500 })
    .option('--drain <seconds>', 'On Ctrl-C, let running work finish for this long', { default: 30 })
    .example('b node --listen tcp://0.0.0.0:7070 --workers 16 --jobs 64 --key node.key --allow clients.pub')
    .action(async (o: Common & Record<string, unknown>) => {
      const l = mk(o);
      const { nodeCommand } = await import('./cmd-node.ts');
      result = nodeCommand({
        ...(o.workers !== undefined ? { workers: int(o.workers, '--workers', 1, 4096) } : {}),
        ...(o.jobs !== undefined ? { jobs: int(o.jobs, '--jobs', 1, 65536) } : {}),
        ioThreads: int(o.ioThreads, '--io-threads', 0, 64) ?? 1,
        listen: list(o.listen),
        ...(o.key !== undefined ? { keyFile: String(o.key) } : {}),
        allow: list(o.allow),
        cacheWriters: list(o.cacheWriters),
        insecure: o.insecure === true,
        peers: list(o.node),
        ...(o.name !== undefined ? { nodeId: String(o.name) } : {}),
        heartbeatMs: int(o.heartbeat, '--heartbeat', 50, 60_000) ?? 500,
        drainSeconds: int(o.drain, '--drain', 0, 86_400) ?? 30,
      }, l);
    });

  cli
    .command('status', 'Show build nodes: who is there, busy, healthy, and whether they match this machine')
    .option('--node <addr>', 'Node address tcp://HOST:PORT[#NODE_PUBLIC_KEY] (repeatable; or B_NODES)')
    .option('--key <file>', 'This client\'s key pair (default: ~/.config/b/client.key)')
    .option('--json', 'Print one JSON object per node')
    .option('--insecure', 'Talk to nodes without a pinned key, in plaintext (trusted networks only)')
    .action(async (o: Common & Record<string, unknown>) => {
      const l = mk(o);
      const { statusCmd } = await import('./cmd-status.ts');
      const { nodesFrom } = await import('./cmd-build.ts');
      result = statusCmd(nodesFrom(list(o.node)), { ...(o.key !== undefined ? { keyFile: String(o.key) } : {}), json: o.json === true, insecure: o.insecure === true }, l);
    });

  cli
    .command('keygen [name]', 'Create a CurveZMQ key pair NAME.key / NAME.pub (without NAME: print this client\'s public key)')
    .option('--show', 'Print this client\'s public key (creating ~/.config/b/client.key if needed)')
    .action(async (name: string | undefined, o: Common & { show?: boolean }) => {
      const l = mk(o);
      const { keygenCmd } = await import('./cmd-status.ts');
      result = keygenCmd(name, { show: o.show === true }, l);
    });

  cli
    .command('exec', 'Run a command on the workers of an in-process node: b exec [--count M] -- CMD ARGS...')
    .option('--workers <n>', 'Threads that run JavaScript (default: number of CPUs)')
    .option('-j, --jobs <n>', 'Commands at once (default: CPUs + 2)')
    .option('--io-threads <n>', 'ZeroMQ I/O threads', { default: 1 })
    .option('--count <m>', 'Run the command M times; each item sees its index in $B_ITEM', { default: 1 })
    .option('--shell', 'Run the command through the shell (sh -c)')
    .option('--json', 'Print one JSON object per item (exit, start, end, output)')
    .example('b exec --count 8 -j 4 -- sh -c "sleep 1; echo item $B_ITEM"')
    .action(async (o: Common & { workers?: unknown; jobs?: unknown; ioThreads?: unknown; count?: unknown; json?: boolean; shell?: boolean; '--'?: string[] }) => {
      const l = mk(o);
      const { execCmd } = await import('./cmd-exec.ts');
      result = execCmd(o['--'] ?? [], {
        ...(o.workers !== undefined ? { workers: int(o.workers, '--workers', 1, 4096) } : {}),
        ...(o.jobs !== undefined ? { jobs: int(o.jobs, '-j', 1, 65536) } : {}),
        ioThreads: int(o.ioThreads, '--io-threads', 0, 64) ?? 1,
        count: int(o.count, '--count', 1, 10_000_000) ?? 1,
        json: o.json === true,
        shell: o.shell === true,
      }, l);
    });

  cli
    .command('cache <op>', 'The local action cache: `b cache stats` (entries, size, limit) or `b cache clear`')
    .option('--json', 'stats: print one JSON object')
    .action(async (op: string, o: Common & { json?: boolean }) => {
      const l = mk(o);
      const { cacheCmd } = await import('./cmd-cache.ts');
      result = Promise.resolve(cacheCmd(op, o, l));
    });

  cli
    .command('debug <job> [...args]', 'Internal jobs for tests and benchmarks: fib N | throw | sleep MS | bench | startup')
    .option('--workers <n>', 'Worker threads (default: number of CPUs)')
    .option('--io-threads <n>', 'ZeroMQ I/O threads', { default: 1 })
    .option('--items <n>', 'bench: number of round trips', { default: 100000 })
    .option('--inflight <n>', 'bench: requests in flight', { default: 500 })
    .option('--size <bytes>', 'bench: work item size', { default: 32 })
    .action(async (job: string, args: string[], o: Common & Record<string, unknown>) => {
      const l = mk(o);
      const { debugCmd } = await import('./cmd-debug.ts');
      result = debugCmd(job, args, {
        ...(o.workers !== undefined ? { workers: int(o.workers, '--workers', 1, 4096) } : {}),
        ioThreads: int(o.ioThreads, '--io-threads', 0, 64) ?? 1,
        items: int(o.items, '--items', 1, 1e9) ?? 100000,
        inflight: int(o.inflight, '--inflight', 1, 1e6) ?? 500,
        size: int(o.size, '--size', 1, 1 << 20) ?? 32,
      }, l);
    });

  cli.help();
  cli.version(VERSION);

  let unknown: string | undefined;
  cli.addEventListener('command:*', (e) => {
    unknown = String((e as CustomEvent).detail);
  });

  try {
    cli.parse(['node', 'b', ...splitGlued(argv, cli)], { run: false });
    if (unknown !== undefined) {
      throw new UserError({ code: 'usage', message: `unknown command "${unknown}"`, hint: 'run `b --help` for the list of commands' });
    }
    if (!cli.matchedCommand) {
      if (cli.options.help || cli.options.version) return 0;
      cli.outputHelp();
      return 0;
    }
    if (cli.options.help) return 0;
    await cli.runMatchedCommand();
    return result === undefined ? 0 : await result;
  } catch (e) {
    if (e instanceof Error && e.name === 'CACError') {
      return log.fatal(new UserError({ code: 'usage', message: originalFlag(e.message, argv), hint: 'run `b --help` or `b <command> --help`' }));
    }
    return log.fatal(e);
  }
}
