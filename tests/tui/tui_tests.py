#!/usr/bin/env python3
"""The dashboard tests (suite 'tui'): the real memtop, on a real target under the real preload, in a
private tmux server at a given size; assert on the captured screen. Every figure checked is exact:
tui_target.c documents the heap it builds. Never uses fixed sleeps to wait for the screen.

usage: tui_tests.py --memtop M --target T --preload P --demo D TEST [COLSxROWS]"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tmux_driver import Tmux, alive, wait_file  # noqa: E402

HEADER_PHASE1 = r"Live 16,500 B \(16\.1 KiB\) in 16 blocks"
HEADER_PHASE2 = r"Live 21,939 B \(21\.4 KiB\) in 23 blocks"
ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "MALLOC_PERTURB_": "0", "DEBUGINFOD_URLS": ""}


class Ctx:
    def __init__(self, args, size):
        self.args = args
        self.cols, self.rows = size
        self.tmp = tempfile.mkdtemp(prefix="memtop-tui-")
        self.pidfile = os.path.join(self.tmp, "target.pid")
        self.tmux = Tmux(self.cols, self.rows)
        self.target_pid = None
        self.procs = []

    def run_target_under_memtop(self, *target_args, memtop_args=(), env=None):
        argv = [self.args.memtop, "run", "--preload", self.args.preload, *memtop_args, "--",
                self.args.target, self.pidfile, *target_args]
        # the target's output file (memtop run under the dashboard) goes with the test's files
        self.tmux.start(["sh", "-c", 'cd "$0" && exec "$@"', self.tmp] + argv,
                        env=dict(env or ENV, TMPDIR=self.tmp))
        try:
            self.target_pid = wait_file(self.pidfile)
        except AssertionError as e:
            raise AssertionError("%s\n--- screen ---\n%s" % (e, self.tmux.screen()))
        return self.target_pid

    def cleanup(self):
        self.tmux.close()
        for pid in [self.target_pid] + self.procs:
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)


def table_rows(screen, pattern):
    return [l for l in screen.splitlines() if re.search(pattern, l)]


def check(cond, msg, screen=""):
    if not cond:
        raise AssertionError("%s\n--- screen ---\n%s" % (msg, screen))


# ------------------------------------------------------------------ tests

def test_header_views(c):
    """Header totals, then every view's rows, equal tui_target's known heap."""
    t = c.tmux
    c.run_target_under_memtop()
    t.wait_for(HEADER_PHASE1, describe="exact live bytes and blocks in the header")
    t.wait_for(r"pid %d\b" % c.target_pid)
    t.wait_for(r"Lost 0 ")
    # 1: call sites, sorted by live bytes, exact per site; symbolized to function file:line
    t.wait_for(r"^\s+10,000\s+10\s+12\s+0 site_a tui_target\.c:\d+", describe="site_a row")
    # each site's frame is symbolized in turn: wait for the three, then read one screen
    t.wait_for(lambda scr: all(f in scr for f in ("site_a tui", "site_b tui", "site_c tui")),
               describe="the three sites symbolized")
    s = t.screen()
    check(re.search(r"^\s+5,000\s+1\s+1\s+0 site_c tui_target\.c:\d+", s, re.M), "site_c row", s)
    check(re.search(r"^\s+1,500\s+5\s+5\s+0 site_b tui_target\.c:\d+", s, re.M), "site_b row", s)
    lines = s.splitlines()
    first = next(i for i, l in enumerate(lines) if "site_" in l)
    check("site_a" in lines[first] and "site_c" in lines[first + 1] and "site_b" in lines[first + 2],
          "call sites sorted by live bytes", s)
    check(lines[-1].strip() != "" or lines[c.rows - 1] is not None, "status line", s)
    # 2: threads
    t.keys("2")
    t.wait_for(r"^\s+%d tui_target\s+16,500\s+16\b" % c.target_pid, describe="main thread row")
    # 3: heap walk: every block; the realloc'd one flagged
    t.keys("3")
    t.wait_for(r"Heap walk: 16 blocks, 16,500 bytes")
    s = t.wait_for(lambda s: len(table_rows(s, r"^0x[0-9a-f]+ ")) >= min(16, c.rows - 9)).__str__()
    rows = table_rows(s, r"^0x[0-9a-f]+ ")
    visible = min(16, c.rows - 9)
    check(len(rows) == visible, "walk shows %d rows, got %d" % (visible, len(rows)), s)
    sizes = sorted(int(r.split()[1].replace(",", "")) for r in rows)
    if visible == 16:
        check(sizes == [300] * 5 + [1000] * 10 + [5000], "walk block sizes", s)
    check(all(re.search(r"site_[abc] tui_target\.c:\d+", r) for r in rows), "walk top frames", s)
    # the realloc'd block is the 5000-byte one; sort by size (descending) to bring it on screen
    t.keys(">")
    t.wait_for(r"SIZE▼")
    t.wait_for(r"^0x[0-9a-f]+\s+5,000\s+%d\s+\S+\s+R site_c" % c.target_pid, describe="realloc flag")
    # 5: memory map: the [heap] mapping holds all 16500 bytes, with a heatmap line under it
    t.keys("5")
    t.wait_for(r"^0x[0-9a-f]+\s+\S+\s+\S+\s+16,500\s+[\d.]+\s+16 \[heap\]", describe="[heap] row")
    t.wait_for(r"^ \[[^\]]{32}\]", describe="32-division heatmap line")
    t.keys("-")
    t.wait_for(r"^ \[[^\]]{16}\]", describe="16 divisions after -")
    # 6: leak suspects: lower the expire age to 1s; all 16 blocks are older than that
    t.keys("6")
    t.wait_for(r"Leak suspects older than 1m00s")
    for _ in range(4):
        t.keys("E")
    t.wait_for(r"Leak suspects older than 1s")
    t.keys("r")
    t.wait_for(r"older than 1s \(e/E\): 3 sites, 16,500 bytes in 16 blocks", describe="suspect totals")
    t.wait_for(r"^\s+10,000\s+10\s+\S+ site_a tui_target\.c:\d+")
    # the target allocates more: the header follows
    os.kill(c.target_pid, signal.SIGUSR1)
    t.wait_for(HEADER_PHASE2, describe="header after SIGUSR1")
    t.wait_for(r"running$")
    t.keys("q")
    t.wait_for(lambda s: "Live" not in s, describe="dashboard gone after q")
    check(alive(c.target_pid), "target still running after q")
    os.kill(c.target_pid, signal.SIGTERM)
    t.wait_for(r"MEMTOP-EXIT=\d+")


def test_incremental(c):
    """After m, view 4 shows exactly the blocks allocated later; u removes the mark."""
    t = c.tmux
    c.run_target_under_memtop()
    t.wait_for(HEADER_PHASE1)
    t.keys("4")
    t.wait_for(r"no mark set")
    t.keys("m")
    t.wait_for(r"Since mark \(set \S+ ago\): 0 blocks, 0 bytes", describe="empty incremental walk")
    os.kill(c.target_pid, signal.SIGUSR1)
    t.wait_for(HEADER_PHASE2)
    t.keys("r")
    t.wait_for(r"Since mark \(set \S+ ago\): 7 blocks, 5,439 bytes", describe="7 blocks since the mark")
    s = t.wait_for(lambda s: len(table_rows(s, r"^0x")) == 7)
    rows = table_rows(s, r"^0x")
    check(all(re.search(r"^0x[0-9a-f]+\s+777\s+%d\s+\S+\s+site_later tui_target\.c:\d+" % c.target_pid, r)
              for r in rows), "every row is a 777-byte block from site_later", s)
    # a second batch after a new mark: only those
    t.keys("m")
    t.wait_for(r"Since mark \(set \S+ ago\): 0 blocks")
    os.kill(c.target_pid, signal.SIGUSR1)
    t.wait_for(r"Live 27,378 B .* in 30 blocks")
    t.keys("r")
    t.wait_for(r"Since mark \(set \S+ ago\): 7 blocks, 5,439 bytes")
    t.keys("u")
    t.wait_for(r"no mark set")


def test_keys(c):
    """Help overlay, name filter, sort, pause, snapshot."""
    t = c.tmux
    c.run_target_under_memtop()
    t.wait_for(HEADER_PHASE1)
    t.wait_for(r"site_a tui_target")
    t.keys("?")
    # the box's bottom edge too: a screen caught while the help was being drawn had its rows only
    # down to the middle (the rest still blank), and the keys below were on no page read
    s = t.wait_for(r"memtop help[\s\S]*└─").string
    # a page that does not fit scrolls (PgDn): every key is on one of its pages
    for _ in range(10):
        m = re.search(r"(\d+) more above, (\d+) more below", t.screen())
        if not m or m.group(2) == "0":
            break
        t.keys("NPage")
        t.wait_for(lambda scr, above=m.group(1): re.search(r"(\d+) more above", scr) and
                   re.search(r"(\d+) more above", scr).group(1) != above, describe="help scrolled")
        s += t.screen()
    for key, what in [("1-7", "views"), ("Tab S-Tab", "next / previous view"), ("Up Down", "move"),
                      ("PgUp PgDn", "page"), ("Home End", "first / last row"), ("Enter", "expand"),
                      ("< >", "sort by"), ("i", "invert"), ("/", "filter by function or file"),
                      ("c Esc", "clear"), ("p", "pause the display"), ("s", "snapshot"),
                      ("m", "mark all"), ("u", "remove the mark"), ("+ -", "heatmap divisions"),
                      ("e E", "expire age"), ("r F5", "recompute"), ("? h F1", "help"),
                      ("[ ]", "scroll the expanded stack"),
                      ("q F10", "quit; the target keeps running")]:
        check(re.search(r"│ %s\s+.*%s" % (re.escape(key), re.escape(what)), s), "help lists %r" % key, s)
    t.keys("x")
    t.wait_for(lambda s: "memtop help" not in s, describe="help closed by any key")
    # name filter: only site_b remains
    t.keys("/")
    t.wait_for(r"Filter by function or file:")
    t.literal("site_b")
    t.keys("Enter")
    s = t.wait_for(r"\[/site_b\] Call sites: 1 shown of 4").string
    check(len(table_rows(s, r"site_[ac] ")) == 0 and len(table_rows(s, r"site_b ")) == 1, "filtered rows", s)
    t.keys("c")
    t.wait_for(r"Call sites: 4 shown of 4")
    # Enter expands the selected stack: site_a called from main
    t.keys("Enter")
    t.wait_for(r"#0\s+site_a tui_target\.c:\d+")
    t.wait_for(r"#1\s+main tui_target\.c:\d+")
    t.keys("Enter")
    t.wait_for(lambda s: "#1 " not in s)
    # sort: invert puts the empty site (site_c's freed malloc) first
    t.keys("i")
    t.wait_for(r"LIVE▲")
    s = t.screen()
    first = next(l for l in s.splitlines() if "site_" in l)
    check(re.match(r"^\s+0\s+0\s+1\s+0 site_c", first), "ascending sort puts the 0-byte site first", s)
    t.keys("i")
    # pause: the display keeps the old figures while the target allocates
    t.keys("p")
    t.wait_for(r"PAUSED")
    os.kill(c.target_pid, signal.SIGUSR1)
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        s = t.screen()
        check(re.search(HEADER_PHASE1, s), "paused display must not change", s)
        time.sleep(0.2)
    t.keys("p")
    t.wait_for(HEADER_PHASE2, describe="resumed display shows the new figures")
    # snapshot: written where the message says, with the exact figures
    t.keys("s")
    m = t.wait_for(r"snapshot written to (\S+)")
    path = m.group(1)
    with open(path) as f:
        text = f.read()
    check(re.search(r"^live_bytes: 21939$", text, re.M) and re.search(r"^live_blocks: 23$", text, re.M),
          "snapshot figures", text[:2000])


def test_resize(c):
    """Live resize to 160x48, to a too-small size (clear message), and back."""
    t = c.tmux
    c.run_target_under_memtop()
    t.wait_for(HEADER_PHASE1)
    t.wait_for(r"site_a tui_target")
    t.resize(160, 48)
    t.wait_for(lambda s: len(s.splitlines()) >= 47 and re.search(r"\?\s?Help", s.splitlines()[-1] if s.splitlines() else ""),
               describe="status bar on the last line at 160x48")
    s = t.screen()
    check(max(len(l) for l in s.splitlines()) > 100, "uses the width", s)
    t.resize(50, 10)
    t.wait_for(r"Terminal too small: 50x10\.", describe="too-small message")
    t.wait_for(r"memtop needs at least 60x16\.")
    t.resize(80, 24)
    t.wait_for(HEADER_PHASE1)
    t.wait_for(r"site_a tui_target")
    s = t.screen()
    check("too small" not in s, "message gone after enlarging", s)
    check(max(len(l.rstrip()) for l in s.splitlines()) <= 80, "fits 80 columns", s)


def test_quit_attach(c):
    """memtop PID attached to a running target; q quits and the target keeps running."""
    env = dict(os.environ, LD_PRELOAD=c.args.preload, MEMTOP_WAIT="1", **ENV)
    p = subprocess.Popen([c.args.target, c.pidfile], env=env, stdin=subprocess.DEVNULL)
    c.procs.append(p.pid)
    # attach only once the preload has created the segment (the target waits for us meanwhile)
    deadline = time.monotonic() + 15
    while not os.path.exists("/dev/shm/memtop.%d" % p.pid):
        check(time.monotonic() < deadline and p.poll() is None, "the target never created its segment")
        time.sleep(0.05)
    t = c.tmux
    t.start([c.args.memtop, str(p.pid)], env=ENV)
    try:
        wait_file(c.pidfile)
    except AssertionError as e:
        raise AssertionError("%s\n--- screen ---\n%s" % (e, t.screen()))
    t.wait_for(HEADER_PHASE1)
    t.keys("q")
    t.wait_for(r"MEMTOP-EXIT=0", describe="memtop exits 0 after q")
    time.sleep(0.2)
    check(p.poll() is None and alive(p.pid), "the target keeps running after q")
    # and it still works: it allocates on request and exits on SIGTERM by default action
    os.kill(p.pid, signal.SIGTERM)
    p.wait(timeout=10)


def test_threads(c):
    """Threads view rows; Enter filters the call sites to the selected thread."""
    t = c.tmux
    c.run_target_under_memtop("threads")
    t.wait_for(r"site_a tui_target")
    t.keys("2")
    t.wait_for(r"^\s+\d+ tui-worker\s+6,000\s+3\s", describe="worker thread row")
    s = t.screen()
    rows = table_rows(s, r"^\s+\d+ (tui_target|tui-worker)\s")
    check(len(rows) == 2, "two threads", s)
    worker_line = next(i for i, r in enumerate(rows) if "tui-worker" in r)
    t.keys("Home")
    for _ in range(worker_line):
        t.keys("Down")
    t.keys("Enter")
    t.wait_for(r"showing only thread \d+ \(tui-worker\)")
    t.keys("1")
    t.wait_for(r"Call sites of one thread: 1 shown, 6,000 in 3 blocks", describe="filtered call sites")
    t.wait_for(r"^\s+6,000\s+3\s+-\s+- worker_main tui_target\.c:\d+")
    t.keys("3")
    t.wait_for(r"\[thread \d+ tui-worker\] Heap walk: 3 blocks, 6,000 bytes")
    t.keys("c")
    t.wait_for(r"Heap walk: \d+ blocks")
    s = t.screen()
    check("[thread" not in s, "filter cleared", s)


def test_timeline(c):
    """t: the live-bytes chart of tui_target's timeline mode (up to 524,288 B, down to 262,144 B, one
    timeline point per event): exact figures in the title, the bytes axis labelled at the top, middle
    and zero, the time axis in seconds, the peak reaching the top row and the present column at half."""
    t = c.tmux
    c.run_target_under_memtop("timeline")
    t.wait_for(r"Live 262,144 B \(256\.0 KiB\) in 4 blocks", describe="the shape's end in the header")
    t.keys("t")
    t.wait_for(r"Live bytes over time: now 262,144 B, top 524,288 B; 12 points >= 1 ms apart", describe="timeline title with exact figures")
    s = t.screen()
    lines = s.splitlines()
    top = next((i for i, l in enumerate(lines) if re.match(r"^ +512\.0 KiB[┤|]", l)), None)
    check(top is not None, "top of the bytes axis labelled 512.0 KiB", s)
    check(lines[top - 1].strip() == "live bytes", "bytes axis unit above it", s)
    axis = next((i for i, l in enumerate(lines) if re.match(r"^ +0 B[└+]", l)), None)
    check(axis is not None and axis > top + 1, "zero of the bytes axis", s)
    plot_h = axis - top
    mid = top + plot_h // 2
    want_mid = "%.1f KiB" % (524288 * (plot_h - plot_h // 2) // plot_h / 1024)
    check(lines[mid].lstrip().startswith(want_mid), "middle tick labelled %s" % want_mid, s)
    m = re.match(r"^ {11}0s +(\d+\.\d\d)s +(\d+\.\d\d)s now *$", lines[axis + 1])
    check(m, "time axis: 0s, the middle and the last point's time in seconds", s)
    span = float(m.group(2))
    check(0.44 <= span < 5 and abs(float(m.group(1)) - span / 2) <= 0.011, "time axis figures", s)
    bar = "█" if "┤" in lines[top] else "#"
    cols = range(11, c.cols - 1)
    heights = [sum(1 for r in range(top, axis) if len(lines[r]) > x and lines[r][x] == bar) for x in cols]
    check(max(heights) == plot_h, "the peak reaches the top row", s)
    check(heights[-1] == (plot_h * 262144 + 262144) // 524288, "the present column at half the scale", s)
    check(heights[0] == round(plot_h / 8), "the first column: one block of eight", s)
    t.keys("t")
    t.wait_for(r"site_later|timeline_shape|Call sites", describe="back to the call sites")


def test_callers(c):
    """7: the caller tree of tui_target's callers mode: allocating functions with the sums of their
    whole subtree, largest first; Enter, Right and + open a node onto its callers (exact figures),
    Left and - close it (Left on a closed node goes up to its parent); the selected node's path."""
    t = c.tmux
    c.run_target_under_memtop("callers")
    t.wait_for(r"Live 7,800 B \(7\.6 KiB\) in 7 blocks", describe="the callers heap in the header")
    t.keys("7")
    node = r"^\s*%s\s+%d\s+%d\s+%s %s tui_target\.c:\d+"
    closed, opened = r"[▸+]", r"[▾-]"
    t.wait_for(lambda s: re.search(node % ("7,500", 6, 6, closed, "leaf_alloc"), s, re.M) and
               re.search(node % ("300", 1, 1, closed, "solo_alloc"), s, re.M),
               describe="the two allocating functions, symbolized, with their subtree sums")
    s = t.screen()
    rows = table_rows(s, r"^\s*[\d,]+\s+\d+\s+\d+\s+\S (leaf_alloc|solo_alloc) tui_target")
    check(len(rows) == 2 and "leaf_alloc" in rows[0], "leaf_alloc (7,500 B) above solo_alloc (300 B)", s)
    check(re.search(r"Caller tree: 2 allocating functions, 2 rows shown", s), "title: 2 functions, 2 rows", s)
    check(re.search(r"^ leaf_alloc tui_target\.c:\d+\s*$", s, re.M), "the selected node's path", s)
    t.keys("Enter")
    t.wait_for(node % ("7,500", 6, 6, opened, "leaf_alloc"), describe="leaf_alloc opened")
    s = t.wait_for(r"4 rows shown|5 rows shown", describe="its callers listed")
    s = t.screen()
    kids = table_rows(s, r"^\s*[\d,]+\s+\d+\s+\d+\s+   ?[▸+] \w+ tui_target")
    check([re.search(r"(\w+) tui_target", k).group(1) for k in kids] == ["main", "mid_one", "mid_two"],
          "callers of leaf_alloc by live bytes: main, mid_one, mid_two", s)
    check(re.search(node % ("4,000", 1, 1, "  " + closed, "main"), s, re.M) and
          re.search(node % ("2,000", 2, 2, "  " + closed, "mid_one"), s, re.M) and
          re.search(node % ("1,500", 3, 3, "  " + closed, "mid_two"), s, re.M),
          "each caller with exact figures, one level in", s)
    t.keys("Down", "Down", "Right")
    t.wait_for(node % ("2,000", 2, 2, "    " + closed, "top"), describe="mid_one opened onto top")
    s = t.screen()
    check(re.search(node % ("2,000", 2, 2, "  " + opened, "mid_one"), s, re.M), "mid_one shown open", s)
    check(re.search(r"^ leaf_alloc tui_target\.c:\d+ > mid_one tui_target\.c:\d+\s*$", s, re.M),
          "path of mid_one: leaf_alloc > mid_one", s)
    t.keys("Left")
    t.wait_for(lambda s: re.search(node % ("2,000", 2, 2, "  " + closed, "mid_one"), s, re.M) and
               " top tui_target" not in s, describe="Left closed mid_one")
    t.keys("Left", "-")
    t.wait_for(lambda s: re.search(node % ("7,500", 6, 6, closed, "leaf_alloc"), s, re.M) and
               "mid_one tui" not in s, describe="Left went up to leaf_alloc, - closed it")
    t.keys("+")
    t.wait_for(node % ("7,500", 6, 6, opened, "leaf_alloc"), describe="+ opened leaf_alloc again")
    t.keys("q")


