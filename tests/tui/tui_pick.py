#!/usr/bin/env python3
"""The process picker (`memtop` without a pid) and the dashboard's mouse (suite 'tui'): the real
memtop on real targets under the real preload in a private tmux, as tui_tests.py. Other traced
processes may exist on the machine: the tests find their own targets by pid, never by position.

usage: tui_pick.py --memtop M --target T --preload P --demo D TEST [COLSxROWS]"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tmux_driver import Tmux, alive, wait_file  # noqa: E402
from tui_tests import ENV, Ctx, check  # noqa: E402

PICK_HEADER = r"PID\s+LIVE_BYTES\s+MODE\s+MONITORED\s+COMMAND"


def start_targets(c, n):
    """n tui_targets under the preload (no monitor yet); returns their pids once their heaps are built."""
    env = dict(os.environ, LD_PRELOAD=c.args.preload, **ENV)
    pids = []
    for i in range(n):
        pidfile = os.path.join(c.tmp, "target%d.pid" % i)
        p = subprocess.Popen([c.args.target, pidfile], env=env, stdin=subprocess.DEVNULL)
        c.procs.append(p.pid)
        check(wait_file(pidfile) == p.pid, "target %d wrote another pid" % i)
        pids.append(p.pid)
    return pids


def pick_rows(screen):
    """The picker's rows: {pid: line}, and the pids in screen order."""
    order = [int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\s+[\d,]+\s+(?:off|sampled|exact|\?)\s", screen, re.M)]
    return order


def test_picker(c):
    """The list shows pid, live bytes, mode, monitored and command of each traced process; keys that
    pick nothing leave it up; `/` finds a pid, Down moves to the next row, Enter attaches to it; q
    quits with status 0; without a terminal the plain listing is printed."""
    pids = start_targets(c, 2)
    # without a terminal: the plain listing, with both targets and how to attach
    out = subprocess.run([c.args.memtop], env=dict(os.environ, **ENV), stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, "listing exit status %d: %s" % (out.returncode, out.stderr))
    heap = {}  # the heap in use (usable bytes, from the counters) and the live table's mode
    for pid in pids:
        m = re.search(r"^\s*%d\s+traced\s+(\d+)\s+\S+\s+(\w+)\s" % pid, out.stdout, re.M)
        check(m, "pid %d listed" % pid, out.stdout)
        heap[pid] = ("{:,}".format(int(m.group(1))), m.group(2))
    check("attach with: memtop PID" in out.stdout and "\x1b" not in out.stdout, "plain listing", out.stdout)
    t = c.tmux
    t.start([c.args.memtop], env=ENV)
    t.wait_for(PICK_HEADER, describe="the picker's column header")
    for pid in pids:
        t.wait_for(r"^\s*%d\s+%s\s+%s\s+no\s+/\S+\s*$" % (pid, heap[pid][0], heap[pid][1]),
                   describe="row of pid %d" % pid)
    # letters that are no key of the list pick nothing and never end memtop
    t.literal("abc")
    time.sleep(0.5)
    check("MEMTOP-EXIT" not in t.screen() and re.search(PICK_HEADER, t.screen()),
          "typing abc left the list", t.screen())
    # `/` then the first target's pid: the search line; Enter keeps the row found
    t.keys("/")
    t.literal(str(pids[0]))
    t.wait_for(r"^Search: %d\s*$" % pids[0], describe="the search line")
    t.literal("999999999")
    t.wait_for(r"^Search: %d999999999  \(not found\)" % pids[0], describe="not found said")
    for _ in range(9):
        t.keys("BSpace")
    t.wait_for(r"^Search: %d\s*$" % pids[0], describe="the search line after backspace")
    t.keys("Enter")
    t.wait_for(r"^Enter\s*Attach", describe="search closed")
    order = pick_rows(t.screen())
    i = order.index(pids[0])
    check(i + 1 < len(order), "the row after the first target is on screen", t.screen())
    want = order[i + 1]
    # Down, Up, Down: the row after; Enter attaches to it
    t.keys("Down")
    t.keys("Up")
    t.keys("Down")
    t.keys("Enter")
    t.wait_for(r"^memtop pid %d\b" % want, describe="the dashboard attached to pid %d" % want)
    t.keys("q")
    t.wait_for(r"MEMTOP-EXIT=0", describe="memtop exits 0 after q")
    check(all(alive(p) for p in pids), "the targets keep running")
    # q in the list: nothing attached, status 0
    t.close()
    c.tmux = t = Tmux(c.cols, c.rows)
    t.start([c.args.memtop], env=ENV)
    t.wait_for(PICK_HEADER)
    t.keys("q")
    t.wait_for(r"MEMTOP-EXIT=0", describe="memtop exits 0 after q in the list")
    check(not re.search(r"memtop pid", t.screen()), "no dashboard after q", t.screen())


TESTS = {name[5:]: fn for name, fn in globals().items() if name.startswith("test_")}


def main():
    ap = argparse.ArgumentParser()
    for a in ("memtop", "target", "preload", "demo"):
        ap.add_argument("--" + a, required=True)
    ap.add_argument("test", choices=sorted(TESTS))
    ap.add_argument("size", nargs="?", default="80x24")
    args = ap.parse_args()
    for a in ("memtop", "target", "preload", "demo"):
        setattr(args, a, os.path.abspath(getattr(args, a)))
    size = tuple(int(x) for x in args.size.split("x"))
    c = Ctx(args, size)
    try:
        TESTS[args.test](c)
    except AssertionError as e:
        print("FAIL %s %s: %s" % (args.test, args.size, e))
        return 1
    finally:
        c.cleanup()
    print("PASS %s %s" % (args.test, args.size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
