#!/usr/bin/env python3
"""Dashboard tests of what a newcomer meets first (suite 'tui'): the target's own output never on
the dashboard's screen, the stack panel that scrolls and says how much is below, and the `?` help
that explains the columns. The real memtop, target and preload in a private tmux, as tui_tests.py.

usage: tui_ux.py --memtop M --target T --preload P --demo D --deep DEEP_TARGET TEST [COLSxROWS]"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tmux_driver import Tmux, alive, wait_file  # noqa: E402
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
        t.wait_for(r"memtop pid|memtop help", describe="view %s drawn" % key)
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


DEEP = 30  # calls from main to the malloc: with main and the libc start, more than a panel holds


def frames_shown(screen):
    return [int(m) for m in re.findall(r"^ #(\d+)\s+\S", screen, re.M)]


def test_stack_scroll(c):
    """Enter on a call site 30 calls deep: the panel says how many frames are not shown, [ and ]
    scroll through all of them, and the numbers add up at both ends."""
    t = c.tmux
    argv = [c.args.memtop, "run", "--preload", c.args.preload, "--", c.args.deep, c.pidfile,
            str(DEEP)]
    t.start(["sh", "-c", 'cd "$0" && exec "$@"', c.tmp] + argv,
            env=dict(ENV, MEMTOP_DEPTH="64", TMPDIR=c.tmp))
    c.target_pid = wait_file(c.pidfile)
    t.wait_for(r"^\s*1,048,576\s+1\s+1\s+\S+ deep_call deep_target\.c:\d+|"
               r"^\s*1\.0M\s+1\s+1\s+\S+ deep_call deep_target\.c:\d+",
               describe="the 1 MiB block of deep_call on top")
    t.keys("Enter")
    m = t.wait_for(r"Stack #\d+: (\d+) frames, #0-#(\d+) shown, (\d+) more below \(\[ \] scroll",
                   describe="the panel says how many frames are below")
    total, last, below = int(m.group(1)), int(m.group(2)), int(m.group(3))
    s = t.screen()
    check(total >= DEEP + 1 and last + 1 + below == total, "frames counted: %s" % m.group(0), s)
    check(frames_shown(s) == list(range(0, last + 1)), "frames #0-#%d listed" % last, s)
    seen = set(frames_shown(s))
    rows, first = last + 1, 0
    while first + rows < total:  # each ] moves 3 frames down, to the bottom and no further
        t.keys("]")
        first = min(first + 3, total - rows)
        t.wait_for(r"Stack #\d+: \d+ frames, #%d-#%d shown, %d more above"
                   % (first, first + rows - 1, first), describe="#%d first after ]" % first)
        seen |= set(frames_shown(t.screen()))
    t.keys("]")  # at the bottom already: nothing moves
    m = t.wait_for(r"Stack #\d+: (\d+) frames, #(\d+)-#(\d+) shown, (\d+) more above \(",
                   describe="the bottom of the stack")
    s = t.screen()
    check(int(m.group(3)) == total - 1 and int(m.group(4)) == int(m.group(2)),
          "at the bottom: %s" % m.group(0), s)
    check(seen == set(range(total)), "every frame was shown once scrolled (%d of %d)"
          % (len(seen), total), s)
    check(re.search(r"^ #%d\s+\S" % (total - 1), s, re.M), "the last frame on screen", s)
    deep_rows = [l for l in s.splitlines() if re.match(r"^ #\d+\s+deep_call deep_target", l)]
    check(deep_rows, "deep_call frames in the panel", s)
    for _ in range(total):
        t.keys("[")
        s = t.screen()
        if "more above" not in s and re.search(r"#0-#\d+ shown", s):
            break
    t.wait_for(r"Stack #\d+: \d+ frames, #0-#\d+ shown, \d+ more below \(",
               describe="back at the top with [")
    t.keys("Enter")
    t.wait_for(lambda scr: "Stack #" not in scr, describe="Enter closes the panel")
    t.keys("]")
    t.wait_for(r"Enter expands a stack first", describe="] without a panel says what to do")


def help_pages(t):
    """The whole help page: its first screen and every one PgDn brings."""
    t.keys("?")
    # down to the box's bottom edge: a screen caught mid-draw has the lower rows still blank
    text = t.wait_for(r"memtop help[\s\S]*└─").string
    for _ in range(10):
        m = re.search(r"(\d+) more above, (\d+) more below", t.screen())
        if not m or m.group(2) == "0":
            break
        t.keys("NPage")
        t.wait_for(lambda scr, above=m.group(1): re.search(r"(\d+) more above", scr) and
                   re.search(r"(\d+) more above", scr).group(1) != above, describe="help scrolled")
        text += t.screen()
    t.keys("x")
    t.wait_for(lambda scr: "memtop help" not in scr, describe="help closed")
    return text


def test_help_columns(c):
    """`?` explains every column of the view it is opened on, and the header's figures."""
    t = c.tmux
    c.run_target_under_memtop()
    t.wait_for(HEADER_PHASE1)
    for view, columns in (("1", [("GROWTH", "change of LIVE"), ("ALLOCS", "allocations made")]),
                          ("2", [("XFREES", "frees by this thread of blocks another thread"),
                                 ("ALLOC/S", "allocations per second")]),
                          ("3", [("R", "the block comes from realloc"), ("AGE", "since it was")]),
                          ("5", [("HEAP%", "HEAP as a percentage of RSS"), ("RSS", "resident")]),
                          ("6", [("OLDEST", "age of the oldest")])):
        t.keys(view)
        text = help_pages(t)
        for title, what in columns:
            check(re.search(r"│ %s\s+.*%s" % (re.escape(title), re.escape(what)), text),
                  "view %s: the help explains %s" % (view, title), text)
        for note in ("unknown frees", "Lost", "Numbers"):
            check(re.search(r"│ %s\s+\S" % note, text), "the help explains %r" % note, text)
    # one unit per column, with the header's separators: exact bytes in every byte column
    t.keys("1")
    t.wait_for(r"^\s+10,000\s+10\s+12\s+0 site_a", describe="exact bytes with separators")