def test_wrappers(c):
    """w: the allocator wrapper xmalloc is dropped from the top of the site (it names timeline_shape,
    the real caller), then kept (the site names xmalloc), then dropped again; figures unchanged."""
    t = c.tmux
    c.run_target_under_memtop("timeline")
    row = r"^\s*262,144\s+4\s+8\s+0 %s tui_target\.c:\d+"
    t.wait_for(row % "timeline_shape", describe="the site named by the caller of the wrapper")
    t.keys("w")
    t.wait_for(row % "xmalloc", describe="the site named by the wrapper after w")
    t.wait_for(r"allocator wrapper frames kept")
    t.keys("w")
    t.wait_for(row % "timeline_shape", describe="the caller again after a second w")


def test_ascii(c):
    """Without a UTF-8 locale the heatmap and sparkline fall back to ASCII, in monochrome."""
    t = c.tmux
    env = dict(ENV, LANG="C", LC_ALL="C")
    c.run_target_under_memtop(memtop_args=("--no-color",), env=env)
    t.wait_for(HEADER_PHASE1)
    t.keys("5")
    m = t.wait_for(r"^ \[([^\]]{32})\]")
    check(re.fullmatch(r"[.!1-8]{32}", m.group(1)), "ASCII heat cells", m.string)
    s = t.screen()
    check(all(ord(ch) < 128 for ch in s), "no non-ASCII character on screen", s)


