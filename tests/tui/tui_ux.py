#!/usr/bin/env python3
"""Dashboard tests of what a newcomer meets first (suite 'tui'): the target's own output never on
the dashboard's screen, the stack panel that scrolls and says how much is below, and the `?` help
that explains the columns. The real memtop, target and preload in a private tmux, as tui_tests.py.

usage: tui_ux.py --memtop M --target T --preload P --demo D TEST [COLSxROWS]"""
import argparse
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tmux_driver import alive, wait_file  # noqa: E402
from tui_tests import ENV, HEADER_PHASE1, Ctx, check  # noqa: E402

CHATTY_LINES = 60


def test_target_output(c):
    """`memtop run` of a program that writes to stdout and stderr: none of it on the screen, the
    file it goes to named in the header, and its last lines shown once the dashboard closes."""
    t = c.tmux
    # the shell writes both streams, then becomes tui_target (the exact heap of tui_tests.py)
    # half of it while the dashboard is up (after a second), where it would garble the screen
    script = ('i=0; while [ $i -lt %d ]; do echo CHATTY-OUT-$i; echo CHATTY-ERR-$i >&2; '
              'i=$((i+1)); [ $i = %d ] && sleep 1; done; exec "$0" "$1"'
              % (CHATTY_LINES, CHATTY_LINES // 2))
    argv = [c.args.memtop, "run", "--preload", c.args.preload, "--", "sh", "-c", script,
            c.args.target, c.pidfile]
    t.start(["sh", "-c", 'cd "$0" && exec "$@"', c.tmp] + argv, env=dict(ENV, TMPDIR=c.tmp))
    c.target_pid = wait_file(c.pidfile)
    out_file = os.path.join(c.tmp, "memtop-%d.out" % c.target_pid)
    t.wait_for(HEADER_PHASE1, describe="the exact heap of the target after its exec")
    check("CHATTY" not in t.screen(), "the target's output is on the dashboard's screen", t.screen())
    if c.cols >= 100:
        t.wait_for(re.escape("> " + out_file), describe="the output file named in the header")
    else:  # 80 columns: its name, the directory said on exit
        t.wait_for(re.escape("> .../" + os.path.basename(out_file)),
                   describe="the output file named in the header")
    for key in ("1", "2", "3", "5", "6", "?", "q"):
        s = t.screen()
        check("CHATTY" not in s, "the target's output is on the dashboard's screen", s)
        if key == "q":
            break
        t.keys(key)
        t.wait_for(r"memtop pid|memtop keys", describe="view %s drawn" % key)
        if key == "?":
            t.keys("Escape")
    with open(out_file) as f:
        lines = f.read().splitlines()
    want = ["CHATTY-OUT-%d" % i for i in range(CHATTY_LINES)]
    got_out = [l for l in lines if l.startswith("CHATTY-OUT-")]
    check(got_out == want and len(lines) == 2 * CHATTY_LINES,
          "%s holds every line of both streams (%d lines)" % (out_file, len(lines)))
    t.keys("q")
    t.wait_for(r"MEMTOP-EXIT=", describe="memtop gone after q")
    screen = t.screen()
    flat = screen.replace("\n", "")
    check(re.search(r"memtop: detached; sh \(pid %d\) keeps running, its output going to %s"
                    % (c.target_pid, re.escape(out_file)), flat),
          "the file named on exit, the target still running", screen)
    check(re.search(r"memtop: the output of sh is in %s \(%d lines\); the last 10:"
                    % (re.escape(out_file), 2 * CHATTY_LINES), flat), "the tail announced", screen)
    check("CHATTY-ERR-%d" % (CHATTY_LINES - 1) in screen, "the last line shown on exit", screen)
    check(alive(c.target_pid), "the target keeps running after q")
    os.kill(c.target_pid, signal.SIGTERM)


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
