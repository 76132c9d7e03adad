#!/usr/bin/env python3
"""e2e: allocations and frees made in a signal handler while the preload unwinds for the interrupted
call are counted and recorded (with the stack <in signal handler>), so the live set stays exact.
Runs tests/progs/sigunwind.c (a setitimer handler frees and allocates while the main thread
allocates from deep stacks; it prints its exact live set at exit) under mtdump and under
`memtop report`, and checks: the live set equals the program's, counters equal events, nothing
dropped, untracked or unknown, the report is not approximate, and the <in signal handler> frame is
shown (so some signals did land in the unwinder).
--marker-optional: the marker need not appear (a configuration where the main thread spends its time
waiting on a full ring, so few signals land in the unwinder); everything else is still exact.
usage: check_signal.py --mtdump MTDUMP --memtop MEMTOP [--env K=V]... [--marker-optional]
                       -- PROG [ARGS...]   (prints TAP)
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "monitor"))
from check_sites import parse_dump  # noqa: E402
from snapshot_parse import Snapshot  # noqa: E402

MARKER = "<in signal handler>"


def expected_live(stdout):
    for line in stdout.splitlines():
        f = line.split()
        if f[:1] == ["expect-live"]:
            return int(f[2]), int(f[4])
    raise RuntimeError("the program printed no expect-live line: %r" % stdout)


def check_mtdump(a, cmd, env, tmp):
    errors = []
    path = os.path.join(tmp, "dump.txt")
    run = subprocess.run([a.mtdump, "-o", path, "--"] + cmd, env=env, capture_output=True,
                         text=True, timeout=300)
    text = open(path).read()
    d = parse_dump(text)
    if run.returncode != 0:
        errors.append("exit status %d: %s" % (run.returncode, run.stderr.strip()))
    if "counters" not in d:
        return ["no dump from mtdump: " + text], run.stdout
    blocks, nbytes = expected_live(run.stdout)
    c, ev, an, live = d["counters"], d["events"], d["anomalies"], d["live"]
    for k in ("bad", "skipped", "dup_allocs", "bus", "unknown_frees"):
        if an[k]:
            errors.append("anomaly %s = %d" % (k, an[k]))
    for k in ("dropped", "untracked"):
        if c[k]:
            errors.append("%s %d" % (k, c[k]))
    if c["allocs"] != ev["allocs"] or c["frees"] != ev["frees"]:
        errors.append("counters allocs/frees %d/%d but events %d/%d" %
                      (c["allocs"], c["frees"], ev["allocs"], ev["frees"]))
    if c["usable_alloc"] - c["usable_freed"] != live["usable"]:
        errors.append("counters in use %d but live set holds %d usable bytes" %
                      (c["usable_alloc"] - c["usable_freed"], live["usable"]))
    if (live["blocks"], live["bytes"]) != (blocks, nbytes):
        errors.append("live set %d blocks %d bytes, the program holds %d blocks %d bytes" %
                      (live["blocks"], live["bytes"], blocks, nbytes))
    marked = [s for s in d["stacks"] if " ".join(s["frames"]) == MARKER]
    if (not marked or not marked[0]["allocs"]) and not a.marker_optional:
        errors.append("no allocation with the stack %s (no signal landed in the unwinder?)" % MARKER)
    note = "%d blocks %d bytes live, %s allocs in signal handlers inside the unwinder" % (
        live["blocks"], live["bytes"], marked[0]["allocs"] if marked else 0)
    return errors, note


def check_report(a, cmd, env, tmp):
    errors = []
    path = os.path.join(tmp, "snap.txt")
    run = subprocess.run([a.memtop, "report", "-o", path, "--"] + cmd, env=env, capture_output=True,
                         text=True, timeout=300)
    if run.returncode != 0:
        return ["memtop report exit %d: %s" % (run.returncode, run.stderr.strip())], ""
    blocks, nbytes = expected_live(run.stdout)
    snap = Snapshot(open(path).read())
    if (snap.h("live_blocks"), snap.h("live_bytes")) != (blocks, nbytes):
        errors.append("report: %d blocks %d bytes live, the program holds %d blocks %d bytes" %
                      (snap.h("live_blocks"), snap.h("live_bytes"), blocks, nbytes))
    if snap.header.get("approximate") != "0" or snap.h("lost_events"):
        errors.append("report: approximate %s, lost_events %d" %
                      (snap.header.get("approximate"), snap.h("lost_events")))
    marked = [s for s in snap.sites if [f["func"] for f in s["frames"]] == [MARKER]]
    if not marked and not a.marker_optional:
        errors.append("report: no site with the single frame %s" % MARKER)
    note = "%d blocks %d bytes live, signal site %s" % (
        snap.h("live_blocks"), snap.h("live_bytes"),
        "%d bytes in %d blocks" % (marked[0]["bytes"], marked[0]["blocks"]) if marked else "none")
    return errors, note


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtdump", required=True)
    ap.add_argument("--memtop", required=True)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--marker-optional", action="store_true")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    env = dict(os.environ, MALLOC_PERTURB_="0", DEBUGINFOD_URLS="")
    for kv in a.env:
        k, v = kv.split("=", 1)
        env[k] = v
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n, (name, fn) in enumerate((("mtdump", check_mtdump), ("memtop report", check_report)),
                                       1):
            errors, note = fn(a, cmd, env, tmp)
            print("%s %d - %s: %s" % ("not ok" if errors else "ok", n, name,
                                      "; ".join(errors) if errors else note))
            failed += bool(errors)
    print("1..2")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