def test_demo(c):
    """memtop demo: the bundled workload shows its call sites, threads and heap."""
    t = c.tmux
    t.start(["sh", "-c", 'cd "$0" && exec "$@"', c.tmp, c.args.memtop, "demo"], env=ENV)
    m = t.wait_for(r"pid (\d+)")
    c.target_pid = int(m.group(1))
    t.wait_for(r"fragment_heap memtop_demo\.c:\d+")
    t.wait_for(r"leak_session_record memtop_demo\.c:\d+")
    t.keys("2")
    t.wait_for(r"churn-1")
    t.wait_for(r"leaker")
    t.keys("5")
    t.wait_for(r"\[heap\]")
    t.keys("6")
    t.wait_for(r"leak_session_record memtop_demo\.c:\d+", timeout=30, describe="growing leak site")
    t.keys("q")
    t.wait_for(lambda s: "Live" not in s)
    os.kill(c.target_pid, signal.SIGTERM)
    t.wait_for(r"MEMTOP-EXIT=\d+")


def test_target_end(c):
    """The target exits, then crashes in a second run: the state says so, the final figures stay,
    and memtop run passes the status through after q."""
    t = c.tmux
    c.run_target_under_memtop()
    t.wait_for(HEADER_PHASE1)
    os.kill(c.target_pid, signal.SIGUSR2)
    t.wait_for(r"exited \(status 7\)$", describe="exited state in the header")
    t.wait_for(HEADER_PHASE1, describe="final figures kept after exit")
    t.keys("3")
    t.wait_for(r"Heap walk: 16 blocks, 16,500 bytes", describe="walk of the final state")
    t.keys("q")
    t.wait_for(r"MEMTOP-EXIT=7", describe="exit status passed through")
    t.close()
    os.unlink(c.pidfile)
    c.tmux = t = Tmux(c.cols, c.rows)
    c.run_target_under_memtop()
    t.wait_for(HEADER_PHASE1)
    os.kill(c.target_pid, signal.SIGSEGV)
    t.wait_for(r"crashed \(signal 11\)$", describe="crashed state in the header")
    t.keys("q")
    t.wait_for(r"MEMTOP-EXIT=139")


