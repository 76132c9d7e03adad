#!/usr/bin/env python3
"""e2e (TAP): MEMTOP_LIVE=sampled (the default). sampleheap holds 64 MiB of 64 B, 128 MiB of 4 KiB
and 128 MiB of 1 MiB blocks, allocated with no monitor. A late snapshot estimates each site's live
bytes and blocks from the samples: each estimate must be within 5 standard deviations of the truth,
the deviation derived here from the sampling mean (a block of s bytes is sampled with probability
p = 1 - exp(-s/mean) and counted 1/p times: sd = s/p * sqrt(N p (1-p))). MEMTOP_SAMPLE_SEED fixes
the draws for this test; two runs without it must draw differently (the default seed is random).
usage: check_late_sampled.py MEMTOP LIBMEMTOP SAMPLEHEAP"""
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "monitor"))
from snapshot_parse import Snapshot  # noqa: E402

MEAN = 524288
SITES = {"site_small": (64, 1 << 20), "site_page": (4096, 1 << 15), "site_mega": (1 << 20, 128)}
results = []


def check(name, ok, detail=""):
    results.append((ok, name, detail))


def late_snapshot(memtop, lib, prog, seed):
    env = dict(os.environ, LD_PRELOAD=lib, MALLOC_PERTURB_="0")
    env.pop("MEMTOP_LIVE", None)  # the default mode
    env.pop("MEMTOP_SAMPLE_SEED", None)
    if seed:
        env["MEMTOP_SAMPLE_SEED"] = seed
    p = subprocess.Popen([prog], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    try:
        ready = p.stdout.readline().split()
        if ready[:1] != ["ready"]:
            return None, "target not ready: %r" % ready
        r = subprocess.run([memtop, "snapshot", str(p.pid)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        if r.returncode != 0:
            return None, r.stderr
        return r.stdout, ""
    finally:
        p.stdin.write("exit\n")
        p.stdin.close()
        p.wait(timeout=30)


def main():
    memtop, lib, prog = sys.argv[1:4]
    text, err = late_snapshot(memtop, lib, prog, "4242")
    check("late snapshot taken", text is not None, err)
    if text:
        snap = Snapshot(text)
        check("header: live_table sampled", snap.header.get("live_table") == "sampled",
              snap.header.get("live_table", "missing"))
        check("header: estimated from samples, 1 per 512 KiB",
              snap.header.get("estimate") == "estimated from samples, 1 per 512 KiB",
              snap.header.get("estimate", "missing"))
        got = snap.by_function("site_")
        for fn, (size, count) in SITES.items():
            p = -math.expm1(-size / MEAN)
            sd = size / p * math.sqrt(count * p * (1 - p))
            g = got.get(fn, dict(bytes=0, blocks=0))
            truth = size * count
            dev = abs(g["bytes"] - truth) / sd
            check("%s: estimated bytes %d within 5 sd (%.0f) of %d" % (fn, g["bytes"], sd, truth),
                  dev < 5, "%.2f sd" % dev)
            bdev = abs(g["blocks"] - count) / (sd / size)
            check("%s: estimated blocks %d within 5 sd of %d" % (fn, g["blocks"], count), bdev < 5,
                  "%.2f sd" % bdev)
            flagged = [s for s in snap.sites if snap.site_function(s, "site_") == fn]
            check("%s: its sites are marked estimated" % fn,
                  flagged and all(s["estimated"] for s in flagged))
    a, _ = late_snapshot(memtop, lib, prog, None)
    b, _ = late_snapshot(memtop, lib, prog, None)
    if a and b:
        ga, gb = Snapshot(a).by_function("site_"), Snapshot(b).by_function("site_")
        check("two runs without a seed draw differently", ga != gb)
    else:
        check("two runs without a seed taken", False)
    print("1..%d" % len(results))
    for i, (ok, name, detail) in enumerate(results, 1):
        print("%s %d - %s%s" % ("ok" if ok else "not ok", i, name,
                                "" if ok or not detail else " # " + detail.replace("\n", " ")))
    return 0 if all(r[0] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
