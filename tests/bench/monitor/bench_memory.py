#!/usr/bin/env python3
"""bench_memory: the monitor's own memory per live block with every view that holds per-block data
open, on the real memtop driven in a private tmux (benchmark only, never a timed test).
usage: bench_memory.py MEMTOP PRELOAD BENCH_TARGET [BLOCKS [STACKS]]

What is counted: RssAnon of the memtop process (/proc/PID/status: its anonymous private pages, i.e.
heap, slabs, tables, walk results and thread stacks; NOT the target's shared segment, which is
RssShmem, nor mapped files), sampled every 20 ms, no baseline subtracted. The figure is the highest
sample during a tour of the views divided by the live blocks the header shows:
  1 call sites, 2 threads, 3 heap walk, 4 incremental walk after 'm', 5 maps heatmap,
  6 leak suspects (expire 1 s), then the same with a thread filter (Enter in view 2), which makes
  call sites and suspects walk the live set too.
Each view is held for HOLD seconds, so that the walk views are recomputed (every 2 s) while an
older walk is still shown. Must never touch a tmux server or a process it did not start."""
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tui"))
from tmux_driver import Tmux  # noqa: E402

HOLD = float(os.environ.get("BENCH_HOLD_S", "7"))
DEPTH = os.environ.get("BENCH_DEPTH", "")  # MEMTOP_DEPTH for the target; "" = the default (16)


def rss_anon_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Keeps the highest RssAnon seen per phase."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.phase, self.peaks, self.stop = pid, "load", {}, False

    def run(self):
        while not self.stop:
            kib = rss_anon_kib(self.pid)
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), kib)
            time.sleep(0.02)


def child_named(pid, name, timeout=30.0):
    """The first descendant of pid whose comm is name (the pane runs sh -c 'env ... memtop ...')."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        todo = [pid]
        while todo:
            p = todo.pop()
            try:
                with open("/proc/%d/comm" % p) as f:
                    if f.read().strip() == name and p != pid:
                        return p
                with open("/proc/%d/task/%d/children" % (p, p)) as f:
                    todo += [int(c) for c in f.read().split()]
            except OSError:
                pass
        time.sleep(0.1)
    raise AssertionError("no %s process under the tmux pane" % name)


def main():
    memtop, preload, target = (os.path.realpath(a) for a in sys.argv[1:4])
    blocks = int(sys.argv[4]) if len(sys.argv) > 4 else 2000000
    stacks = int(sys.argv[5]) if len(sys.argv) > 5 else 50000
    t = Tmux(160, 48)
    try:
        # At the default depth (16 frames) the target's STACKS paths make min(STACKS, 32768)
        # call sites; BENCH_DEPTH=48 keeps all of them, 48 frames deep (symbols cost more per site).
        env = {"MEMTOP_STACKS": "262144", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "MALLOC_PERTURB_": "0", "DEBUGINFOD_URLS": ""}
        if DEPTH:
            env["MEMTOP_DEPTH"] = DEPTH
        t.start([memtop, "run", "--preload", preload, "-d", "0.5", "--", target, str(blocks), str(stacks)],
                env=env)
        pane = int(t._tmux("display", "-p", "#{pane_pid}").stdout.strip())
        pid = child_named(pane, os.path.basename(memtop)[:15])
        sampler = Sampler(pid)
        sampler.start()
        m = None

        def loaded(screen):
            nonlocal m
            m = re.search(r"Live [\d,]+ B \([^)]*\) in ([\d,]+) blocks", screen)
            return m is not None and int(m.group(1).replace(",", "")) >= blocks

        t.wait_for(loaded, timeout=300, describe="%d live blocks in the header" % blocks)
        live = int(m.group(1).replace(",", ""))
        sites = int(t.wait_for(r"Call sites: \d+ shown of (\d+)").group(1))
        tour = [("1 call sites", ["1"]), ("2 threads", ["2"]), ("3 heap walk", ["3"]),
                ("4 incremental walk, marked", ["4", "m"]), ("5 maps heatmap", ["5"]),
                ("6 leak suspects 1s", ["6", "E", "E", "E", "E", "E"]),
                ("thread filter: 1 call sites", ["2", "g", "Enter", "1"]),
                ("thread filter: 3 heap walk", ["3"]), ("thread filter: 6 suspects", ["6"])]
        for phase, keys in tour:
            sampler.phase = phase
            for k in keys:
                t.keys(k)
                time.sleep(0.3)
            time.sleep(HOLD)
        sampler.stop = True
        sampler.join()
        screen = t.screen()
        t.keys("q")
    finally:
        t.close()
    if "Heap walk" not in screen and "Leak suspects" not in screen:
        print(screen)
    peaks = sampler.peaks
    print("model: %d live blocks, %d call stack paths (bench_target), MEMTOP_DEPTH=%s, %d call sites, "
          "160x48, -d 0.5, %.0f s per view" % (live, stacks, DEPTH or "default", sites, HOLD))
    print("memtop RssAnon (anonymous private memory, segment excluded), highest sample per phase:")
    for phase, kib in peaks.items():
        print("  %-32s %8.1f MiB  %6.1f B per live block" % (phase, kib / 1024, kib * 1024 / live))
    top = max(peaks.values())
    print("monitor memory per live block, all views open: %.1f B (peak RssAnon %.1f MiB / %d blocks)" %
          (top * 1024 / live, top / 1024, live))


if __name__ == "__main__":
    main()
