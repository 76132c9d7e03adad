#!/usr/bin/env python3
"""stress (TAP): attach and detach 50 times while 2 threads churn in exact mode (MEMTOP_LIVE=exact).
Each round: the threads run; a batch monitor attaches while they churn; the threads are paused at
a quiescent point and report what they hold; the monitor's refresh after the pause must equal it
exactly (bytes and blocks of the churn sites: churn_a, churn_b and the realloc in run), with no
unknown free and no duplicate allocation; the monitor detaches. Every 5th round a late snapshot of
the quiescent process must equal it too.
usage: check_late_stress.py MEMTOP LIBMEMTOP CHURN2"""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "monitor"))
from snapshot_parse import Snapshot  # noqa: E402

ROUNDS = 50
CHURN = ("churn_a", "churn_b", "run")
results = []


def check(name, ok, detail=""):
    results.append((ok, name, detail))


def last_refresh(text):
    """(unknown_frees, duplicate_allocs, churn bytes, churn blocks) of the last batch refresh."""
    chunks = [c for c in text.split("memtop ") if "unknown_frees" in c]
    if not chunks:
        return None
    c = chunks[-1]
    unknown = int(re.search(r"unknown_frees: (\d+)", c).group(1))
    dup = int(re.search(r"duplicate_allocs: (\d+)", c).group(1))
    nbytes = blocks = 0
    for line in c.splitlines():
        s = re.match(r"^\s*(\d+)\s+(\d+)\s+\d+\s+-?\d+\s+(\S+)", line)
        if s and s.group(3) in CHURN:
            nbytes += int(s.group(1))
            blocks += int(s.group(2))
    return unknown, dup, nbytes, blocks


def one_round(memtop, p, i, tmp):
    p.stdin.write("resume\n")
    p.stdin.flush()
    time.sleep(0.05)
    out = open(os.path.join(tmp, "b%d.txt" % i), "w+")
    # 8 refreshes 0.1 s apart: the first ones while the threads churn, the last (which waits for
    # the names of its sites) well after the pause
    b = subprocess.Popen([memtop, "-b", "-n", "8", "-d", "0.1", str(p.pid)], stdout=out,
                         stderr=subprocess.DEVNULL)
    time.sleep(0.15)  # attached while the threads churn
    p.stdin.write("pause\n")
    p.stdin.flush()
    f = p.stdout.readline().split()
    want = (int(f[1]), int(f[2])) if f[:1] == ["paused"] else None
    rc = b.wait(timeout=60)
    out.seek(0)
    got = last_refresh(out.read())
    out.close()
    ok = want is not None and rc == 0 and got is not None and got == (0, 0) + want
    check("round %d: the monitor attached during the churn equals the program (%s)" % (i, want),
          ok, "rc %s, got (unknown, duplicate, bytes, blocks) %s" % (rc, got))
    if i % 5 == 0 and want:
        r = subprocess.run([memtop, "snapshot", str(p.pid)], capture_output=True, text=True,
                           timeout=60)
        s = Snapshot(r.stdout) if r.returncode == 0 else None
        if s:
            got_fn = s.by_function("churn_")
            run = [x for x in s.sites if x["frames"] and x["frames"][0]["func"] == "run"]
            snap = (sum(v["bytes"] for v in got_fn.values()) + sum(x["bytes"] for x in run),
                    sum(v["blocks"] for v in got_fn.values()) + sum(x["blocks"] for x in run))
            check("round %d: a late snapshot at the quiescent point equals it" % i,
                  snap == want and s.h("unknown_frees") == 0, "got %s" % (snap,))
        else:
            check("round %d: snapshot taken" % i, False, r.stderr)


def main():
    memtop, lib, prog = sys.argv[1:4]
    env = dict(os.environ, LD_PRELOAD=lib, MEMTOP_LIVE="exact", MALLOC_PERTURB_="0")
    p = subprocess.Popen([prog], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    try:
        check("target ready", p.stdout.readline().strip() == "ready")
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(1, ROUNDS + 1):
                one_round(memtop, p, i, tmp)
    finally:
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
                                "" if ok or not detail else " # " + detail.replace("\n", " ")))
    return 0 if all(r[0] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
