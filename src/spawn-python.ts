// The spawn helper's script in Python, for Linux: same protocol and behaviour as the Perl one
// (spawn-perl.ts has the protocol), but each command starts with posix_spawn.
//
// Why a second script: Perl can only fork(), and a fork copies the helper's page tables and
// then pays a copy-on-write fault for every page either side writes before the exec. Measured
// on the 4,000-cheap-edge build (perf, 2 CPUs): the Perl helper and its children before exec
// cost 1.37 ms of CPU per command, 1.0 ms of it in the kernel. glibc's posix_spawn starts the
// child with CLONE_VM|CLONE_VFORK: no page tables are copied and no page is faulted.
//
// posix_spawn has no chdir action that Python exposes, so the helper (one thread) changes its
// own directory for a spawn. It goes back to the directory it started in (held open as a
// descriptor, so that a renamed directory does not matter) only when a command has no cwd or a
// relative one: an absolute cwd does not depend on where the helper is, which saves an fchdir
// per command. Signals: SIGCHLD wakes poll() through signal.set_wakeup_fd, written in the
// C-level handler, so no SIGCHLD can be missed between a check and the wait (the race the Perl
// script guards against with a 20 ms timeout), and the helper reaps only after such a wake-up
// (a wake-up for requests costs no waitpid). Children get default dispositions and an empty
// mask (setsigdef, setsigmask).
//
// Output: each slot (B's number for a running command) has one file, opened once by the helper
// with O_APPEND and given to every command of that slot as stdout and stderr (dup2 file
// actions: one open file, so the two streams interleave as through Ninja's one pipe). A command's
// output is what it appended: the reply says from which offset and how many bytes (the end
// comes from lseek), and the helper truncates the file before a start once it holds more than
// 64 KiB, so a slot's file stays small without a truncate per command. Measured before this: the
// vfork child's open of the slot file with O_TRUNC and of /dev/null cost ~16 µs per command of
// the ~143 µs it spends before exec (ext4 journals even an empty file's truncate, ~9 µs), and
// a stat by path per reap another ~8 µs in the helper. Both helpers, measured alone
// (scripts/bench-spawn.ts, 1,000 `echo i > oi` at -j2, load 9-12): Python 180-220 µs of its
// own CPU per command, Perl 510-550 µs and 400-600 µs more in its children (fork's page-table
// copy and copy-on-write faults), so Python stays the default on Linux.
//
// A command whose caller wants its stdout apart (a Bfile rule's run() resolves with it) comes
// with the mode in capitals: its stdout goes to a second file of the slot (\`<slot>o\`, held and
// truncated the same way) and its stderr to the first, and the reply adds that file's offset and
// length. Its output (what the log shows) is then its stdout followed by its stderr: two files
// cannot say how the streams interleaved (through pipes, as exec.ts reads them, a stdout that is
// not a terminal is block-buffered anyway, so the order was never the terminal's). Before, such a
// command went to the Node helper, this executable started again: the demo's first command
// started ~50 ms later, after that process and its threads had booted.
//
// Replies are gathered and written once per turn of the loop, before it waits again: every
// command that one wake-up reaped (and every start that failed) in one write. The script imports
// _signal rather than signal (which imports enum: 1-4 ms of the helper's start).
//
// Only on Linux: macOS's /usr/bin/python3 may be a stub that offers to install developer tools.

import * as fs from 'node:fs';

