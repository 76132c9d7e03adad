#!/usr/bin/env python3
"""Real programs under the preload: run a command bare, preloaded without a consumer, and preloaded
with the test consumer attached (mtdump); stdout and the exit status must be byte-identical to the
bare run, nothing may hang, and no segment may be left behind in /dev/shm by a process that is gone.

usage: run_real.py --mtdump PATH --preload LIB [--setup NAME] [--env K=V]... -- CMD [ARGS...]
  "{tmp}" in CMD is replaced by a scratch directory prepared by --setup (sortfile, cfile, gitrepo).
"""
import argparse
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

TIMEOUT = 240


def setup_sortfile(tmp):
    rnd = random.Random(42)
    with open(os.path.join(tmp, "input.txt"), "w") as f:
        for _ in range(200000):
            f.write("%08x %s\n" % (rnd.getrandbits(32), "x" * rnd.randint(0, 40)))


def setup_cfile(tmp):
    lines = ["#include <stdio.h>", "#include <stdlib.h>", "struct s { int a; double b; };"]
    for i in range(300):
        lines.append("int f%d(int x) { struct s v = {x, %d.5}; return (int)(v.a * v.b) + %d; }"
                     % (i, i, i))
    lines.append("int main(void) { int t = 0;")
    lines += ["  t += f%d(%d);" % (i, i) for i in range(300)]
    lines.append("  printf(\"%d\\n\", t); return 0; }")
    with open(os.path.join(tmp, "prog.c"), "w") as f:
        f.write("\n".join(lines) + "\n")


def setup_gitrepo(tmp):
    env = dict(os.environ, GIT_AUTHOR_DATE="2020-01-01T00:00:00Z",
               GIT_COMMITTER_DATE="2020-01-01T00:00:00Z")
    repo = os.path.join(tmp, "repo")
    os.mkdir(repo)
    git = ["git", "-C", repo, "-c", "user.name=memtop", "-c", "user.email=memtop@example.org"]
    subprocess.run(git + ["init", "-q"], check=True, env=env)
    for i in range(30):
        with open(os.path.join(repo, "file%02d.txt" % (i % 7)), "a") as f:
            f.write("line %d\n" % i * (i + 1))
        subprocess.run(git + ["add", "-A"], check=True, env=env)
        subprocess.run(git + ["commit", "-q", "-m", "commit %d" % i], check=True, env=env)


SETUPS = {"sortfile": setup_sortfile, "cfile": setup_cfile, "gitrepo": setup_gitrepo}


def segments():
    return {n for n in os.listdir("/dev/shm") if n.startswith("memtop.")}


def segment_exe(name):
    """exe path from a segment header (offset 56, 256 bytes; see include/memtop/segment.h)."""
    try:
        with open(os.path.join("/dev/shm", name), "rb") as f:
            head = f.read(56 + 256)
        return head[56:].split(b"\0")[0].decode(errors="replace")
    except OSError:
        return "?"


def dead_segments(before, grace=2.0):
    """Segments made since `before` whose process is gone and that are still there after `grace`
    seconds: a test running in parallel may have a target that just exited, its segment about to
    be removed by its monitor (this test once failed unlinking one that went in between)."""
    left = [s for s in segments() - before if not pid_alive(int(s.split(".")[1]))]
    deadline = time.monotonic() + grace
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [s for s in left if os.path.exists(os.path.join("/dev/shm", s))]
    return left


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def elf_machine(path):
    """e_machine of an ELF file (62 x86-64, 183 aarch64), or None. A cross build's programs and
    preload run under an emulator; a host program cannot load that preload (nor valgrind run them)."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    return struct.unpack_from("<H", head, 18)[0] if head[:4] == b"\x7fELF" else None


def run(cmd, env, cwd):
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, timeout=TIMEOUT)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return "timeout", b"", b""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtdump", required=True)
    ap.add_argument("--preload", required=True)
    ap.add_argument("--setup", choices=sorted(SETUPS))
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="memtop-real-")
    try:
        if a.setup:
            SETUPS[a.setup](tmp)
        # meson passes built files relative to the build directory; the runs happen in tmp
        cmd = [os.path.abspath(x) if os.path.exists(x) else x.replace("{tmp}", tmp)
               for x in (a.cmd[1:] if a.cmd[0] == "--" else a.cmd)]
        a.mtdump = os.path.abspath(a.mtdump)
        prog = shutil.which(cmd[0]) or cmd[0]
        prog_machine = elf_machine(os.path.realpath(prog))  # None: a script, judged by its run
        if prog_machine is not None and prog_machine != elf_machine(a.preload):
            print("SKIP: %s is built for another architecture than %s: it cannot load it "
                  "(a cross build traces its own architecture's programs)" % (prog, a.preload))
            return 77
        base = dict(os.environ)
        base.pop("LD_PRELOAD", None)
        base.pop("MEMTOP_WAIT", None)
        for kv in a.env:
            k, v = kv.split("=", 1)
            base[k] = v
        if elf_machine(os.path.realpath(sys.executable)) != elf_machine(a.preload):
            # under an emulator the consumer falls behind many producer threads for longer than the
            # default 1 s wait, and dropped events would make the live set approximate
            base.setdefault("MEMTOP_BLOCK_MS", "60000")
        before = segments()
        errors = []
        bare = run(cmd, base, tmp)
        if bare[0] == "timeout":
            print("FAIL: the bare run timed out")
            return 1
        pre_env = dict(base, LD_PRELOAD=os.path.abspath(a.preload))
        variants = [("preloaded, no consumer", cmd, pre_env),
                    ("preloaded, consumer attached",
                     [a.mtdump, "-p", os.path.abspath(a.preload), "-o",
                      os.path.join(tmp, "dump.txt"), "--"] + cmd, base)]
        for label, c, env in variants:
            code, out, err = run(c, env, tmp)
            if code == "timeout":
                errors.append("%s: hung (no exit within %d s)" % (label, TIMEOUT))
                continue
            if code != bare[0]:
                errors.append("%s: exit status %s, bare %s" % (label, code, bare[0]))
            if out != bare[1]:
                errors.append("%s: stdout differs from the bare run (%d vs %d bytes); stderr: %s"
                              % (label, len(out), len(bare[1]), err.decode(errors="replace")[-2000:]))
            if b"memtop:" in err:
                errors.append("%s: the preload complained: %s" % (label, err.decode(errors="replace")))
        dump = open(os.path.join(tmp, "dump.txt")).read() if os.path.exists(
            os.path.join(tmp, "dump.txt")) else ""
        for line in dump.splitlines():
            f = line.split()
            if f and f[0] == "anomalies":
                an = {f[i]: int(f[i + 1]) for i in range(1, len(f) - 1, 2)}
                if an["bad"] or an["dup_allocs"] or an["bus"]:
                    errors.append("consumer saw anomalies: " + line)
        left = dead_segments(before)
        if left:
            # name the program that made each one (tests running in parallel make segments too)
            errors.append("segments left behind by dead processes: %s" %
                          ["%s (%s)" % (s, segment_exe(s)) for s in left])
            for s in left:
                try:
                    os.unlink(os.path.join("/dev/shm", s))
                except FileNotFoundError:
                    pass
        for e in errors:
            print("FAIL: " + e)
        if errors:
            return 1
        print("ok: %s (exit %s, %d bytes of output)" % (" ".join(cmd), bare[0], len(bare[1])))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
