#!/usr/bin/env python3
"""Values the dashboard must get right at any size (suite 'tui'): the heatmap's title names the cells
it draws, rates drop to 0 once the target is gone, no header figure is cut mid-number at 80 columns,
a walk's TID is the thread's even when the walk is younger than the view.
Same driver and targets as tui_tests.py; waits on the screen, never on fixed sleeps.

usage: tui_values.py --memtop M --target T --preload P --demo D TEST [COLSxROWS]"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tui_tests  # noqa: E402
from tui_tests import ENV, HEADER_PHASE1, check  # noqa: E402
from tmux_driver import wait_file  # noqa: E402


def test_heat_cells(c):
    """256 divisions on a screen narrower than that: the title says how many cells are drawn, and
    exactly that many are on the heatmap line."""
    t = c.tmux
    c.run_target_under_memtop(memtop_args=("--divisions", "256"))
    t.wait_for(HEADER_PHASE1)
    t.keys("5")
    s = t.wait_for(r"(?m)^ \[.*\]\s*$", describe="a heatmap line").string
    title = re.search(r"Memory map: \d+ heap mappings, (\d+) divisions(?: in (\d+) cells)?", s)
    check(title, "no heatmap title", s)
    heat = re.search(r"(?m)^ \[(.*)\]\s*$", s).group(1)
    said = int(title.group(2) or title.group(1))
    check(len(heat) == said, "title says %d cells, %d are drawn" % (said, len(heat)), s)
    check(len(heat) == min(256, c.cols - 4), "%d cells at %d columns" % (len(heat), c.cols), s)


def test_rates_after_exit(c):
    """The demo allocates all the time; once it is gone its rates read 0, not the last second's."""
    t = c.tmux
    # the demo's output file goes with the test's files
    t.start(["sh", "-c", 'cd "$0" && exec "$@"', c.tmp, c.args.memtop, "demo"],
            env=dict(ENV, TMPDIR=c.tmp))
    c.target_pid = int(t.wait_for(r"pid (\d+)").group(1))
    t.wait_for(r"Rate [1-9]\S* allocs/s", describe="the demo's allocation rate")
    os.kill(c.target_pid, signal.SIGKILL)
    t.wait_for(r"killed by signal 9|exited \(", describe="the demo gone")
    t.wait_for(r"Rate 0 allocs/s 0 frees/s 0 B/s", timeout=5, describe="rates 0 after the exit")
    t.keys("q")


def test_no_cut_numbers(c):
    """A target that allocates and frees without end: with millions of allocs and frees and high
    rates, each header figure is shown whole or not at all ("1,073,437 f" is no figure)."""
    t = c.tmux
    c.run_target_under_memtop("churn")
    s = t.wait_for(r"total \d{1,3},\d{3},\d{3} allocs", timeout=30, describe="7-figure totals").string
    for _ in range(5):  # several refreshes: the rates change width
        lines = s.splitlines()
        rate = next(l for l in lines if l.startswith("Rate "))
        check(re.fullmatch(r"Rate \S+ allocs/s \S+ frees/s \S+ B/s   total [\d,]+ allocs( [\d,]+ frees)?\s*",
                           rate), "rates line cut: %r" % rate, s)
        live = next(l for l in lines if l.startswith("Live "))
        check(re.fullmatch(r"Live .*? blocks(   peak [\d,]+ B \([\d.]+ \S+\))?\s*", live),
              "live line cut: %r" % live, s)
        if c.cols >= 160:
            check(re.search(r"total [\d,]+ allocs [\d,]+ frees", rate), "frees missing at 160", s)
        old = t.screen()
        s = t.wait_for(lambda scr: scr != old, describe="a refresh")
    t.keys("q")
    t.wait_for(lambda s: "Live" not in s)


def late_rows(t, key, title):
    """Opens a walk view (its first walk while paused is taken at once) and returns the screen and
    the 777-byte rows of site_later in it."""
    t.keys(key)
    t.wait_for(title, describe="walk title")
    t.keys("End")  # by address the thread's arena comes last
    s = t.wait_for(title, describe="walk title").string
    return s, [l for l in s.splitlines() if re.match(r"^0x[0-9a-f]+\s+777\s", l)]


def test_walk_tid_paused(c):
    """A thread born while the display is paused: the walks taken then list its blocks with its
    TID (the paused view does not know that thread yet), never -1."""
    t = c.tmux
    late = c.pidfile + ".late"
    c.run_target_under_memtop("late-thread")
    t.wait_for(HEADER_PHASE1)
    t.keys("p")
    t.wait_for(r"PAUSED", describe="display paused")
    os.kill(c.target_pid, signal.SIGUSR1)
    tid = wait_file(late)
    # Ingest goes on while the display is paused, but the first walk may come before memtop read
    # the thread's blocks: leaving the walk view drops its walk, entering it again takes a new one,
    # still paused (the paused view still does not know the thread).
    for _ in range(40):
        s, rows = late_rows(t, "3", r"Heap walk: \d+ blocks")
        if rows:
            break
        t.keys("1")
        t.wait_for(r"^Call sites: \d+ shown", describe="view 1 between walks")
        time.sleep(0.25)
    check(rows, "no block of the late thread in the walk", s)
    # "?" is allowed for one publish (a thread younger than every view); -1 never
    want = r"^0x[0-9a-f]+\s+777\s+%d\s" % tid
    s = t.wait_for(lambda scr: all(re.match(want, l) for l in scr.splitlines()
                                   if re.match(r"^0x[0-9a-f]+\s+777\s", l)), timeout=5,
                   describe="the late thread's blocks with its TID %d" % tid)
    check(" -1 " not in s, "TID -1 on screen", s)
    t.keys("p", "q")


def main():
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            tui_tests.TESTS[name[5:]] = fn
    return tui_tests.main()


if __name__ == "__main__":
    sys.exit(main())