def test_views_through_exit(c):
    """Every view and per-block query while the target runs and after it exits: walks with a mark,
    the heat map (computed while running, then again after the exit: the maps are gone), suspects,
    a snapshot from the dashboard. tests/ci/tsan.sh runs it on a ThreadSanitizer build of memtop:
    the UI thread, its query worker, the ingest thread and the symbolizer all at work together."""
    t = c.tmux
    c.run_target_under_memtop()
    t.wait_for(HEADER_PHASE1)
    t.keys("2")
    t.wait_for(r"^\s+%d tui_target\s+16,500\s+16\b" % c.target_pid, describe="main thread row")
    t.keys("3")
    t.wait_for(r"Heap walk: 16 blocks, 16,500 bytes")
    t.keys("4")
    t.wait_for(r"no mark set")
    t.keys("m")
    t.wait_for(r"Since mark \(set \S+ ago\): 0 blocks, 0 bytes")
    os.kill(c.target_pid, signal.SIGUSR1)
    t.wait_for(HEADER_PHASE2)
    t.keys("r")
    t.wait_for(r"Since mark \(set \S+ ago\): 7 blocks, 5,439 bytes", describe="7 blocks since the mark")
    t.keys("5")
    t.wait_for(r"^0x[0-9a-f]+\s+\S+\s+\S+\s+21,939\s+[\d.]+\s+23 \[heap\]", describe="[heap] row")
    t.keys("6")
    t.wait_for(r"Leak suspects older than")
    t.keys("5")
    t.wait_for(r"\[heap\]")
    os.kill(c.target_pid, signal.SIGUSR2)
    t.wait_for(r"exited \(status 7\)$", describe="exited state in the header")
    t.keys("r")
    t.wait_for(r"the target has exited, its maps are gone", describe="heat map after the exit")
    t.keys("s")
    t.wait_for(r"snapshot written to (\S+)")
    t.keys("3")
    t.wait_for(r"Heap walk: 23 blocks, 21,939 bytes", describe="walk of the final state")
    t.keys("q")
    t.wait_for(r"MEMTOP-EXIT=7", describe="exit status passed through")


