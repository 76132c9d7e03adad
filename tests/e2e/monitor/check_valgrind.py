#!/usr/bin/env python3
"""e2e: memtop's live bytes and blocks at exit equal valgrind memcheck's "in use at exit" (run with
--run-libc-freeres=no --run-cxx-freeres=no, same environment) for deterministic programs: ours and
real ones (sqlite3, python3 on a fixed script, with and without PYTHONMALLOC=malloc).

The one known, explained difference: the loader allocates each thread's TLS vector (dtv) with
calloc; its size grows by 16 bytes for every TLS module, and the preload brings TLS modules of its
own (libmemtop.so, libunwind.so). So for threaded programs, memtop's bytes exceed valgrind's by
exactly 16 * (extra TLS modules) * (dtv blocks live at exit); the block counts are equal. The dtv
blocks are counted from memtop's own snapshot (sites whose stack holds allocate_dtv).
A C++ program (CXX_EXE, optional) checks the start: libstdc++ allocates its emergency pool in its
own constructor, before the preload's; memtop must see it as valgrind does.
usage: check_valgrind.py MEMTOP LIBMEMTOP LEAKS_EXE THREADS_EXE [CXX_EXE]   (prints TAP)"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from snapshot_parse import Snapshot  # noqa: E402

SQL = """create table t(a, b);
with recursive c(x) as (select 1 union all select x + 1 from c where x < 3000)
insert into t select x, hex(randomblob(20)) from c;
create index ti on t(b);
select count(*), sum(length(b)) from t;
"""
PY = """import json
d = [json.dumps({"k": i, "v": [i] * 5}) for i in range(3000)]
s = sorted(set(x[:12] for x in d))
print(len(d), len(s))
"""


def tls_modules(path):
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True).stdout
    return " TLS " in out


def libs_of(path):
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    return {os.path.realpath(m.group(1)) for m in re.finditer(r"=> (/\S+)", out)}


def extra_tls_modules(libmemtop, target):
    """TLS modules the preload adds to the target's process."""
    mine = {os.path.realpath(libmemtop)} | libs_of(libmemtop)
    theirs = libs_of(target)
    return sum(1 for lib in mine - theirs if tls_modules(lib))


def valgrind_in_use(cmd, env, stdin):
    r = subprocess.run(["valgrind", "--run-libc-freeres=no", "--run-cxx-freeres=no",
                        "--leak-check=no"] + cmd, env=env, input=stdin, capture_output=True,
                       text=True, timeout=600)
    m = re.search(r"in use at exit: ([\d,]+) bytes in ([\d,]+) blocks", r.stderr)
    if not m:
        raise RuntimeError("no 'in use at exit' line from valgrind: %s" % r.stderr[-500:])
    return int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))


def elf_machine(path):
    """e_machine of an ELF file (62 x86-64, 183 aarch64), or None. A cross build's programs and
    preload run under an emulator; a host program cannot load that preload (nor valgrind run them)."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    return struct.unpack_from("<H", head, 18)[0] if head[:4] == b"\x7fELF" else None


def memtop_live(memtop, cmd, env, stdin, tmp):
    path = os.path.join(tmp, "snap.txt")
    r = subprocess.run([memtop, "report", "-o", path, "--"] + cmd, env=env, input=stdin,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("memtop report failed (%d): %s" % (r.returncode, r.stderr))
    return Snapshot(open(path).read())


def main():
    memtop, libmemtop, leaks, threads = sys.argv[1:5]
    if elf_machine(leaks) != elf_machine(os.path.realpath(sys.executable)):
        print("1..0 # SKIP valgrind runs this machine's architecture only; the targets are built "
              "for another (a cross build under an emulator)")
        return 0
    base = dict(os.environ)
    base["MEMTOP_WAIT"] = "1"  # the variable memtop gives its target; same environment both runs
    base.pop("LD_PRELOAD", None)
    cases = [("leaks.c", [leaks], {}, None, False),
             ("threads.c (TLS vector difference explained)", [threads], {}, None, True)]
    if len(sys.argv) > 5:
        cases.append(("cxx.cpp (allocations before the preload's constructor)", [sys.argv[5]], {},
                      None, False))
    if shutil.which("sqlite3"):
        cases.append(("sqlite3 fixed script", [shutil.which("sqlite3"), ":memory:"], {}, SQL, False))
    if os.path.exists("/usr/bin/python3"):
        cases.append(("python3 fixed script", ["/usr/bin/python3", "-c", PY], {}, None, False))
        cases.append(("python3 PYTHONMALLOC=malloc", ["/usr/bin/python3", "-c", PY],
                      {"PYTHONMALLOC": "malloc"}, None, False))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n, (name, cmd, extra_env, stdin, threaded) in enumerate(cases, 1):
            env = dict(base, **extra_env)
            vb, vn = valgrind_in_use(cmd, env, stdin)
            snap = memtop_live(memtop, cmd, env, stdin, tmp)
            mb, mn = snap.h("live_bytes"), snap.h("live_blocks")
            expect_extra = 0
            note = ""
            if threaded:
                dtv = sum(s["blocks"] for s in snap.sites
                          if any(f["func"] == "allocate_dtv" for f in s["frames"]))
                mods = extra_tls_modules(libmemtop, cmd[0])
                expect_extra = 16 * mods * dtv
                note = " (dtv blocks %d x %d extra TLS modules x 16 = %d)" % (dtv, mods, expect_extra)
            good = mn == vn and mb - vb == expect_extra and snap.h("lost_events") == 0
            print("%s %d - %s: memtop %d bytes in %d blocks, valgrind %d bytes in %d blocks%s" %
                  ("ok" if good else "not ok", n, name, mb, mn, vb, vn, note))
            failed += not good
    print("1..%d" % len(cases))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
