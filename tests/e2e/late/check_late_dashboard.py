#!/usr/bin/env python3
"""tui (TAP): several readers at once. lateheap (MEMTOP_LIVE=exact) is watched by the dashboard in
tmux; a snapshot and a batch monitor taken meanwhile read the live table beside it and are exact
per function (keep_small, keep_medium, keep_realloc); the dashboard keeps running and quits
cleanly afterwards.
usage: check_late_dashboard.py MEMTOP LIBMEMTOP LATEHEAP"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "monitor"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tui"))
from snapshot_parse import Snapshot  # noqa: E402
from tmux_driver import Tmux  # noqa: E402

KNOWN = {"keep_small": (64000, 1000), "keep_medium": (409600, 100), "keep_realloc": (30000, 10)}
results = []


def check(name, ok, detail=""):
    results.append((ok, name, detail))


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
        r = subprocess.run([memtop, "snapshot", str(p.pid)], capture_output=True, text=True,
                           timeout=60)
        check("snapshot beside the dashboard taken", r.returncode == 0, r.stderr)
        if r.returncode == 0:
            got = Snapshot(r.stdout).by_function("keep_")
            for fn, want in KNOWN.items():
                g = got.get(fn, dict(bytes=0, blocks=0))
                check("snapshot: %s %s" % (fn, want), (g["bytes"], g["blocks"]) == want, str(g))
        r = subprocess.run([memtop, "-b", "-n", "2", "-d", "0.2", str(p.pid)], capture_output=True,
                           text=True, timeout=60)
        check("batch beside the dashboard exit 0", r.returncode == 0, r.stderr)
        last = r.stdout.split("memtop ")[-1]
        for fn, want in KNOWN.items():
            m = re.search(r"^\s*(\d+)\s+(\d+)\s+\d+\s+-?\d+\s+%s " % fn, last, re.M)
            got = (int(m.group(1)), int(m.group(2))) if m else None
            check("batch: %s %s" % (fn, want), got == want, str(got))
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