def test_dumb(c):
    """A terminal that cannot address the cursor gets one clear line and a non-zero status."""
    t = c.tmux
    c.run_target_under_memtop(env=dict(ENV, TERM="dumb"))
    t.wait_for(r"^memtop: the terminal \(TERM=dumb\) cannot move the cursor: use -b")
    t.wait_for(r"MEMTOP-EXIT=1")


def test_batch(c):
    """Batch mode (-b -n N) prints the same exact figures as plain text, without a terminal."""
    argv = [c.args.memtop, "run", "--preload", c.args.preload, "-b", "-n", "2", "-d", "0.5", "--",
            c.args.target, c.pidfile]
    # Files, not pipes: the target inherits them and outlives memtop.
    out_path, err_path = os.path.join(c.tmp, "out"), os.path.join(c.tmp, "err")
    with open(out_path, "w") as fo, open(err_path, "w") as fe:
        p = subprocess.Popen(argv, env=dict(os.environ, **ENV), stdout=fo, stderr=fe,
                             stdin=subprocess.DEVNULL)
        c.procs.append(p.pid)
        c.target_pid = wait_file(c.pidfile)
        rc = p.wait(timeout=60)
    with open(out_path) as f:
        out = f.read()
    with open(err_path) as f:
        err = f.read()
    check(rc == 0, "memtop -b exit status %d: %s" % (rc, err), out)
    check(len(re.findall(r"iteration \d+", out)) == 2, "two iterations", out)
    last = out[out.rindex("iteration 2"):]
    check(re.search(r"live_bytes: 16500\s+live_blocks: 16\b", last), "exact live figures", out)
    check(re.search(r"^\s+10000\s+10\s+12\s+0\s+site_a \S*tui_target\.c:\d+", last, re.M), "site_a row", out)
    check(re.search(r"^\s+1500\s+5\s+5\s+0\s+site_b ", last, re.M), "site_b row", out)
    check("\x1b" not in out, "no terminal escapes in batch output", out)
    check(alive(c.target_pid), "the target keeps running after batch mode ends")


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
