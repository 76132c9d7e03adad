#!/usr/bin/env python3
"""e2e (TAP): a monitor that attaches late sees the heap already there, exactly (MEMTOP_LIVE=exact).
lateheap builds 1000 x 64 B (keep_small), 100 x 4096 B (keep_medium) and 10 x 3000 B grown by
realloc (keep_realloc) with no monitor, and a thread churns (churn_site). Checked, exactly per
function: a late snapshot; a snapshot taken while a batch monitor holds the claim (a reader beside
it); the batch monitor, attached while the churn frees everything, ends with the churn site at 0
and no unknown free; a last late snapshot after that.
usage: check_late_exact.py MEMTOP LIBMEMTOP LATEHEAP"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "monitor"))
from snapshot_parse import Snapshot  # noqa: E402

KNOWN = {"keep_small": (64000, 1000), "keep_medium": (409600, 100), "keep_realloc": (30000, 10)}
results = []


def check(name, ok, detail=""):
    results.append((ok, name, detail))


def snapshot(memtop, pid):
    r = subprocess.run([memtop, "snapshot", str(pid)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    if r.returncode != 0:
        return None, r.stderr.strip()
    return Snapshot(r.stdout), r.stderr.strip()


def check_known(tag, snap):
    got = snap.by_function("keep_")
    for fn, (nbytes, blocks) in KNOWN.items():
        g = got.get(fn, dict(bytes=0, blocks=0))
        check("%s: %s %d bytes in %d blocks" % (tag, fn, nbytes, blocks),
              (g["bytes"], g["blocks"]) == (nbytes, blocks),
              "got %d bytes in %d blocks" % (g["bytes"], g["blocks"]))
    check("%s: unknown_frees 0" % tag, snap.h("unknown_frees") == 0, snap.header["unknown_frees"])
    check("%s: duplicate_allocs 0" % tag, snap.h("duplicate_allocs") == 0,
          snap.header["duplicate_allocs"])


def batch_iterations(text):
    """The batch output's refreshes: (unknown_frees, {top function: (live_bytes, blocks)})."""
    out = []
    for chunk in text.split("memtop ")[1:]:
        m = re.search(r"unknown_frees: (\d+)", chunk)
        sites = {}
        for line in chunk.splitlines():
            s = re.match(r"^\s*(\d+)\s+(\d+)\s+\d+\s+-?\d+\s+(\S+)", line)
            if s:
                sites[s.group(3)] = (int(s.group(1)), int(s.group(2)))
        if m:
            out.append((int(m.group(1)), sites))
    return out


def main():
    memtop, lib, prog = sys.argv[1:4]
    env = dict(os.environ, LD_PRELOAD=lib, MEMTOP_LIVE="exact", MALLOC_PERTURB_="0")
    p = subprocess.Popen([prog], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    batch = None
    try:
        check("target ready", p.stdout.readline().strip() == "ready")
        snap, err = snapshot(memtop, p.pid)
        check("late snapshot taken", snap is not None, err)
        if snap:
            check_known("late", snap)
        batch_out = open(os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                      "late-batch-%d.txt" % os.getpid()), "w+")
        batch = subprocess.Popen([memtop, "-b", "-n", "30", "-d", "0.2", str(p.pid)],
                                 stdout=batch_out, stderr=subprocess.PIPE, text=True)
        for _ in range(100):  # its first refresh: the claim is held from then on
            batch_out.seek(0)
            if "iteration 1" in batch_out.read():
                break
            time.sleep(0.05)
        snap, err = snapshot(memtop, p.pid)
        check("snapshot beside a batch monitor taken", snap is not None, err)
        check("it says it reads the table beside the claimant", "beside it" in err, err)
        if snap:
            check_known("beside", snap)
        check("batch monitor still running", batch.poll() is None)
        p.stdin.write("stop\n")
        p.stdin.flush()
        check("churn stopped", p.stdout.readline().strip() == "stopped")
        time.sleep(1.0)  # a few refreshes of the batch monitor after the churn freed everything
        rc = batch.wait(timeout=60)
        check("batch monitor exit 0", rc == 0, batch.stderr.read())
        batch_out.seek(0)
        its = batch_iterations(batch_out.read())
        batch_out.close()
        os.unlink(batch_out.name)
        check("batch refreshed", len(its) >= 5, "%d refreshes" % len(its))
        if its:
            unknown, sites = its[-1]
            check("batch after the churn: unknown_frees 0", unknown == 0, str(unknown))
            check("batch after the churn: churn_site 0",
                  sites.get("churn_site", (0, 0)) == (0, 0), str(sites.get("churn_site")))
            for fn, want in KNOWN.items():
                check("batch after the churn: %s %s" % (fn, want), sites.get(fn) == want,
                      str(sites.get(fn)))
        snap, err = snapshot(memtop, p.pid)
        check("late snapshot after the churn taken", snap is not None, err)
        if snap:
            check_known("after", snap)
            churn = snap.by_function("churn_site").get("churn_site", dict(bytes=0, blocks=0))
            check("after: churn_site 0", (churn["bytes"], churn["blocks"]) == (0, 0), str(churn))
    finally:
        if batch and batch.poll() is None:
            batch.kill()
            batch.wait()
        try:
            p.stdin.write("exit\n")
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    print("1..%d" % len(results))
    for i, (ok, name, detail) in enumerate(results, 1):
        print("%s %d - %s%s" % ("ok" if ok else "not ok", i, name,
                                "" if ok or not detail else " # " + detail.replace("\n", " ")))
    return 0 if all(r[0] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
