#!/usr/bin/env python3
"""e2e: memtop inject PID on programs started WITHOUT the preload (TAP).

usage: inject.py MEMTOP INJECT_TARGET PLUGIN [STATIC_PROG]

- prog_inject_target (threads blocked in read() on a pipe and in nanosleep(), one churning
  malloc/free, main reading commands on stdin) is injected mid-run: its output and exit status
  equal a bare run's, it saw 0 EINTR, and the allocations made after the injection appear
  exactly per call site (memtop -b attached); the 10 blocks made before are unknown frees; a
  library dlopen'ed after the injection (PLUGIN) has its allocations traced.
- --undo puts the slots back: the next allocations are not seen, the program goes on.
- inject + undo 20 times on one process: it survives with the bare run's output.
- refusals, one line, non-zero, target alive: static binary, no such pid, already under ptrace,
  another user's process.
- python3 injected mid-run finishes with the bare run's output, its allocations traced exactly
  and symbolized; sqlite3 injected between two statements gives the bare run's output.
Skips (a TAP "1..0 # SKIP" plan) with the reason where ptrace cannot be used here."""
import ctypes
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time

MEMTOP, TARGET, PLUGIN = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
STATIC = sys.argv[4] if len(sys.argv) > 4 else ""
ENV = dict(os.environ, MALLOC_PERTURB_="0", DEBUGINFOD_URLS="")
n = 0
failed = 0


def ok(what, cond):
    global n, failed
    n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, what), flush=True)
    if not cond:
        failed += 1


def skip(what, why):
    global n
    n += 1
    print("ok %d - %s # SKIP %s" % (n, what, why), flush=True)


class Target:
    """A program driven line by line on stdin; its stdout read with a deadline."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=ENV, text=True)
        self.out = []

    def line(self, timeout=10.0):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            return None
        s = self.p.stdout.readline()
        self.out.append(s)
        return s.rstrip("\n")

    def cmd(self, word, timeout=10.0):
        self.p.stdin.write(word + "\n")
        self.p.stdin.flush()
        return self.line(timeout)

    def finish(self, timeout=20.0):
        try:
            rest, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rest, err = self.p.communicate()
        return "".join(self.out) + rest, err, self.p.returncode


class Batch:
    """memtop -b attached to pid in the background; keeps its refreshes."""

    def __init__(self, pid):
        self.p = subprocess.Popen([MEMTOP, "-b", "-d", "0.2", "-n", "400", str(pid)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True)
        self.blocks = []
        self.cur = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.lock:
                if line.startswith("memtop ") and " iteration " in line and self.cur:
                    self.blocks.append(self.cur)
                    self.cur = []
                self.cur.append(line.rstrip("\n"))

    def wait(self, pred, timeout=15.0):
        """The first complete refresh (after now) for which pred(lines) holds, or None."""
        with self.lock:
            seen = len(self.blocks)
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                fresh = self.blocks[seen:]
                seen = len(self.blocks)
            for b in fresh:
                if pred(b):
                    return b
            time.sleep(0.05)
        return None

    def all_refreshes(self, timeout=10.0):
        """Every refresh, once memtop -b has ended by itself (its target gone) or timeout."""
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.2)
        with self.lock:
            return self.blocks + ([self.cur] if self.cur else [])

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()


def site(block, func):
    """(live_bytes, blocks, allocs) of the call site whose top frame is func, or None."""
    for line in block:
        m = re.match(r"\s*(\d+)\s+(\d+)\s+(\d+)\s+-?\d+\s+(\S+)", line)
        if m and m.group(4) == func:
            return tuple(int(m.group(i)) for i in (1, 2, 3))
    return None


def field(block, name):
    for line in block:
        m = re.search(r"\b%s: (\d+)" % name, line)
        if m:
            return int(m.group(1))
    return None


def inject(pid, *extra):
    r = subprocess.run([MEMTOP, "inject", *extra, str(pid)], capture_output=True, text=True,
                       env=ENV, timeout=60)
    return r.returncode, r.stdout, r.stderr


def alive(pid):
    try:
        os.kill(pid, 0)
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def ptrace_usable():
    """None when this process may ptrace its children here, else the reason."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            scope = int(f.read())
    except OSError:
        scope = 0
    if scope >= 3:
        return "kernel.yama.ptrace_scope=3: no ptrace on this machine"
    if scope >= 1 and os.geteuid() != 0:
        return "kernel.yama.ptrace_scope=%d and not root: memtop inject cannot attach" % scope
    t = Target(["sleep", "5"])
    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.ptrace(0x4206, t.p.pid, None, None)  # PTRACE_SEIZE
    err = ctypes.get_errno()
    t.p.kill()
    t.p.wait()
    return None if r == 0 else "ptrace(PTRACE_SEIZE) refused here: %s" % os.strerror(err)


