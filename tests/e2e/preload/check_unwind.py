#!/usr/bin/env python3
"""The cached CFI unwinder against libunwind on a real program: run it under mtdump (a consumer, so
every allocation captures a stack) with MEMTOP_UNWIND=check, where the preload records libunwind's
stack for each allocation and compares the CFI walk's with it. Every process of the run prints one
'memtop: unwind check: N stacks compared, D differ, F deferred to libunwind' line at exit; the test
requires D = 0 in each, at least --min-compared stacks compared in all, and the program's own exit status (--exit, 0 by default).

usage: check_unwind.py --mtdump PATH [--env K=V]... [--min-compared N] [--exit N] -- PROG [ARGS...]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

LINE = re.compile(r"memtop: unwind check: (\d+) stacks compared, (\d+) differ, (\d+) deferred")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtdump", required=True)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--min-compared", type=int, default=1)
    ap.add_argument("--exit", type=int, default=0)
    ap.add_argument("--arch", default="x86_64",
                    help="the CPU family the preload is built for (meson's host_machine)")
    ap.add_argument("--skip-on", action="append", default=[], metavar="ARCH=REASON",
                    help="skip (with the reason) when the preload is built for ARCH")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    for skip in a.skip_on:
        arch, why = skip.split("=", 1)
        if arch == a.arch:
            print("1..0 # SKIP on %s: %s" % (arch, why))
            return 77
    if a.arch not in ("x86_64", "aarch64"):
        # preload/cfi_arch.c has the machine parts of x86_64 and aarch64 only: elsewhere every
        # walk defers to libunwind, and there is nothing to compare
        print("1..0 # SKIP the cached CFI unwinder has rules for x86_64 and aarch64 only; on %s "
              "MEMTOP_UNWIND=cfi defers every stack to libunwind" % a.arch)
        return 77
    env = dict(os.environ, MEMTOP_UNWIND="check", MEMTOP_DEPTH="64")
    for kv in a.env:
        k, v = kv.split("=", 1)
        env[k] = v
    with tempfile.NamedTemporaryFile(prefix="memtop-unwind-") as tmp:
        run = subprocess.run([a.mtdump, "-o", tmp.name, "--"] + cmd, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             timeout=600)
    err = run.stderr
    lines = LINE.findall(err)
    problems = []
    if run.returncode != a.exit:
        problems.append("exit status %d (expected %d)" % (run.returncode, a.exit))
    if not lines:
        problems.append("no 'unwind check' line: the check mode did not run")
    compared = sum(int(n) for n, _, _ in lines)
    differ = sum(int(d) for _, d, _ in lines)
    deferred = sum(int(f) for _, _, f in lines)
    if differ:
        problems.append("%d stacks differ from libunwind's" % differ)
    if compared < a.min_compared:
        problems.append("only %d stacks compared (at least %d expected)"
                        % (compared, a.min_compared))
    print("%d processes, %d stacks compared, %d differ, %d deferred to libunwind"
          % (len(lines), compared, differ, deferred))
    if problems:
        print("FAIL: " + "; ".join(problems))
        print("stderr:\n" + "\n".join(err.splitlines()[-40:]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
