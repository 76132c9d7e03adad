#!/usr/bin/env python3
"""fork without exec, seen by two consumers: one on the parent (launch mode) and one attached to the
child's own segment. The child's 100 blocks of 77 bytes appear only in the child's dump, with the
child's exit status in its header; the parent's dump holds only the parent's site and none of the
child's; the child's counters start from the parent's totals (it inherited the heap).

usage: check_fork.py --mtdump PATH --prog PROG_FORKCHILD
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_sites  # noqa: E402


def site_totals(dump, exe, names):
    offsets = {int(fr.rpartition("+0x")[2], 16) for s in dump["stacks"] for fr in s["frames"]
               if fr.rpartition("+0x")[0] == exe}
    fn_of = check_sites.resolve_functions(exe, offsets)
    seen = {n: [0, 0] for n in names}
    for s in dump["stacks"]:
        for fr in s["frames"]:
            mod, _, off = fr.rpartition("+0x")
            fn = fn_of.get(int(off, 16)) if mod == exe else None
            if fn in seen:
                seen[fn][0] += s["allocs"]
                seen[fn][1] += s["live_bytes"]
                break
    return seen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtdump", required=True)
    ap.add_argument("--prog", required=True)
    a = ap.parse_args()
    mtdump, prog = os.path.abspath(a.mtdump), os.path.abspath(a.prog)
    env = dict(os.environ, MALLOC_PERTURB_="0")
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        pdump, cdump = os.path.join(tmp, "parent"), os.path.join(tmp, "child")
        parent = subprocess.Popen([mtdump, "-o", pdump, "--", prog], env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = ""
        while not line.startswith("child "):
            line = parent.stdout.readline()
            if not line:
                break
        if not line:
            print("FAIL: the child never announced itself")
            parent.kill()
            return 1
        child_pid = int(line.split()[1])
        ready = os.path.join(tmp, "ready")
        child = subprocess.Popen([mtdump, "-o", cdump, "--ready-file", ready, "--attach",
                                  str(child_pid)], env=env)
        deadline = time.monotonic() + 30
        while not os.path.exists(ready) and time.monotonic() < deadline:
            time.sleep(0.005)
        parent.stdin.write("go\n")
        parent.stdin.flush()
        out, _ = parent.communicate(timeout=60)
        child.wait(timeout=60)
        if parent.returncode != 0 or "parent: child exited 5" not in out:
            errors.append("parent exit %d, output %r" % (parent.returncode, out))
        p = check_sites.parse_dump(open(pdump).read())
        c = check_sites.parse_dump(open(cdump).read())
    ps = site_totals(p, prog, ["site_parent", "site_child"])
    cs = site_totals(c, prog, ["site_parent", "site_child"])
    if ps["site_parent"] != [10, 550] or ps["site_child"] != [0, 0]:
        errors.append("parent's dump: %s" % ps)
    if cs["site_child"] != [100, 7700] or cs["site_parent"] != [0, 0]:
        errors.append("child's dump: %s" % cs)
    if c.get("header_exited") != 1 or c.get("header_exit_status") != 5:
        errors.append("child's header: exited %s status %s" % (c.get("header_exited"),
                                                               c.get("header_exit_status")))
    if c["counters"]["allocs"] < p["counters"]["allocs"] - 5 or c["counters"]["allocs"] < 111:
        errors.append("child's counters do not start from the parent's: %s vs %s" %
                      (c["counters"], p["counters"]))
    for side, d in (("parent", p), ("child", c)):
        an = d["anomalies"]
        if an["bad"] or an["dup_allocs"] or an["skipped"]:
            errors.append("%s: anomalies %s" % (side, an))
    for n in (child_pid, parent.pid):
        if os.path.exists("/dev/shm/memtop.%d" % n):
            errors.append("segment memtop.%d left behind" % n)
    for e in errors:
        print("FAIL: " + e)
    if not errors:
        print("ok: parent %s, child %s" % (ps, cs))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
