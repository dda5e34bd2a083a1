// The small spawn helper: a Perl process that forks and execs commands for B, on Linux and macOS.
//
// Why not a Node process (spawner.ts's helper): libuv starts a child with fork() on the calling
// thread, and fork copies the page tables of the whole process. In a Node process that is ~2 ms of
// CPU per command even in a bare `node` (measured: 2,000 `sh -c 'echo x > f'` at -j2, 1.6-2.0 ms
// of the parent's CPU each), and 4.3 ms in B's own executable used as a helper: at -j2 one helper
// could start only ~230 commands a second, so a 4,000-edge build of cheap commands took 19 s where
// ninja takes 4.3 s, and 400 × `sleep 0.5` at -j200 spent 1.7 s in fork alone. Perl is ~3 MB and
// forks in ~0.1 ms; it is in every macOS and in Debian's essential set (perl-base). Where it is
// missing (Alpine, Windows) B uses the Node helper.
//
// Output files are named by slot numbers, helper.pl is the script: the names never meet.
//
// Commands run as Ninja runs them: `/bin/sh -c CMD` (or an argv), stdin /dev/null, stdout and
// stderr into one stream (a file per running command here, in a private 0700 directory, read
// once the command ends), each command in its own process group so that a stop reaches its whole
// tree. When B goes away, however it died (its end of the pipe closes), the helper stops every
// command it started (SIGTERM, SIGKILL 2 s later), removes its directory and exits: no orphans.
//
// The script loads no module (POSIX alone adds 2.5 MB, which every fork copies): WNOHANG is 1
// and EINTR 4 on Linux and macOS alike. The self-pipe that wakes select() on SIGCHLD stays
// blocking: one byte per signal, drained every turn, never fills.
//
// Protocol (one writer each way; B side decodes every reply through parseReply):
//   B -> helper  `R <id> <slot> <len>\n` + <len> bytes: mode ("s" shell / "a" argv; "S" / "A":
//                the same with stdout apart, Python only), cwd, number of env pairs, the pairs,
//                then the shell command or the argv; NUL-separated.
//                `K <id> <signal>\n`: signal the command's process group (INT, TERM, HUP, KILL).
//   helper -> B  `ready\n` once; `D <id> x <code> <offset> <bytes>\n` (exited), `D <id> s <signo>
//                <offset> <bytes>\n` (killed by a signal): the command's output is <bytes> bytes
//                of its slot's file from <offset> (the Perl script truncates the file at each
//                start, so its offset is 0; the Python one appends, see spawn-python.ts); a
//                command with stdout apart adds ` <offset> <bytes>` of the slot's stdout file;
//                `E <id> <message>\n` (could not start: chdir, exec).

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExecRequest, ExecResult } from './messages.ts';
import { PYTHON_SCRIPT, pythonPath } from './spawn-python.ts';