def bare_run():
    t = Target([TARGET])
    t.line()
    for c in ("alloc", "free", "quit"):
        t.cmd(c)
    return t.finish()


def lines(out):
    """The output's lines after "ready PID", without "churn=yes|no": whether the churning thread
    made a round before quit depends on the machine's load, not on the injection."""
    return [re.sub(r" churn=\w+", "", l) for l in out.splitlines()[1:]]


def check_exact_sites():
    bare_out, _, bare_rc = bare_run()
    ok("bare run: exit 0 and 0 EINTR", bare_rc == 0 and "eintr=0 " in bare_out)
    t = Target([TARGET])
    ready = t.line()
    pid = t.p.pid
    rc, out, err = inject(pid)
    ok("inject: exit 0, one line on stdout, nothing on stderr (rc %d, %r)" % (rc, err.strip()),
       rc == 0 and out.count("\n") == 1 and "traced from now on" in out and err == "")
    b = Batch(pid)
    first = b.wait(lambda blk: True)
    ok("memtop -b attaches to the injected process and says it was injected",
       first is not None and any(l.startswith("attached by injection at 20") for l in first))
    base = b.wait(lambda blk: field(blk, "unknown_frees") is not None)
    unknown0 = field(base, "unknown_frees") if base else None
    answer = t.cmd("alloc")
    want = {"site_a": (100000, 100, 100), "site_b": (100000, 50, 50), "site_c": (60000, 20, 20)}
    got = b.wait(lambda blk: all(site(blk, f) == v for f, v in want.items()))
    ok("after the injection, each call site is exact: %s" %
       ({f: site(got or [], f) for f in want} if got else "never seen"),
       answer == "ok alloc" and got is not None)
    t.cmd("free")
    gone = {f: (0, 0, v[2]) for f, v in want.items()}
    got = b.wait(lambda blk: all(site(blk, f) == v for f, v in gone.items()) and
                 unknown0 is not None and field(blk, "unknown_frees") == unknown0 + 10)
    ok("the frees are seen; the 10 blocks from before the injection are 10 unknown frees",
       got is not None)
    answer = t.cmd("plugin %s 30" % PLUGIN)
    got = b.wait(lambda blk: site(blk, "plugin_alloc") == (30 * 4321, 30, 30))
    ok("a library dlopen'ed after the injection: its 30 x malloc(4321) are traced (%s)" %
       (answer,), answer == "ok plugin" and got is not None)
    rc, out, err = inject(pid, "--undo")
    ok("inject --undo: exit 0 (%r)" % err.strip(), rc == 0 and "put back" in out)
    time.sleep(0.5)
    t.cmd("alloc")
    again = b.wait(lambda blk: True)
    time.sleep(0.6)
    later = b.wait(lambda blk: True)
    ok("after --undo the allocations are no longer seen: site_a %s" %
       (site(later or [], "site_a"),), again is not None and later is not None and
       site(later, "site_a") == (0, 0, 100))
    t.cmd("free")
    t.cmd("quit")
    out, err, rc = t.finish()
    ended = [blk for blk in b.all_refreshes() if "state exited(" in blk[0]]
    ended = ended[-1] if ended else None
    b.stop()
    ok("the monitor sees the exit status main returned (0): %s" %
       (ended[0].split("state ")[1].split()[0] if ended else None,),
       ended is not None and "state exited(0)" in ended[0])
    # the same commands as the bare run, plus the alloc/free after --undo: same answers, same end
    want = lines(bare_out)[0:2] + ["ok plugin"] + lines(bare_out)[0:2] + lines(bare_out)[2:]
    ok("injected run: exit %d, output equal to the bare run's (pid aside), 0 EINTR: %s" %
       (rc, out.splitlines()[-1:]), rc == 0 and ready.startswith("ready") and
       lines(out) == want and "eintr=0 " in out)


