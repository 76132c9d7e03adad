#!/usr/bin/env python3
"""The process picker (`memtop` without a pid) and the dashboard's mouse (suite 'tui'): the real
memtop on real targets under the real preload in a private tmux, as tui_tests.py. Other traced
processes may exist on the machine: the tests find their own targets by pid, never by position.

usage: tui_pick.py --memtop M --target T --preload P --demo D [--forktree F] TEST [COLSxROWS]"""
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
    # the title says which pid Enter attaches to; Down moves to the next row, Up back
    t.wait_for(r"Enter attaches to pid %d$" % pids[0], describe="the found row selected")
    order = pick_rows(t.screen())
    i = order.index(pids[0])
    check(i + 1 < len(order), "the row after the first target is on screen", t.screen())
    t.keys("Down")
    t.wait_for(r"Enter attaches to pid %d$" % order[i + 1], describe="Down selects the next row")
    t.keys("Up")
    t.wait_for(r"Enter attaches to pid %d$" % pids[0], describe="Up selects the row above")
    # (another test's process may be gone by now: attach to ours)
    want = pids[0]
    t.keys("Enter")
    t.wait_for(r"^memtop pid %d\b" % want, describe="the dashboard attached to pid %d" % want)
    t.keys("q")
    t.wait_for(r"MEMTOP-EXIT=0", describe="memtop exits 0 after q")
    check(all(alive(p) for p in pids), "the targets keep running")
    # a click on a row selects it (the first row is selected at start)
    t.close()
    c.tmux = t = Tmux(c.cols, c.rows)
    t.start([c.args.memtop], env=ENV)
    t.wait_for(PICK_HEADER)
    t.wait_for(r"^\s*%d\s" % pids[1], describe="the second target's row")
    mouse(t, *cell_of(t, str(pids[1]), r"^\s*%d\s" % pids[1]), together=True)
    t.keys("Enter")
    t.wait_for(r"^memtop pid %d\b" % pids[1], describe="the dashboard attached to the row clicked")
    t.keys("q")
    t.wait_for(r"MEMTOP-EXIT=0", describe="memtop exits 0 after q")
    # q in the list: nothing attached, status 0
    t.close()
    c.tmux = t = Tmux(c.cols, c.rows)
    t.start([c.args.memtop], env=ENV)
    t.wait_for(PICK_HEADER)
    t.keys("q")
    t.wait_for(r"MEMTOP-EXIT=0", describe="memtop exits 0 after q in the list")
    check(not re.search(r"memtop pid", t.screen()), "no dashboard after q", t.screen())


def mouse(t, x, y, button=0, together=False):
    """A mouse event at screen cell (x, y), in the X10 encoding ncurses reads for kmous=\\E[M
    (tmux-256color): button 0 is a left press, 64 and 65 the wheel up and down. A click's release
    follows its press in a second write, or with `together` in the same one, as memtop reads them
    after a busy frame or over a slow link: ncurses then gives the run's last event only."""
    press = "\x1b[M" + chr(32 + button) + chr(33 + x) + chr(33 + y)
    release = "\x1b[M" + chr(32 + 3) + chr(33 + x) + chr(33 + y) if button == 0 else ""
    if together:
        t.literal(press + release)
        return
    t.literal(press)
    if release:
        t.literal(release)


def cell_of(t, text, pattern=None):
    """(x, y) of the first cell of `text` on the first line that has it (and matches pattern)."""
    for y, line in enumerate(t.screen().splitlines()):
        if text in line and (pattern is None or re.search(pattern, line)):
            return line.index(text), y
    raise AssertionError("%r not on screen\n%s" % (text, t.screen()))


def site_order(screen):
    """The call sites table's rows, as site_x:line, top to bottom (not the stack panel's)."""
    return re.findall(r"^\s+[\d,]+\s+\d+\s+\d+\s+\d+ (site_\w) tui_target\.c:(\d+)", screen, re.M)


def stack_top_site(screen):
    m = re.search(r"^ #\d+\s+\S*\s*(site_\w) tui_target\.c:(\d+)", screen, re.M)
    return m and (m.group(1), m.group(2))