const SCRIPT = String.raw`
use strict; use warnings;
my $dir = shift @ARGV;
$SIG{INT} = 'IGNORE'; $SIG{PIPE} = 'IGNORE';
pipe(my $sr, my $sw) or die "pipe: $!";
$SIG{CHLD} = sub { syswrite($sw, 'c') };
my (%pid, %who, @forked); my $in = ''; my $eof = 0; my $deadline;
sub say_ { my $s = shift; return if $eof > 1; my $n = syswrite(STDOUT, $s); $eof = 2 unless defined $n && $n == length $s; }
sub start {
  my ($id, $slot, $p) = @_;
  my @f = split /\0/, $p, -1;
  my $mode = shift @f; my $cwd = shift @f; my $n = shift @f;
  my @env = splice(@f, 0, 2 * $n);
  pipe(my $er, my $ew) or return say_("E $id pipe: $!\n");
  my $pid = fork();
  if (!defined $pid) { return say_("E $id fork: $!\n"); }
  if ($pid == 0) {
    $SIG{$_} = 'DEFAULT' for qw(INT PIPE CHLD);
    close $er;
    setpgrp(0, 0);
    if ($cwd ne '' && !chdir $cwd) { syswrite($ew, "cannot change to directory $cwd: $!"); exit 127; }
    while (@env) { my $k = shift @env; $ENV{$k} = shift @env; }
    open(STDIN, '<', '/dev/null');
    if (!open(STDOUT, '>', "$dir/$slot")) { syswrite($ew, "cannot write $dir/$slot: $!"); exit 127; }
    open(STDERR, '>&', \*STDOUT);
    if ($mode eq 's') { exec { '/bin/sh' } '/bin/sh', '-c', $f[0]; } else { exec { $f[0] } @f; }
    syswrite($ew, "$f[0]: $!"); exit 127;
  }
  setpgrp($pid, $pid);
  close $ew;
  $pid{$id} = $pid; $who{$pid} = [$id, $slot];
  push @forked, [$id, $pid, $er];
}
# Whether each child got to exec: its pipe closes on exec, or carries why not. Read after a
# batch of forks, not after each: the children get there in parallel.
sub execed {
  for my $c (@forked) {
    my ($id, $pid, $er) = @$c; my $err = ''; my $r;
    do { $r = sysread($er, $err, 4096) } while (!defined $r && $! == 4);
    close $er;
    next if $err eq '';
    waitpid($pid, 0); delete $who{$pid}; delete $pid{$id};
    $err =~ s/\s+/ /g; say_("E $id $err\n");
  }
  @forked = ();
}
sub reap {
  while ((my $p = waitpid(-1, 1)) > 0) {
    my $st = $?; my $w = delete $who{$p}; next unless $w;
    my ($id, $slot) = @$w; delete $pid{$id};
    my $size = (-s "$dir/$slot") || 0;
    if ($st & 127) { say_("D $id s " . ($st & 127) . " 0 $size\n"); } else { say_("D $id x " . ($st >> 8) . " 0 $size\n"); }
  }
}
sub stop_all { my $sig = shift; kill($sig, -$_) for values %pid; }
sub parse {
  while ((my $nl = index($in, "\n")) >= 0) {
    my @h = split / /, substr($in, 0, $nl);
    if ($h[0] eq 'R' && @h == 4) {
      last if length($in) < $nl + 1 + $h[3];
      my $p = substr($in, $nl + 1, $h[3]); substr($in, 0, $nl + 1 + $h[3]) = '';
      start($h[1], $h[2], $p);
      execed() if @forked >= 64;
    } else {
      substr($in, 0, $nl + 1) = '';
      if ($h[0] eq 'K' && @h == 3 && defined $pid{$h[1]}) { kill($h[2], -$pid{$h[1]}); }
    }
  }
}
say_("ready\n");
for (;;) {
  reap();
  if ($eof) {
    last if !%who;
    if (!defined $deadline) { stop_all('TERM'); $deadline = time + 3; }
    elsif (time >= $deadline) { stop_all('KILL'); $deadline = time + 3600; }
  }
  my $rin = ''; vec($rin, fileno($sr), 1) = 1; vec($rin, fileno(STDIN), 1) = 1 unless $eof;
  # Perl's signals are deferred: a SIGCHLD that lands between its check and select() is seen
  # only at the next wake-up (a build hung so, with two zombies), so while commands run select
  # also wakes every 20 ms.
  my $n = select(my $rout = $rin, undef, undef, $eof ? 0.1 : %who ? 0.02 : undef);
  next if $n <= 0;
  if (vec($rout, fileno($sr), 1)) { my $junk; sysread($sr, $junk, 512); }
  if (!$eof && vec($rout, fileno(STDIN), 1)) {
    my $r = sysread(STDIN, $in, 65536, length $in);
    if (defined $r && $r == 0 || !defined $r && $! != 4) { $eof = 1; next; }
    parse();
    execed();
  }
}
if (opendir(my $dh, $dir)) { unlink "$dir/$_" for grep { !/^\.\.?$/ } readdir $dh; closedir $dh; rmdir $dir; }
exit 0;
`;

/** One reply of the helper, decoded and checked (anything else is dropped, never guessed at). */
export type PerlReply =
  | { kind: 'ready' }
  | { kind: 'done'; id: number; exit: number; signal: number; offset: number; bytes: number; stdout?: { offset: number; bytes: number } }
  | { kind: 'error'; id: number; message: string };

// One pattern per reply kind: a D line is matched and its fields captured in one pass (at 1.7
// µs a line against 3.4 for split and a test per field, measured in Node under load).
const DONE = /^D (\d{1,15}) ([xs]) (\d{1,15}) (\d{1,15}) (\d{1,15})(?: (\d{1,15}) (\d{1,15}))?$/;
const ERROR = /^E (\d{1,15}) (.+)$/s;