def check_twenty_rounds():
    bare_out, _, _ = bare_run()
    t = Target([TARGET])
    t.line()
    pid = t.p.pid
    fails = []
    for i in range(20):
        for extra in ((), ("--undo",)):
            rc, _, err = inject(pid, *extra)
            if rc != 0:
                fails.append((i, extra, err.strip()))
    for c in ("alloc", "free", "quit"):
        t.cmd(c)
    out, err, rc = t.finish()
    ok("inject + undo 20 times on one process: every call exit 0 (%s)" % fails[:2], not fails)
    ok("... it survives with the bare run's output and exit status (rc %d, %s)" %
       (rc, out.splitlines()[-1:]), rc == 0 and lines(out) == lines(bare_out))


def check_replaced_library():
    """The library file is replaced after the injection (a rebuild, a package upgrade): the target
    still maps the old one, "(deleted)", and --undo finds its undo entry in what is mapped."""
    lib = os.path.join(lib_dir() or "", "libmemtop.so")
    if os.geteuid() != 0 or not os.path.exists(lib):
        skip("undo after the library file was replaced",
             "needs root (/proc/PID/map_files) and libmemtop.so next to memtop")
        return
    tmp = tempfile.mkdtemp(prefix="memtop-inject-")
    copy = os.path.join(tmp, "libmemtop.so")
    shutil.copy(lib, copy)
    t = Target([TARGET])
    t.line()
    rc1, _, err1 = inject(t.p.pid, "--preload", copy)
    shutil.copy(lib, copy + ".new")
    os.rename(copy + ".new", copy)  # the mapped file is now deleted
    rc2, _, err2 = inject(t.p.pid, "--undo", "--preload", copy)
    t.cmd("quit")
    _, _, rc = t.finish()
    shutil.rmtree(tmp)
    ok("undo after the library file was replaced: inject rc %d, undo rc %d (%s)" %
       (rc1, rc2, (err1 + err2).strip()[:200]), rc1 == 0 and rc2 == 0 and rc == 0)


def refused(what, pattern, pid, keep=None, *extra):
    rc, out, err = inject(pid, *extra)
    lines = err.splitlines()
    ok("%s: refused with one line, non-zero (rc %d): %s" % (what, rc, err.strip()[:200]),
       rc != 0 and len(lines) == 1 and re.search(pattern, lines[0]) is not None)
    if keep is not None:
        ok("... the target is alive", alive(keep))


def check_refusals():
    if STATIC:
        s = subprocess.Popen([STATIC, "0", "/dev/null", "3000"])
        time.sleep(0.2)
        refused("a static binary", r"statically linked \(no dynamic loader\)", s.pid, s.pid)
        s.kill()
        s.wait()
    else:
        skip("a static binary", "no static program was built here")
    refused("no such pid", r"^memtop: no process 2147483600$", 2147483600)
    for args, pattern in (([], r"^memtop: inject needs a pid: memtop inject \[--undo\] PID$"),
                          (["12x"], r"^memtop: inject needs a pid, not '12x'$"),
                          (["--undo", "2147483600"], r"^memtop: no process 2147483600$")):
        r = subprocess.run([MEMTOP, "inject", *args], capture_output=True, text=True, env=ENV,
                           timeout=60)
        ok("memtop inject %s: one line, non-zero (rc %d): %s" %
           (" ".join(args), r.returncode, r.stderr.strip()), r.returncode != 0 and
           len(r.stderr.splitlines()) == 1 and re.search(pattern, r.stderr) is not None)
    t = Target([TARGET])
    t.line()
    tracer = subprocess.Popen(
        [sys.executable, "-c", "import ctypes,sys,time\n"
         "libc = ctypes.CDLL(None, use_errno=True)\n"
         "print(libc.ptrace(0x4206, int(sys.argv[1]), None, None), flush=True)\n"
         "time.sleep(30)", str(t.p.pid)], stdout=subprocess.PIPE, text=True)
    seized = tracer.stdout.readline().strip() == "0"
    if seized:
        refused("a process already under ptrace", r"already under ptrace by process %d" %
                tracer.pid, t.p.pid, t.p.pid)
    else:
        skip("a process already under ptrace", "the test could not ptrace it itself")
    tracer.kill()
    tracer.wait()
    if os.geteuid() == 0 and os.path.exists("/usr/bin/setpriv"):
        rc = subprocess.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                             "--clear-groups", MEMTOP, "inject", str(t.p.pid)],
                            capture_output=True, text=True, env=ENV, timeout=60)
        lines = rc.stderr.splitlines()
        ok("another user's process: refused with one line naming its uid (rc %d): %s" %
           (rc.returncode, rc.stderr.strip()[:200]), rc.returncode != 0 and len(lines) == 1 and
           "belongs to uid 0" in lines[0])
        ok("... the target is alive", alive(t.p.pid))
    else:
        skip("another user's process", "needs root and setpriv to run memtop as another user")
    for c in ("alloc", "free", "quit"):
        t.cmd(c)
    out, _, rc = t.finish()
    check_other_namespace()
    check_preloaded()
    check_yama()
    ok("the refused target ends normally (rc %d, %s)" % (rc, out.splitlines()[-1:]),
       rc == 0 and "eintr=0 " in out)