export const PYTHON_SCRIPT = String.raw`
import os, sys, _signal as signal, select, time
if not hasattr(os, 'posix_spawn') or sys.version_info < (3, 8):
    sys.exit(3)
d = sys.argv[1]
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGPIPE, signal.SIG_IGN)
sr, sw = os.pipe()
os.set_blocking(sw, False)
os.set_blocking(sr, False)
signal.set_wakeup_fd(sw, warn_on_full_buffer=False)
signal.signal(signal.SIGCHLD, lambda s, f: None)
home = os.open('.', os.O_RDONLY)
null = os.open('/dev/null', os.O_RDONLY)
base = dict(os.environb)
DEFAULT = [signal.SIGINT, signal.SIGPIPE, signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT]
DUP2 = os.POSIX_SPAWN_DUP2
KEEP = 65536
SH = b'/bin/sh'
pspawn = os.posix_spawn
pspawnp = os.posix_spawnp
waitpid = os.waitpid
lseek = os.lseek
slots = {}
pids = {}
who = {}
state = {'eof': 0, 'dead': False, 'away': False}
replies = []
say = replies.append
def out():
    if state['dead'] or not replies:
        del replies[:]
        return
    b = ''.join(replies).encode('utf-8', 'replace')
    del replies[:]
    try:
        while b:
            n = os.write(1, b)
            b = b[n:]
    except OSError:
        state['dead'] = True
def start(cid, slot, p):
    s = slots.get(slot)
    if s is None:
        name = '%s/%s' % (d, slot.decode())
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as e:
            return say('E %s cannot write %s: %s\n' % (cid, name, e.strerror))
        s = slots[slot] = [fd, [(DUP2, null, 0), (DUP2, fd, 1), (DUP2, fd, 2)], 0, None, None, 0]
    f = p.split(b'\0')
    mode, cwd, n = f[0], f[1], int(f[2])
    split = mode == b'S' or mode == b'A'
    if split and s[3] is None:
        name = '%s/%so' % (d, slot.decode())
        try:
            ofd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as e:
            return say('E %s cannot write %s: %s\n' % (cid, name, e.strerror))
        s[3] = ofd
        s[4] = [(DUP2, null, 0), (DUP2, ofd, 1), (DUP2, s[0], 2)]
    env = base
    if n > 0:
        env = dict(base)
        for i in range(n):
            env[f[3 + 2 * i]] = f[4 + 2 * i]
    rest = f[3 + 2 * n:]
    if mode == b's' or mode == b'S':
        prog, argv, spawn = SH, [SH, b'-c', rest[0]], pspawn
    else:
        prog, argv, spawn = rest[0], rest, pspawnp
    if cwd:
        try:
            if state['away'] and cwd[0] != 47:
                os.fchdir(home)
                state['away'] = False
            os.chdir(cwd)
            state['away'] = True
        except OSError as e:
            return say('E %s cannot change to directory %s: %s\n' % (cid, cwd.decode('utf-8', 'replace'), e.strerror))
    elif state['away']:
        os.fchdir(home)
        state['away'] = False
    off = s[2]
    if off > KEEP:
        os.ftruncate(s[0], 0)
        off = s[2] = 0
    soff = -1
    if split:
        soff = s[5]
        if soff > KEEP:
            os.ftruncate(s[3], 0)
            soff = s[5] = 0
    try:
        pid = spawn(prog, argv, env, file_actions=s[4] if split else s[1], setpgroup=0, setsigdef=DEFAULT, setsigmask=[])
    except OSError as e:
        msg = ('%s: %s' % (prog.decode('utf-8', 'replace'), e.strerror)).replace('\n', ' ')
        return say('E %s %s\n' % (cid, msg))
    pids[cid] = pid
    who[pid] = (cid, s, off, soff)
def reap():
    while who:
        try:
            p, st = waitpid(-1, 1)
        except ChildProcessError:
            return
        if p == 0:
            return
        w = who.pop(p, None)
        if w is None:
            continue
        cid, s, off, soff = w
        del pids[cid]
        end = s[2] = lseek(s[0], 0, 2)
        tail = ''
        if soff >= 0:
            se = s[5] = lseek(s[3], 0, 2)
            tail = ' %d %d' % (soff, se - soff)
        if st & 127:
            say('D %s s %d %d %d%s\n' % (cid, st & 127, off, end - off, tail))
        else:
            say('D %s x %d %d %d%s\n' % (cid, (st >> 8) & 255, off, end - off, tail))
def stop_all(sig):
    for p in list(pids.values()):
        try:
            os.killpg(p, sig)
        except OSError:
            pass
SIGS = {b'TERM': signal.SIGTERM, b'KILL': signal.SIGKILL, b'INT': signal.SIGINT, b'HUP': signal.SIGHUP}
buf = b''
def parse():
    global buf
    i = 0
    size = len(buf)
    while True:
        nl = buf.find(b'\n', i)
        if nl < 0:
            break
        h = buf[i:nl].split(b' ')
        if h[0] == b'R' and len(h) == 4:
            e = nl + 1 + int(h[3])
            if e > size:
                break
            start(h[1].decode(), h[2], buf[nl + 1:e])
            i = e
        else:
            i = nl + 1
            if h[0] == b'K' and len(h) == 3:
                cid = h[1].decode()
                sig = SIGS.get(h[2])
                if sig is not None and cid in pids:
                    try:
                        os.killpg(pids[cid], sig)
                    except OSError:
                        pass
    buf = buf[i:]
poller = select.poll()
poller.register(sr, select.POLLIN)
poller.register(0, select.POLLIN)
say('ready\n')
deadline = None
chld = False
while True:
    if chld or state['eof']:
        chld = False
        reap()
    if state['eof']:
        if not who:
            break
        if deadline is None:
            stop_all(signal.SIGTERM)
            deadline = time.monotonic() + 3
        elif time.monotonic() >= deadline:
            stop_all(signal.SIGKILL)
            deadline = time.monotonic() + 3600
    out()
    for fd, ev in poller.poll(100 if state['eof'] else None):
        if fd == sr:
            chld = True
            try:
                os.read(sr, 4096)
            except BlockingIOError:
                pass
            continue
        try:
            chunk = os.read(0, 65536)
        except InterruptedError:
            continue
        except OSError:
            chunk = b''
        if not chunk:
            state['eof'] = 1
            poller.unregister(0)
            continue
        buf += chunk
        parse()
out()
for f in os.listdir(d):
    try:
        os.unlink(os.path.join(d, f))
    except OSError:
        pass
try:
    os.rmdir(d)
except OSError:
    pass
`;

/** Python 3 if this Linux machine has it (absolute paths only: PATH is the build's, not ours). */
export function pythonPath(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  return ['/usr/bin/python3', '/bin/python3', '/usr/local/bin/python3'].find((p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