export function parseReply(line: string): PerlReply | undefined {
  if (line === 'ready') return { kind: 'ready' };
  const d = DONE.exec(line);
  if (d !== null) {
    const n = Number(d[3]);
    const r: PerlReply = { kind: 'done', id: Number(d[1]), exit: d[2] === 'x' ? n : -1, signal: d[2] === 's' ? n : 0, offset: Number(d[4]), bytes: Number(d[5]) };
    if (d[6] !== undefined) r.stdout = { offset: Number(d[6]), bytes: Number(d[7]) };
    return r;
  }
  const e = ERROR.exec(line);
  return e !== null ? { kind: 'error', id: Number(e[1]), message: e[2]! } : undefined;
}

/** The request frame for one command, or undefined if the helper cannot run it as asked. */
export function encodeRequest(id: number, slot: number, req: ExecRequest): Buffer | undefined {
  const env = Object.entries(req.env ?? {});
  const split = req.splitStdout === true;
  const tail = req.argv !== undefined ? [split ? 'A' : 'a', req.cwd ?? '', String(env.length), ...env.flat(), ...req.argv] : req.shell !== undefined ? [split ? 'S' : 's', req.cwd ?? '', String(env.length), ...env.flat(), req.shell] : undefined;
  if (tail === undefined || (req.argv !== undefined && req.argv.length === 0) || tail.some((s) => s.includes('\0'))) return undefined;
  const body = tail.join('\0');
  return Buffer.from(`R ${id} ${slot} ${Buffer.byteLength(body, 'utf8')}\n${body}`, 'utf8');
}

/** The answer for a command a helper never read (it died before it was ready): start it another way. */
export const NOT_STARTED: ExecResult = Object.freeze({ exit: -1, output: '', start: 0, end: 0, spawnError: 'not started' });

const SIGNAL_NAMES = new Map<number, string>(Object.entries(os.constants.signals).map(([k, v]) => [v, k]));
const GRACE_MS = 2000;