def lib_dir():
    """The folder of the libmemtop.so memtop uses (next to it, or ../preload in a build tree)."""
    here = os.path.dirname(os.path.abspath(MEMTOP))
    return next((os.path.realpath(d) for d in (here, os.path.join(here, "..", "preload"))
                 if os.path.exists(os.path.join(d, "libmemtop.so"))), None)


def check_preloaded():
    """A process started with the preload: nothing to do (exit 0), and nothing to undo."""
    if not lib_dir():
        skip("a preloaded process", "libmemtop.so not found next to memtop")
        return
    t = Target(["env", "LD_PRELOAD=" + os.path.join(lib_dir(), "libmemtop.so"), TARGET])
    t.line()
    rc, out, err = inject(t.p.pid)
    ok("a preloaded process: nothing to do, exit 0 (rc %d): %s" % (rc, out.strip()),
       rc == 0 and err == "" and re.search(r"already runs with .*libmemtop.so preloaded: nothing "
                                           r"to do", out) is not None)
    rc, out, err = inject(t.p.pid, "--undo")
    ok("... --undo: one line, non-zero (rc %d): %s" % (rc, err.strip()),
       rc != 0 and len(err.splitlines()) == 1 and "was not injected: nothing to undo" in err)
    t.cmd("quit")
    out, _, rc = t.finish()
    ok("... it ends normally (rc %d)" % rc, rc == 0 and "eintr=0 " in out)


def check_snapshot_inject():
    """memtop snapshot PID --inject: injects a process started without memtop, then snapshots it;
    a second one finds it traced and just attaches."""
    t = Target([TARGET])
    t.line()
    outs = []
    for i in range(2):
        r = subprocess.run([MEMTOP, "snapshot", str(t.p.pid), "--inject"], capture_output=True,
                           text=True, env=ENV, timeout=120)
        outs.append(r)
    first, second = outs
    ok("snapshot --inject of an untraced process: rc %d, the snapshot says attached by injection"
       % first.returncode, first.returncode == 0 and
       re.search(r"^attached: by injection at ", first.stdout, re.M) is not None)
    ok("... a second snapshot --inject attaches without injecting again (rc %d): %s" %
       (second.returncode, second.stderr.strip()[:200]), second.returncode == 0 and
       "traced from now on" not in second.stderr + second.stdout and
       re.search(r"^attached: by injection at ", second.stdout, re.M) is not None)
    t.cmd("quit")
    out, _, rc = t.finish()
    ok("... the program ends normally (rc %d)" % rc, rc == 0 and "eintr=0 " in out)


def check_yama():
    """kernel.yama.ptrace_scope is machine-wide (no namespace lets a test set it), and where it
    forbids attaching every check above is skipped: this one is said, with the reason."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            why = "ptrace_scope=%s here, and the test cannot change it" % f.read().strip()
    except OSError:
        why = "no Yama on this kernel"
    skip("kernel.yama.ptrace_scope refusal", why)


def check_other_namespace():
    """A target in another mount namespace, where libmemtop.so's folder is hidden by a tmpfs."""
    libdir = lib_dir()
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/unshare") or not libdir:
        skip("a target in another mount namespace", "needs root and unshare(1)")
        return
    t = Target(["/usr/bin/unshare", "--mount", "--propagation", "private", "sh", "-c",
                "mount -t tmpfs none '%s' && exec '%s'" % (libdir, TARGET)])
    if not (t.line() or "").startswith("ready"):
        t.p.kill()
        t.finish()
        skip("a target in another mount namespace", "unshare/mount not permitted here")
        return
    refused("a target in another mount namespace", r"cannot open .*libmemtop.so \(it runs in "
            r"another mount namespace or container\)", t.p.pid, t.p.pid)
    t.cmd("quit")
    out, _, rc = t.finish()
    ok("... it ends normally (rc %d)" % rc, rc == 0 and "eintr=0 " in out)


