#!/usr/bin/env python3
"""real: heavy real work traced from start to exit: gcc's cc1 at -O2 on a large generated source,
and python3 with PYTHONMALLOC=malloc on an allocation-heavy script. Checks: no lost events, every
allocation the target counted arrived as an event (allocs == target_allocs), and memtop's own
memory is bounded by the live set (its peak), never by the number of events.
usage: check_heavy.py MEMTOP [FUNCTIONS]   (prints TAP)"""
import os
import random
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from snapshot_parse import Snapshot  # noqa: E402

PY = """
import collections
d = {}
for i in range(300000):
    d[("k%d" % i, i)] = [i, str(i), {"x": i}]
c = collections.Counter(len(v[1]) for v in d.values())
l = sorted(d.keys())[:10]
del d
print(sorted(c.items()), l[0])
"""


def gen_source(path, n):
    random.seed(1)
    out = ["struct s { int a, b; double c; struct s *next; };"]
    for i in range(n):
        body = ["  for (int k%d = 0; k%d < n; k%d++) { acc += (x[k%d] * %d) ^ (acc >> %d); "
                "if (acc & %d) acc -= p->a * k%d; else acc += p->b; }"
                % (j, j, j, j, random.randint(1, 99), j % 7 + 1, 1 << (j % 10), j)
                for j in range(12)]
        body.append("  switch (n & 7) { " + " ".join(
            "case %d: acc += %d; break;" % (c, random.randint(1, 1000)) for c in range(8)) + " }")
        out.append("long f%d(const long *x, int n, struct s *p) {\n  long acc = %d;\n%s\n"
                   "  return acc + (p->next ? f%d(x, n - 1, p->next) : 0);\n}"
                   % (i, i, "\n".join(body), max(i - 1, 0)))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def elf_machine(path):
    """e_machine of an ELF file (62 x86-64, 183 aarch64), or None. A cross build's programs and
    preload run under an emulator; a host program cannot load that preload (nor valgrind run them)."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    return struct.unpack_from("<H", head, 18)[0] if head[:4] == b"\x7fELF" else None


def run(memtop, cmd, env, tmp):
    path = os.path.join(tmp, "snap.txt")
    r = subprocess.run([memtop, "report", "-o", path, "--"] + cmd, env=env, capture_output=True,
                       text=True, timeout=1200)
    if r.returncode != 0:
        raise RuntimeError("%s: status %d: %s" % (cmd[0], r.returncode, r.stderr[-400:]))
    return Snapshot(open(path).read())


def main():
    memtop = sys.argv[1]
    nfunc = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    n = 0
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "gen.c")
        gen_source(src, nfunc)
        cc1 = subprocess.run(["gcc", "-print-prog-name=cc1"], capture_output=True,
                             text=True).stdout.strip()
        if elf_machine(cc1) != elf_machine(memtop):
            print("1..0 # SKIP cc1 and python3 here are built for another architecture than "
                  "memtop and its preload (a cross build under an emulator)")
            return 0
        cases = [("cc1 -O2 on %d generated functions" % nfunc,
                  [cc1, "-quiet", "-O2", src, "-o", os.devnull], dict(os.environ)),
                 ("python3 PYTHONMALLOC=malloc, allocation-heavy",
                  ["/usr/bin/python3", "-c", PY], dict(os.environ, PYTHONMALLOC="malloc"))]
        for name, cmd, env in cases:
            s = run(memtop, cmd, env, tmp)
            peak = s.h("peak_blocks")
            events = s.h("events")
            model = s.h("model_bytes")
            rss = s.h("monitor_bytes")
            checks = [
                ("no lost events", s.h("lost_events") == 0),
                ("allocs == target_allocs (%d)" % s.h("allocs"), s.h("allocs") == s.h("target_allocs")),
                # the model holds at most ~100 bytes per block at its peak (slabs, table, sites)
                ("model %d bytes <= 100 x peak %d blocks + 4 MiB" % (model, peak),
                 model <= 100 * peak + (4 << 20)),
                # the process: the model, symbol tables (bounded by the binaries' size), retired
                # blocks waiting for a grace period, fixed costs. Anything kept per event (even
                # 8 bytes) would exceed this by far: cc1 sends ~60 M events.
                ("memtop RSS %d bytes for %d events <= 1.5 x model + 96 MiB" % (rss, events),
                 rss <= model * 1.5 + (96 << 20)),
            ]
            for what, good in checks:
                n += 1
                print("%s %d - %s: %s" % ("ok" if good else "not ok", n, name, what))
                failed += not good
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