/** Where Perl is, if this machine has it (absolute paths only: PATH is the build's, not ours). */
function perlPath(): string | undefined {
  if (process.platform !== 'linux' && process.platform !== 'darwin') return undefined;
  return ['/usr/bin/perl', '/bin/perl', '/usr/local/bin/perl', '/opt/homebrew/bin/perl'].find((p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

interface Running {
  req: ExecRequest;
  slot: number;
  start: number;
  resolve: (r: ExecResult) => void;
  killTimer?: NodeJS.Timeout;
}

/** The Perl helper of this thread (see the file header). Same interface as spawner.ts's. */
export class PerlSpawner {
  private readonly child: ChildProcess;
  private readonly dir: string;
  /** Which script runs (error messages name it). */
  readonly kind: 'perl' | 'python';
  private readonly pending = new Map<number, Running>();
  private readonly freeSlots: number[] = [];
  /** Slot file name ("3", or "3o" for stdout apart) -> this side's read descriptor (see readOutput). */
  private readonly outFds = new Map<string, number>();
  private slots = 0;
  private nextId = 1;
  broken = false;
  ready = false;
  private stderr = '';
  /**
   * Frames waiting for this turn's single write. At -j2 on 4,000 cheap edges a write per
   * request cost 23-27 µs of B's main thread each (V8 profile); one write per event-loop turn
   * carries every request of that turn (a reply read often finishes two commands, and their
   * successors start in the same turn).
   */
  private out: (Buffer | string)[] = [];
  private flushQueued = false;

  /**
   * Starts the helper: the Python script where Linux has Python 3 (posix_spawn, see
   * spawn-python.ts), else the Perl one. B_SPAWNER=perl or =python picks one.
   */
  static start(prefer?: 'perl' | 'python'): PerlSpawner | undefined {
    const want = process.env.B_SPAWNER === 'perl' || process.env.B_SPAWNER === 'python' ? process.env.B_SPAWNER : prefer;
    const python = want === 'perl' ? undefined : pythonPath();
    const interpreter = python ?? (want === 'python' ? undefined : perlPath());
    if (interpreter === undefined) return undefined;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'b-spawn-'));
    try {
      // From a file in its own directory (removed with it), not `-e`: `ps` shows one short line.
      const script = path.join(dir, python !== undefined ? 'helper.py' : 'helper.pl');
      fs.writeFileSync(script, python !== undefined ? PYTHON_SCRIPT : SCRIPT, { mode: 0o600 });
      // -I -S: no site packages, no PYTHON* variables of the build's environment.
      const argv = python !== undefined ? ['-I', '-S', script, dir] : [script, dir];
      const child = spawn(interpreter, argv, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      return new PerlSpawner(child, dir, python !== undefined ? 'python' : 'perl');
    } catch {
      fs.rmSync(dir, { recursive: true, force: true });
      return undefined;
    }
  }

  private constructor(child: ChildProcess, dir: string, kind: 'perl' | 'python') {
    this.child = child;
    this.dir = dir;
    this.kind = kind;
    child.unref();
    let buf = '';
    child.stdout?.setEncoding('utf8');
    // Every complete reply of one read in one pass: split once, keep the unfinished tail.
    child.stdout?.on('data', (d: string) => {
      const lines = (buf + d).split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) {
        const r = parseReply(l);
        if (r !== undefined) this.onReply(r);
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-2000)));
    child.on('exit', (code, sig) => this.lost(sig ? `was killed by ${sig}` : `exited (${code ?? '?'})`));
    child.on('error', (e) => this.lost(`failed: ${e.message}`));
    child.stdin?.on('error', (e) => this.lost(`stopped reading: ${e.message}`));
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as { unref?: () => void } | null)?.unref?.();
  }

  private onReply(r: PerlReply): void {
    if (r.kind === 'ready') {
      this.ready = true;
      return;
    }
    const p = this.pending.get(r.id);
    if (p === undefined) return;
    this.pending.delete(r.id);
    // The last command answered: unref'd here rather than in a reaction to every command's
    // promise (one promise job less per command); a successor started by the caller refs again.
    if (this.pending.size === 0) this.unrefOutput();
    if (p.killTimer !== undefined) clearTimeout(p.killTimer);
    const end = Date.now();
    if (r.kind === 'error') {
      this.freeSlots.push(p.slot);
      p.resolve({ exit: -1, output: '', start: p.start, end, spawnError: r.message });
      return;
    }
    const max = p.req.maxOutput ?? 4 * 1024 * 1024;
    let output = '';
    let stdout: string | undefined;
    if (p.req.splitStdout === true) {
      if (r.stdout === undefined) {
        this.freeSlots.push(p.slot);
        p.resolve({ exit: -1, output: '', start: p.start, end, spawnError: `B's spawn helper (${this.kind}) answered without the command's stdout: a bug in B` });
        return;
      }
      // All of it, as exec.ts keeps it: the rule asked for it. Then the output: stdout, stderr.
      stdout = r.stdout.bytes > 0 ? this.readOutput(`${p.slot}o`, r.stdout.offset, r.stdout.bytes, Infinity) : '';
      const err = r.bytes > 0 ? this.readOutput(String(p.slot), r.offset, r.bytes, max) : '';
      output = stdout.length <= max ? stdout + err : `${stdout.slice(0, max)}\n[b: ${stdout.length - max} more bytes of stdout elided from the output]\n${err}`;
    } else if (r.bytes > 0) {
      output = this.readOutput(String(p.slot), r.offset, r.bytes, max);
    }
    this.freeSlots.push(p.slot);
    const res: ExecResult = { exit: r.exit, output, start: p.start, end };
    if (stdout !== undefined) res.stdout = stdout;
    if (r.signal !== 0) res.signal = SIGNAL_NAMES.get(r.signal) ?? `signal ${r.signal}`;
    p.resolve(res);
  }

  private readOutput(file: string, offset: number, bytes: number, max: number): string {
    try {
      // Each slot's file stays open once read (closed with the helper): a command with output
      // costs one pread here, not open, read and close.
      let fd = this.outFds.get(file);
      if (fd === undefined) {
        fd = fs.openSync(path.join(this.dir, file), 'r');
        this.outFds.set(file, fd);
      }
      const b = Buffer.allocUnsafe(Math.min(bytes, max));
      const n = fs.readSync(fd, b, 0, b.length, offset);
      let s = b.subarray(0, n).toString('utf8');
      if (bytes > max) s += `\n[b: ${bytes - max} more bytes of output elided]\n`;
      return s;
    } catch (e) {
      return `[b: the command's output could not be read: ${(e as Error).message}]\n`;
    }
  }

  private unrefOutput(): void {
    (this.child.stdout as { unref?: () => void } | null)?.unref?.();
  }

  /** Closes the slot files this side holds and removes the helper's directory. */
  private removeDir(): void {
    for (const fd of this.outFds.values()) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed: nothing to release
      }
    }
    this.outFds.clear();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private lost(why: string): void {
    if (this.broken && this.pending.size === 0) return;
    this.broken = true;
    this.out = [];
    const left = [...this.pending.values()];
    this.pending.clear();
    this.unrefOutput();
    const now = Date.now();
    const detail = this.stderr.trim() ? ` (${this.stderr.trim().split('\n').slice(-2).join('; ')})` : '';
    for (const p of left) {
      if (p.killTimer !== undefined) clearTimeout(p.killTimer);
      // Not ready: it read nothing, so the caller may start the command another way.
      if (!this.ready) p.resolve(NOT_STARTED);
      else p.resolve({ exit: -1, output: '', start: p.start, end: now, spawnError: `B's spawn helper (${this.kind}, pid ${this.child.pid ?? '?'}) ${why}${detail} while this command ran; it was not retried, so that it cannot run twice: build again` });
    }
    this.removeDir();
  }

  /** Whether this helper can run the request (else the caller uses another way): stdout apart only Python's. */
  accepts(req: ExecRequest): boolean {
    return req.console !== true && (req.splitStdout !== true || this.kind === 'python');
  }

  run(req: ExecRequest): { id: number; done: Promise<ExecResult> } | undefined {
    const id = this.nextId++;
    const slot = this.freeSlots.pop() ?? this.slots++;
    const frame = encodeRequest(id, slot, req);
    if (frame === undefined) {
      this.freeSlots.push(slot);
      return undefined;
    }
    const done = new Promise<ExecResult>((resolve) => this.pending.set(id, { req, slot, start: Date.now(), resolve }));
    // The helper's pipes do not keep this process alive, but a command it runs for us must: a
    // caller with nothing else pending (a no-op build replaying its commands) would exit early.
    if (this.pending.size === 1) (this.child.stdout as { ref?: () => void } | null)?.ref?.();
    this.send(frame);
    return { id, done };
  }

  /** Stops a command's process group: `sig` (SIGTERM by default), then SIGKILL after a grace period. */
  kill(id: number, sig: 'SIGINT' | 'SIGTERM' | 'SIGHUP' = 'SIGTERM'): void {
    const p = this.pending.get(id);
    if (p === undefined || this.broken || p.killTimer !== undefined) return;
    // A stop is written at once (after what this turn queued, so that it follows its request):
    // a caller that stops a build may exit before an immediate would run.
    this.send(`K ${id} ${sig.slice(3)}\n`);
    this.flush();
    p.killTimer = setTimeout(() => {
      if (this.pending.get(id) === p && !this.broken) {
        this.send(`K ${id} KILL\n`);
        this.flush();
      }
    }, GRACE_MS);
    p.killTimer.unref();
  }

  /**
   * Queues a frame for this turn's write. setImmediate, not a microtask: the engine starts a
   * successor several promise hops after the reply that freed its slot, and the immediate still
   * runs before the loop next waits, so a request waits microseconds, never for I/O.
   */
  private send(frame: Buffer | string): void {
    this.out.push(frame);
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => this.flush());
  }

  /** Writes the queued frames, in order, as one write. */
  flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0) return;
    const parts = this.out.map((f) => (typeof f === 'string' ? Buffer.from(f) : f));
    this.out = [];
    this.child.stdin?.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  }

  killAll(): void {
    for (const id of this.pending.keys()) this.kill(id);
  }

  get running(): number {
    return this.pending.size;
  }

  /** The signal that ended the helper, if one did (null while it runs or after an orderly exit). */
  get endedBy(): NodeJS.Signals | null {
    return this.child.signalCode;
  }

  /** Closes the helper (it stops its commands, removes its directory, exits); resolves when gone. */
  close(ms = 3000): Promise<void> {
    // What this turn queued goes out before the end of input (the helper then stops it).
    this.flush();
    this.broken = true;
    // Nothing running: nothing for the helper to stop, and SIGKILL ends it at once, where its
    // orderly exit (the interpreter's teardown) added 15-20 ms to the end of every build.
    if (this.pending.size === 0 && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    return closeHelper(this.child, ms, () => this.removeDir());
  }
}

/**
 * Closes a helper's stdin (it stops its commands and exits) and resolves once it has exited
 * (then runs `gone`), or after `ms`.
 */
export function closeHelper(child: ChildProcess, ms: number, gone: () => void = () => {}): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    gone();
    return Promise.resolve();
  }
  const exited = new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    child.once('exit', () => {
      clearTimeout(t);
      gone();
      resolve();
    });
  });
  child.stdin?.end();
  return exited;
}