PY_PROG = r"""
import sys
keep = []
print("ready", flush=True)
for line in sys.stdin:
    word = line.split()
    if word[0] == "alloc":
        for i in range(int(word[1])):
            keep.append(bytearray(100000))
    elif word[0] == "quit":
        break
    print("ok", line.strip(), len(keep), sum(len(k) for k in keep), flush=True)
print("end", len(keep), flush=True)
"""


def check_python():
    def run(injected):
        t = Target([sys.executable, "-c", PY_PROG])
        t.line()
        res = None
        if injected:
            rc, out, err = inject(t.p.pid)
            ok("python3: inject exit 0 (%r)" % err.strip(), rc == 0)
            b = Batch(t.p.pid)
            b.wait(lambda blk: True)
            t.cmd("alloc 50")
            # symbolized: wait for the refresh where the symbolizer has named the frame
            res = b.wait(lambda blk: any(
                len(l.split()) > 4 and l.split()[:3] == [str(50 * 100001), "50", "50"] and
                not l.split()[4].startswith("0x") for l in blk), timeout=30)
            b.stop()
        else:
            t.cmd("alloc 50")
        t.cmd("alloc 10")
        t.cmd("quit")
        return t.finish(), res
    (bare_out, _, bare_rc), _ = run(False)
    (out, err, rc), blk = run(True)
    top = None
    for l in blk or []:
        s = l.split()
        if len(s) > 4 and s[0] == str(50 * 100001):
            top = s[4]
    ok("python3: the 50 bytearrays made after the injection are one site of exactly 50 blocks, "
       "5000050 B, symbolized (top frame %s)" % top,
       top is not None and not top.startswith("0x"))
    ok("python3: output and exit status equal to the bare run's (rc %d/%d)" % (rc, bare_rc),
       rc == bare_rc == 0 and out == bare_out)


SQL = ("create table t(a, b); with recursive c(x) as (select 1 union all select x + 1 from c "
       "where x < 20000) insert into t select x, hex(randomblob(50)) from c; "
       "select count(*), sum(a), sum(length(b)) from t;")


def check_sqlite3():
    """sqlite3 (reading SQL on stdin) injected between two statements: same output as a bare run,
    and the second statement's allocations are traced."""
    import shutil
    exe = shutil.which("sqlite3")
    if not exe:
        skip("sqlite3 injected mid-run", "sqlite3 is not installed (apt-get install sqlite3)")
        return

    def run(injected):
        t = Target([exe, ":memory:"])
        first = t.cmd("select 1;")
        blk = None
        if injected:
            rc, _, err = inject(t.p.pid)
            ok("sqlite3: inject exit 0 (%r)" % err.strip(), rc == 0)
            b = Batch(t.p.pid)
            b.wait(lambda x: True)
            second = t.cmd(SQL, timeout=60)
            blk = b.wait(lambda x: (field(x, "live_blocks") or 0) > 100)
            b.stop()
        else:
            second = t.cmd(SQL, timeout=60)
        t.cmd(".quit")
        out, err, rc = t.finish()
        return first, second, out, rc, blk
    bare = run(False)
    got = run(True)
    ok("sqlite3: the statement after the injection is traced (%s live blocks)" %
       (field(got[4], "live_blocks") if got[4] else None), got[4] is not None)
    ok("sqlite3: output and exit status equal to the bare run's (%s, rc %s)" % (got[1], got[3]),
       got[:4] == bare[:4] and got[3] == 0)


def not_x86_64():
    """None when memtop is an x86_64 program, else the reason to skip: injection's machine part
    (registers, the call stub) exists for x86_64 only, and qemu-user has no ptrace to test it."""
    with open(MEMTOP, "rb") as f:
        head = f.read(20)
    machine = int.from_bytes(head[18:20], "little")
    if machine == 62:  # EM_X86_64
        return None
    return ("memtop inject is built for x86_64 only (this memtop is for ELF machine %d), and "
            "qemu-user cannot ptrace an emulated process" % machine)


def main():
    why = not_x86_64() or ptrace_usable()
    if why:
        print("1..0 # SKIP %s" % why)
        sys.exit(0)  # a TAP skip plan: meson reports SKIP (exit 77 is an error under TAP)
    check_exact_sites()
    check_twenty_rounds()
    check_replaced_library()
    check_refusals()
    check_snapshot_inject()
    check_python()
    check_sqlite3()
    print("1..%d" % n)
    sys.exit(1 if failed else 0)


main()