def test_killed_state(c):
    """SIGKILL is no crash: memtop run's target says "killed by signal 9 (SIGKILL)" and passes
    137 through; an attached target, whose signal memtop cannot know, says it was killed."""
    t = c.tmux
    c.run_target_under_memtop()
    t.wait_for(HEADER_PHASE1)
    os.kill(c.target_pid, signal.SIGKILL)
    t.wait_for(r"killed by signal 9 \(SIGKILL\)$", describe="killed state in the header")
    check("crashed" not in t.screen(), "SIGKILL said as a crash", t.screen())
    t.keys("q")
    t.wait_for(r"MEMTOP-EXIT=137")
    t.close()
    os.unlink(c.pidfile)
    env = dict(os.environ, LD_PRELOAD=c.args.preload, MEMTOP_WAIT="1", **ENV)
    p = subprocess.Popen([c.args.target, c.pidfile], env=env, stdin=subprocess.DEVNULL)
    c.procs.append(p.pid)
    deadline = time.monotonic() + 15
    while not os.path.exists("/dev/shm/memtop.%d" % p.pid):
        check(time.monotonic() < deadline and p.poll() is None, "the target never created its segment")
        time.sleep(0.05)
    c.tmux = t = Tmux(c.cols, c.rows)
    t.start([c.args.memtop, str(p.pid)], env=ENV)
    wait_file(c.pidfile)
    t.wait_for(HEADER_PHASE1)
    p.kill()
    p.wait()
    t.wait_for(r"killed \(no exit seen\)$", describe="attached target killed")
    check("signal 0" not in t.screen(), "signal 0 shown", t.screen())


TESTS = {name[5:]: fn for name, fn in globals().items() if name.startswith("test_")}


def main():
    ap = argparse.ArgumentParser()
    for a in ("memtop", "target", "preload", "demo", "deep"):
        ap.add_argument("--" + a, required=True)
    ap.add_argument("test", choices=sorted(TESTS))
    ap.add_argument("size", nargs="?", default="80x24")
    args = ap.parse_args()
    for a in ("memtop", "target", "preload", "demo", "deep"):
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
