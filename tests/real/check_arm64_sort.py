#!/usr/bin/env python3
"""A real arm64 program under the arm64 preload, run by qemu-user: Debian 12's own sort (coreutils
9.1-1, unpacked by tests/ci/aarch64.sh into MEMTOP_TEST_ARM64_ROOT) sorts a fixed file under mtdump.
Its output must equal the bare run's and the host sort's, and the figures are exact: the same as
x86_64's sort 9.1-1 under the x86_64 preload (32 allocations, 28 frees, 4 blocks of 212 bytes live
at exit, 24 distinct stacks), nothing dropped or unmatched, and every stack unwound down to sort's
entry point through libc (libunwind on arm64 code without frame pointers).
Exit 0 pass, 1 fail, 77 skip (no arm64 userland here).

usage: check_arm64_sort.py --mtdump PATH --preload LIBMEMTOP
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

# Debian 12 (coreutils 9.1-1, glibc 2.36); sort -S 1M --parallel=1 on INPUT_LINES lines, LC_ALL=C
WANT = {"allocs": 32, "frees": 28, "live_blocks": 4, "live_bytes": 212, "stacks": 24}
INPUT_LINES = 20000


def parse(text):
    d = {"stacks": []}
    for line in text.splitlines():
        f = line.split()
        if f and f[0] in ("counters", "events", "anomalies", "live"):
            d[f[0]] = {f[i]: int(f[i + 1]) for i in range(1, len(f) - 1, 2)}
        elif f and f[0] == "stack":
            d["stacks"].append(f[f.index("frames") + 1:])
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtdump", required=True)
    ap.add_argument("--preload", required=True)
    a = ap.parse_args()
    root = os.environ.get("MEMTOP_TEST_ARM64_ROOT", "")
    sort = os.path.join(root, "usr/bin/sort")
    if not root or not os.access(sort, os.X_OK):
        print("SKIP: no arm64 sort: MEMTOP_TEST_ARM64_ROOT must name an unpacked coreutils:arm64 "
              "(tests/ci/aarch64.sh sets it)")
        return 77
    env = dict(os.environ, LC_ALL="C", MALLOC_PERTURB_="0")
    env.pop("LD_PRELOAD", None)
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "input.txt")
        rnd = random.Random(7)
        with open(inp, "w") as f:
            for _ in range(INPUT_LINES):
                f.write("%08x %s\n" % (rnd.getrandbits(32), "y" * rnd.randint(0, 30)))
        cmd = [sort, "-S", "1M", "--parallel=1", inp]
        bare = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
        host = subprocess.run(["/usr/bin/sort"] + cmd[1:], env=env, capture_output=True, timeout=120)
        dump = os.path.join(tmp, "dump.txt")
        traced = subprocess.run([a.mtdump, "-p", os.path.abspath(a.preload), "-o", dump, "--"] + cmd,
                                env=env, capture_output=True, timeout=300)
        if bare.returncode or traced.returncode:
            errors.append("exit status: bare %d, traced %d" % (bare.returncode, traced.returncode))
        if traced.stdout != bare.stdout or bare.stdout != host.stdout or len(bare.stdout) == 0:
            errors.append("outputs differ: traced %d, bare %d, host sort %d bytes" %
                          (len(traced.stdout), len(bare.stdout), len(host.stdout)))
        if traced.stderr:
            errors.append("stderr of the traced run: %s" % traced.stderr.decode(errors="replace")[-500:])
        d = parse(open(dump).read() if os.path.exists(dump) else "")
    if "counters" not in d:
        errors.append("no dump from mtdump")
    else:
        c, ev, an, live = d["counters"], d["events"], d["anomalies"], d["live"]
        saw = {"allocs": c["allocs"], "frees": c["frees"], "live_blocks": live["blocks"],
               "live_bytes": live["bytes"], "stacks": len(d["stacks"])}
        if saw != WANT:
            errors.append("figures %s, expected %s (Debian 12's sort 9.1-1)" % (saw, WANT))
        if (ev["allocs"], ev["frees"]) != (c["allocs"], c["frees"]):
            errors.append("events allocs/frees %d/%d, counters %d/%d" %
                          (ev["allocs"], ev["frees"], c["allocs"], c["frees"]))
        if c["usable_alloc"] - c["usable_freed"] != live["usable"]:
            errors.append("counters in use %d, live set %d usable bytes" %
                          (c["usable_alloc"] - c["usable_freed"], live["usable"]))
        bad = {k: v for k, v in an.items() if v} or ({"dropped": c["dropped"]} if c["dropped"] else {})
        if bad:
            errors.append("anomalies: %s" % bad)
        entry = os.path.realpath(sort) + "+0x"  # /proc/PID/maps names the file without links
        short = [s for s in d["stacks"] if not s or not s[-1].startswith(entry)]
        if short:
            errors.append("%d of %d stacks do not end in sort's entry point, e.g. %s" %
                          (len(short), len(d["stacks"]), " ".join(short[0])))
    for e in errors:
        print("FAIL: " + e)
    if errors:
        return 1
    print("ok: arm64 sort traced exactly: %s" % WANT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
