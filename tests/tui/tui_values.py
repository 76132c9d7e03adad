#!/usr/bin/env python3
"""Values the dashboard must get right at any size (suite 'tui'): the heatmap's title names the cells
it draws, rates drop to 0 once the target is gone, no header figure is cut mid-number at 80 columns.
Same driver and targets as tui_tests.py; waits on the screen, never on fixed sleeps.

usage: tui_values.py --memtop M --target T --preload P --demo D TEST [COLSxROWS]"""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tui_tests  # noqa: E402
from tui_tests import ENV, HEADER_PHASE1, check  # noqa: E402


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


def main():
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            tui_tests.TESTS[name[5:]] = fn
    return tui_tests.main()


if __name__ == "__main__":
    sys.exit(main())
