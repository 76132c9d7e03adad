#!/usr/bin/env python3
"""The preload's configuration and start-up failures, seen from outside: each bad MEMTOP_* value
gives exactly one stderr line naming the variable and the accepted range, then the default is used;
MEMTOP_DISABLE=1 and a segment that cannot be created leave the program running untraced with the
same output; MEMTOP_WAIT with no monitor waits for its timeout, says so once, then continues.

usage: check_config.py --preload LIB --api PROG_API_DEMO --allocs PROG_ALLOCS
"""
import argparse
import os
import subprocess
import sys
import time


def run(cmd, env_extra, preload):
    env = dict(os.environ)
    env.pop("MEMTOP_WAIT", None)
    env.update(env_extra)
    if preload:
        env["LD_PRELOAD"] = preload
    t = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    return p, time.monotonic() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preload", required=True)
    ap.add_argument("--api", required=True)
    ap.add_argument("--allocs", required=True)
    a = ap.parse_args()
    lib, api, allocs = (os.path.abspath(x) for x in (a.preload, a.api, a.allocs))
    errors = []
    bare, _ = run([allocs], {}, None)

    bad = [("MEMTOP_DEPTH", "abc", "0..64", "16"), ("MEMTOP_DEPTH", "65", "0..64", "16"),
           ("MEMTOP_UNWIND", "dwarf", "cfi, libunwind, fp or check", "cfi"),
           ("MEMTOP_RING", "10", "64..16777216", "131072"),
           ("MEMTOP_LANES", "17", "0..16", "0"),
           ("MEMTOP_STACKS", "-1", "16..4194304", "65536"),
           ("MEMTOP_BLOCK_MS", "1e3", "0..60000", "1000"),
           ("MEMTOP_WAIT", "forever", "0..86400", "0"),
           ("MEMTOP_DISABLE", "yes", "0..1", "0")]
    for var, val, rng, dflt in bad:
        p, _ = run([allocs], {var: val}, lib)
        want = "memtop: %s=%s is invalid (accepted: %s); using %s\n" % (var, val, rng, dflt)
        if p.stderr != want:
            errors.append("%s=%s: stderr %r, expected %r" % (var, val, p.stderr, want))
        if p.stdout != bare.stdout or p.returncode != bare.returncode:
            errors.append("%s=%s: output or exit status changed" % (var, val))

    p, _ = run([api], {"MEMTOP_DISABLE": "1"}, lib)
    if p.stdout != "expect-begin\nmemtop present but tracing is off\n" or p.stderr or p.returncode:
        errors.append("MEMTOP_DISABLE=1: %r %r %d" % (p.stdout, p.stderr, p.returncode))

    # The segment name is taken by a directory: creation fails, one line, the program runs.
    script = 'mkdir /dev/shm/memtop.$$ && LD_PRELOAD="$1" exec "$2"'
    p, _ = run(["sh", "-c", script, "sh", lib, api], {}, None)
    lines = p.stderr.splitlines()
    if (len(lines) != 1 or not lines[0].startswith("memtop: cannot create shared memory segment")
            or not lines[0].endswith("; running untraced")):
        errors.append("creation failure: stderr %r" % p.stderr)
    if p.stdout != "expect-begin\nmemtop present but tracing is off\n" or p.returncode:
        errors.append("creation failure: output %r exit %d" % (p.stdout, p.returncode))
    for n in os.listdir("/dev/shm"):
        path = os.path.join("/dev/shm", n)
        if n.startswith("memtop.") and os.path.isdir(path):
            os.rmdir(path)

    p, secs = run([allocs], {"MEMTOP_WAIT": "2"}, lib)
    want = "memtop: no monitor attached within the MEMTOP_WAIT timeout; continuing\n"
    if p.stderr != want or not 1.9 <= secs < 10 or p.stdout != bare.stdout:
        errors.append("MEMTOP_WAIT=2 without a monitor: %.1f s, stderr %r" % (secs, p.stderr))

    for e in errors:
        print("FAIL: " + e)
    if not errors:
        print("ok: %d bad values, disable, creation failure, wait timeout" % len(bad))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
