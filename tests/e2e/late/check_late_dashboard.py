#!/usr/bin/env python3
"""tui (TAP): several readers at once. lateheap (MEMTOP_LIVE=exact) is watched by the dashboard in
tmux; a snapshot, a batch monitor, `memtop serve` (go tool pprof on its URL) and a second dashboard
taken meanwhile read the live table beside it and are exact per function (keep_small, keep_medium,
keep_realloc); the second dashboard says it reads beside another memtop and shows the target's own
totals. Killed with SIGKILL, it leaves nothing stuck: the target runs on, the first dashboard keeps
drawing and a later snapshot is still exact. The first dashboard quits cleanly afterwards.
usage: check_late_dashboard.py MEMTOP LIBMEMTOP LATEHEAP"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "monitor"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tui"))
from snapshot_parse import Snapshot  # noqa: E402
from tmux_driver import Tmux  # noqa: E402

KNOWN = {"keep_small": (64000, 1000), "keep_medium": (409600, 100), "keep_realloc": (30000, 10)}
ROW = r"^\s*%s\s+%s\s+\d[\d,]*\s+[-+]?\d[\d,]*\s+%s "
results = []


def check(name, ok, detail=""):
    results.append((ok, name, detail))


def snapshot_exact(memtop, pid, label):
    r = subprocess.run([memtop, "snapshot", str(pid)], capture_output=True, text=True, timeout=60)
    check("%s taken" % label, r.returncode == 0, r.stderr)
    if r.returncode == 0:
        got = Snapshot(r.stdout).by_function("keep_")
        for fn, want in KNOWN.items():
            g = got.get(fn, dict(bytes=0, blocks=0))
            check("%s: %s %s" % (label, fn, want), (g["bytes"], g["blocks"]) == want, str(g))


def serve_exact(memtop, pid):
    """memtop serve on 127.0.0.1 with a free port, asked once for the target's heap profile."""
    go = shutil.which("go")
    if not go:
        check("serve beside the dashboard # SKIP go not installed (Debian golang-go)", True)
        return
    server = subprocess.Popen([memtop, "serve", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", server.stdout.readline())
        check("serve beside the dashboard listens", m is not None)
        if not m:
            return
        url = "http://127.0.0.1:%s/debug/pprof/heap?pid=%d" % (m.group(1), pid)
        r = subprocess.run([go, "tool", "pprof", "-top", "-nodecount=1000", "-nodefraction=0",
                            "-edgefraction=0", "-unit=B", "-sample_index=inuse_space", url],
                           capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, HOME=os.environ.get("HOME", "/tmp")))
        flat = {mm.group(2): int(mm.group(1)) for mm in re.finditer(
            r"^\s*(\d+)B?\s+[\d.]+%\s+[\d.]+%\s+\d+B?\s+[\d.]+%\s+(\S+)", r.stdout, re.M)}
        for fn, want in KNOWN.items():
            check("serve: %s %d B" % (fn, want[0]), flat.get(fn) == want[0],
                  str(flat.get(fn)) + " " + r.stderr[-300:])
    finally:
        server.terminate()
        server.wait(timeout=20)


def memtop_pids(memtop, argv_tail):
    """pids of memtop processes whose arguments after argv[0] are argv_tail"""
    pids, want = [], [a.encode() for a in argv_tail]
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                args = f.read().split(b"\0")[:-1]
        except (OSError, ValueError):
            continue
        if args and os.path.basename(args[0]) == os.path.basename(memtop).encode() and \
                args[1:] == want:
            pids.append(int(d))
    return pids


def second_dashboard(memtop, pid, tm):
    """a second dashboard beside the first: exact, says so, then killed with SIGKILL"""
    tail = ["-d", "0.5", str(pid)]
    tm2 = Tmux(120, 40)
    try:
        tm2.start([memtop] + tail, env={"DEBUGINFOD_URLS": "", "TERM": "xterm-256color"})
        for fn, (nbytes, blocks) in KNOWN.items():
            tm2.wait_for(ROW % (format(nbytes, ","), format(blocks, ","), fn), timeout=30,
                         describe="the second dashboard's %s row" % fn)
            check("second dashboard: %s %d B in %d blocks" % (fn, nbytes, blocks), True)
        screen = tm2.wait_for(r"total [1-9][\d,]* allocs", timeout=15,
                              describe="the target's own totals")
        check("second dashboard says it reads beside another memtop",
              "reading beside another memtop" in tm2.screen())
        pids = memtop_pids(memtop, tail)
        check("second dashboard found", len(pids) == 1, str(pids))
        for p2 in pids:
            os.kill(p2, signal.SIGKILL)
        tm2.wait_for(r"MEMTOP-EXIT=137", timeout=15, describe="the killed dashboard's end")
    except AssertionError as e:
        check("second dashboard", False, str(e))
    finally:
        tm2.close()
    # the first dashboard still draws the churn after the kill: its total keeps rising
    first = re.search(r"total ([\d,]+) allocs", tm.screen())
    time.sleep(1.5)
    later = re.search(r"total ([\d,]+) allocs", tm.screen())
    check("first dashboard draws on after the kill", bool(first and later) and
          int(later.group(1).replace(",", "")) > int(first.group(1).replace(",", "")),
          "%s -> %s" % (first and first.group(0), later and later.group(0)))


def main():
    memtop, lib, prog = sys.argv[1:4]
    env = dict(os.environ, LD_PRELOAD=lib, MEMTOP_LIVE="exact", MALLOC_PERTURB_="0")
    p = subprocess.Popen([prog], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    tm = Tmux(120, 40)
    try:
        check("target ready", p.stdout.readline().strip() == "ready")
        tm.start([memtop, str(p.pid)], env={"DEBUGINFOD_URLS": "", "TERM": "xterm-256color"})
        tm.wait_for(r"keep_medium", timeout=30, describe="the dashboard's call sites")
        check("dashboard shows the pre-attach heap", True)
        snapshot_exact(memtop, p.pid, "snapshot beside the dashboard")
        r = subprocess.run([memtop, "-b", "-n", "2", "-d", "0.2", str(p.pid)], capture_output=True,
                           text=True, timeout=60)
        check("batch beside the dashboard exit 0", r.returncode == 0, r.stderr)
        last = r.stdout.split("memtop ")[-1]
        for fn, want in KNOWN.items():
            m = re.search(r"^\s*(\d+)\s+(\d+)\s+\d+\s+-?\d+\s+%s " % fn, last, re.M)
            got = (int(m.group(1)), int(m.group(2))) if m else None
            check("batch: %s %s" % (fn, want), got == want, str(got))
        serve_exact(memtop, p.pid)
        second_dashboard(memtop, p.pid, tm)
        snapshot_exact(memtop, p.pid, "snapshot after a reader was killed")
        screen = tm.screen()
        check("dashboard still running", "MEMTOP-EXIT" not in screen and "Live" in screen, screen)
        tm.keys("q")
        tm.wait_for(r"MEMTOP-EXIT=0", timeout=15, describe="the dashboard quitting with status 0")
        check("dashboard quits with status 0", True)
    except AssertionError as e:
        check("dashboard", False, str(e))
    finally:
        tm.close()
        try:
            p.stdin.write("exit\n")
            p.stdin.close()
            p.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            p.kill()
            p.wait()
    print("1..%d" % len(results))
    for i, (ok, name, detail) in enumerate(results, 1):
        print("%s %d - %s%s" % ("ok" if ok else "not ok", i, name,
                                "" if ok or not detail else " # " + detail.replace("\n", " | ")))
    return 0 if all(r[0] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
