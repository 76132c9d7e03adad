#!/usr/bin/env python3
"""e2e: run a target program under `memtop report` and check the snapshot against the program's own
"expect SITE allocs A live_blocks B live_bytes C" lines, exactly, per call site, plus global
consistency (sum of sites == header totals, no lost events, no unknown frees, exit status passed).
usage: check_expect.py MEMTOP EXPECTED_STATUS [--exe PATH] PROG [ARGS...]
--exe: the snapshot must describe that executable (PROG may exec it: memtop follows the exec)."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from snapshot_parse import Snapshot  # noqa: E402


def main():
    memtop, status, prog = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    want_exe = None
    if prog[0] == "--exe":
        want_exe, prog = os.path.realpath(prog[1]), prog[2:]
    with tempfile.TemporaryDirectory() as tmp:
        snap_path = os.path.join(tmp, "snap.txt")
        r = subprocess.run([memtop, "report", "--all-sites", "-o", snap_path, "--"] + prog,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        if r.returncode != status:
            print("exit status %d, expected %d; stderr: %s" % (r.returncode, status, r.stderr))
            return 1
        text = open(snap_path).read()
        snap = Snapshot(text)
    failures = 0
    if want_exe:
        exe = [l[5:] for l in text.splitlines() if l.startswith("exe: ")]
        if exe[:1] != [want_exe]:
            print("FAIL exe: the snapshot describes %s, expected %s" % (exe[:1], want_exe))
            failures += 1
        else:
            print("ok   exe: %s" % want_exe)
        if not snap.modules.get(want_exe):
            print("FAIL modules: no build-id recorded for %s" % want_exe)
            failures += 1
        else:
            print("ok   modules: %s has build-id %s" % (want_exe, snap.modules[want_exe]))
    got = snap.by_function()
    expects = [l.split() for l in r.stdout.splitlines() if l.startswith("expect ")]
    if not expects:
        print("the program printed no expect lines")
        return 1
    for e in expects:
        site, allocs, blocks, nbytes = e[1], int(e[3]), int(e[5]), int(e[7])
        g = got.get(site, dict(allocs=0, blocks=0, bytes=0))
        want = dict(allocs=allocs, blocks=blocks, bytes=nbytes)
        if g != want:
            print("FAIL %s: memtop %s, expected %s" % (site, g, want))
            failures += 1
        else:
            print("ok   %s: %s" % (site, want))
    live_sum = sum(s["bytes"] for s in snap.sites)
    blocks_sum = sum(s["blocks"] for s in snap.sites)
    checks = [
        ("live_bytes == sum of sites", snap.h("live_bytes"), live_sum),
        ("live_blocks == sum of sites", snap.h("live_blocks"), blocks_sum),
        ("lost_events", snap.h("lost_events"), 0),
        ("unknown_frees", snap.h("unknown_frees"), 0),
        ("allocs - frees == live_blocks", snap.h("allocs") - snap.h("frees"), snap.h("live_blocks")),
    ]
    for name, a, b in checks:
        if a != b:
            print("FAIL %s: %d != %d" % (name, a, b))
            failures += 1
        else:
            print("ok   %s: %d" % (name, a))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