def test_mouse(c):
    """As htop: a click on a view tab switches to it, on a column header sorts by it (again: the other
    way), on a row selects it; the wheel moves the selection."""
    t = c.tmux
    c.run_target_under_memtop()
    t.wait_for(lambda scr: all(f in scr for f in ("site_a tui", "site_b tui", "site_c tui")),
               describe="the three sites symbolized")
    mouse(t, *cell_of(t, "3 Heap walk"))
    t.wait_for(r"^Heap walk: 16 blocks, 16,500 bytes", describe="view 3 after a click on its tab")
    mouse(t, *cell_of(t, "1 Call sites"), together=True)
    t.wait_for(r"^Call sites: 4 shown", describe="view 1 after a click on its tab")
    x, y = cell_of(t, "BLOCKS", r"LIVE")
    mouse(t, x + 2, y)
    t.wait_for(r"sorted by BLOCKS, descending", describe="sorted by a click on BLOCKS")
    t.wait_for(lambda scr: [s for s, _ in site_order(scr)] == ["site_a", "site_b", "site_c", "site_c"],
               describe="rows by blocks, most first")
    mouse(t, x + 2, y, together=True)  # one click, once: not twice (press and release)
    t.wait_for(r"sorted by BLOCKS, ascending", describe="the other way after a second click")
    t.wait_for(lambda scr: site_order(scr) == [("site_c", site_order(scr)[0][1]), ("site_c", site_order(scr)[1][1]),
                                                ("site_b", site_order(scr)[2][1]), ("site_a", site_order(scr)[3][1])]
               if len(site_order(scr)) == 4 else False, describe="rows by blocks, fewest first")
    order = site_order(t.screen())
    # the stack panel follows the selection: it says which row is selected
    t.keys("Enter")
    t.keys("g")
    t.wait_for(lambda scr: stack_top_site(scr) == order[0], describe="the first row's stack")
    mouse(t, 10, y + 2, 65)  # wheel down: 3 rows
    t.wait_for(lambda scr: stack_top_site(scr) == order[3], describe="the fourth row's stack after the wheel")
    mouse(t, 10, y + 2, 64)  # wheel up
    t.wait_for(lambda scr: stack_top_site(scr) == order[0], describe="the first row's stack after the wheel up")
    mouse(t, *cell_of(t, "site_b tui_target", r"^\s+1,500 "), together=True)
    t.wait_for(lambda scr: stack_top_site(scr) == order[2], describe="site_b's stack after a click on its row")
    t.keys("q")
    t.wait_for(r"MEMTOP-EXIT=", describe="memtop gone after q")


def tree_rows(screen):
    """The rows of the list of a tree's processes: {pid: (live, state, parent)}. The command column
    is cut at 80 columns, to a length that depends on where the build tree is: not matched."""
    return {int(m.group(1)): (m.group(2), m.group(3), int(m.group(4))) for m in
            re.finditer(r"^\s*(\d+)\s+([\d,]+)\s+(\w+)\s+(\d+)\s+/", screen, re.M)}


def test_tree(c):
    """memtop run follows the process tree: the header says how many processes it holds, P lists
    them (pid, live bytes, state, parent, command) with each one's own figures, and Enter on one
    shows it: the header names it and the views hold its call sites, exactly."""
    t = c.tmux
    env = dict(ENV, FORKTREE_HOLD="20")
    t.start([c.args.memtop, "run", "--preload", c.args.preload, "--", c.args.forktree, "2"], env=env)
    t.wait_for(r"^memtop pid \d+\s+tree 4 procs \(P\)", describe="the header: a tree of 4")
    root = int(re.search(r"^memtop pid (\d+)", t.screen(), re.M).group(1))
    t.wait_for(r"site_parent forktree\.c", describe="the root's site symbolized")
    t.keys("P")
    t.wait_for(r"PID\s+LIVE_BYTES\s+STATE\s+PARENT\s+COMMAND", describe="the list's header")
    t.wait_for(r"4 processes in the tree; Enter shows pid %d$" % root, describe="the list's title")
    rows = tree_rows(t.screen())
    check(len(rows) == 4 and root in rows, "4 rows, the root's among them", t.screen())
    children = sorted(p for p, r in rows.items() if r[2] == root)
    grand = [p for p, r in rows.items() if r[2] in children]
    check(len(children) == 2 and len(grand) == 1, "2 children of the root and 1 grandchild",
          t.screen())
    # each process's own heap: child k keeps 10*(k+1) blocks of 100+k bytes, the grandchild 7 of 333
    lives = sorted(rows[p][0] for p in children)
    check(lives == ["1,000", "2,020"], "the children's live bytes: %s" % lives, t.screen())
    check(rows[grand[0]][:2] == ("2,331", "running"), "the grandchild's row", t.screen())
    t.keys("/")
    t.literal(str(grand[0]))
    t.keys("Enter")
    t.wait_for(r"Enter shows pid %d$" % grand[0], describe="the grandchild selected")
    t.keys("Enter")
    t.wait_for(r"^memtop pid %d\s+tree 4 procs" % grand[0], describe="the dashboard on the grandchild")
    t.wait_for(r"^Live 2,331 B .* in 7 blocks", describe="the grandchild's live bytes")
    t.wait_for(r"^\s+2,331\s+7\s+7\s+\d+ site_grandchild forktree\.c",
               describe="the grandchild's call site, exact")
    check("site_parent" not in t.screen(), "none of the root's sites", t.screen())
    # and back to the root
    t.keys("P")
    t.wait_for(r"Enter shows pid %d$" % grand[0], describe="the list, on the process shown")
    t.keys("/")
    t.literal(str(root))
    t.keys("Enter")
    t.keys("Enter")
    t.wait_for(r"^memtop pid %d\s+tree 4 procs" % root, describe="the dashboard on the root again")
    t.wait_for(r"^\s+550\s+10\s+10\s+\d+ site_parent forktree\.c", describe="the root's site")
    t.keys("q")
    t.wait_for(r"MEMTOP-EXIT=", describe="memtop gone after q")


TESTS = {name[5:]: fn for name, fn in globals().items() if name.startswith("test_")}


def main():
    ap = argparse.ArgumentParser()
    for a in ("memtop", "target", "preload", "demo"):
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--forktree")
    ap.add_argument("test", choices=sorted(TESTS))
    ap.add_argument("size", nargs="?", default="80x24")
    args = ap.parse_args()
    for a in ("memtop", "target", "preload", "demo"):
        setattr(args, a, os.path.abspath(getattr(args, a)))
    if args.forktree:
        args.forktree = os.path.abspath(args.forktree)
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
