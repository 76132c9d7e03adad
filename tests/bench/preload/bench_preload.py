#!/usr/bin/env python3
"""Preload benchmark: an allocation storm (storm THREADS CALLS) bare, under memtop with a consumer
draining (mtdump) at MEMTOP_DEPTH=0, at the default depth with libunwind, and with the frame-pointer
unwinder, and under heaptrack; modes alternate round by round in one run. Reports, per mode, the
median wall time of the storm phase (measured inside the target), the slowdown over bare, the ns
added per allocation call (wall), and the CPU added per call (target + consumer, from rusage).
"count-only" uses a consumer that pops and counts without a live set: the producer's own cost.
"no monitor live=MODE": the preload with no consumer, keeping its live table in MODE (off, sampled,
exact): the cost a process pays while nobody watches it.
Then the CPU added per call with 1 and 2 threads (alternating), to show it does not grow with
threads: the target's own CPU and the total with its consumer.

usage: bench_preload.py --mtdump PATH --preload LIB --storm PATH [--calls N] [--rounds R]
         [--memtop PATH [--memtop-alt PATH]] [--modes NAME,NAME...] [--skip-real] [--skip-threads]
         [--only-threads]
--memtop-alt adds "memtop-alt report" rows run by a second memtop build (same preload), alternating
with the others in the same rounds: a before/after comparison under the same machine load.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile


def storm_field(stderr, key):
    """A number from the storm's summary line, in seconds (wall_ns: its wall time; cpu_ns: the
    storm process's own CPU, the target without its consumer)."""
    for line in stderr.splitlines():
        if line.startswith("storm "):
            f = line.split()
            return float(f[f.index(key) + 1]) / 1e9
    raise RuntimeError("no storm line in: " + stderr[-500:])


def run_once(cmd, env, target_cpu=False):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (cmd[0], p.returncode, p.stderr[-500:]))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if target_cpu:
        return (storm_field(p.stderr, "wall_ns"), cpu, storm_field(p.stderr, "cpu_ns"),
                after.ru_nivcsw - before.ru_nivcsw)
    return storm_field(p.stderr, "wall_ns"), cpu


def modes(a, tmp):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env["MALLOC_PERTURB_"] = "0"
    mt = [a.mtdump, "-p", a.preload, "-o", os.path.join(tmp, "dump.txt"), "--"]
    counting = [a.mtdump, "-p", a.preload, "--count-only", "-o", os.path.join(tmp, "dump.txt"),
                "--"]
    m = [("bare", [], env),
         ("memtop depth=0 count-only", counting, dict(env, MEMTOP_DEPTH="0")),
         ("memtop depth=0", mt, dict(env, MEMTOP_DEPTH="0")),
         ("memtop depth=16 libunwind", mt, dict(env, MEMTOP_UNWIND="libunwind")),
         ("memtop depth=16 fp", mt, dict(env, MEMTOP_UNWIND="fp"))]
    # no monitor attached: the preload counts and keeps its live table (MEMTOP_LIVE), issue 13
    solo = dict(env, LD_PRELOAD=a.preload)
    m.append(("no monitor live=off", [], dict(solo, MEMTOP_LIVE="off")))
    m.append(("no monitor live=sampled", [], dict(solo, MEMTOP_LIVE="sampled")))
    m.append(("no monitor live=exact", [], dict(solo, MEMTOP_LIVE="exact")))
    m.append(("no monitor live=exact depth=0", [], dict(solo, MEMTOP_LIVE="exact",
                                                         MEMTOP_DEPTH="0")))
    m.append(("memtop depth=16 live=exact", mt, dict(env, MEMTOP_LIVE="exact")))
    m.append(("memtop depth=16 live=off", mt, dict(env, MEMTOP_LIVE="off")))
    if a.memtop:
        # the real monitor: memtop report keeps the live set, call sites and threads, symbolizes
        rep = [a.memtop, "report", "--preload", a.preload, "--"]
        m.append(("memtop report depth=0", rep, dict(env, MEMTOP_DEPTH="0")))
        m.append(("memtop report depth=16", rep, env))
    if a.memtop_alt:
        alt = [a.memtop_alt, "report", "--preload", a.preload, "--"]
        m.append(("memtop-alt report depth=0", alt, dict(env, MEMTOP_DEPTH="0")))
        m.append(("memtop-alt report depth=16", alt, env))
    if shutil.which("heaptrack") and not a.no_heaptrack:
        m.append(("heaptrack", ["heaptrack", "-o", os.path.join(tmp, "ht")], env))
    return m


def bench(a, threads, calls, rounds, tmp, only=None):
    ms = [x for x in modes(a, tmp) if only is None or x[0] in only]
    if a.modes:
        keep = set(a.modes.split(",")) | {"bare"}
        ms = [x for x in ms if x[0] in keep]
    res = {name: [] for name, _, _ in ms}
    for _ in range(rounds):
        for name, prefix, env in ms:
            res[name].append(run_once(prefix + [a.storm, str(threads), str(calls), "-v"], env))
            for f in os.listdir(tmp):
                if f.startswith("ht"):
                    os.unlink(os.path.join(tmp, f))
    total = threads * calls
    bare_wall = statistics.median(w for w, _ in res["bare"])
    bare_cpu = statistics.median(c for _, c in res["bare"])
    out = {}
    for name, _, _ in ms:
        wall = statistics.median(w for w, _ in res[name])
        cpu = statistics.median(c for _, c in res[name])
        out[name] = {"wall": wall, "slowdown": wall / bare_wall,
                     "ns_wall": (wall - bare_wall) / total * 1e9,
                     "ns_cpu": (cpu - bare_cpu) / total * 1e9}
    return out


def real_programs(a, tmp):
    """Wall time of real programs bare, under memtop (consumer attached) and under heaptrack."""
    import time
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "real"))
    import run_real
    run_real.setup_sortfile(tmp)
    run_real.setup_cfile(tmp)
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    progs = {
        "python3": (["/usr/bin/python3", "-c",
                     "import json\nd={str(i): [i]*(i%7) for i in range(200000)}\n"
                     "print(len(json.dumps(d)))"], dict(env, PYTHONMALLOC="malloc")),
        "sort": (["sort", os.path.join(tmp, "input.txt")], env),
        "gcc": (["gcc", "-O2", "-c", "-o", os.path.join(tmp, "p.o"),
                 os.path.join(tmp, "prog.c")], env),
        "perl": (["perl", "-e", "my %h; $h{$_} = 'v' x ($_ % 50) for 1..300000; print 1"], env),
    }
    wrappers = {"bare": [],
                "memtop": [a.mtdump, "-p", a.preload, "-o", os.path.join(tmp, "d.txt"), "--"],
                "memtop-c": [a.mtdump, "-p", a.preload, "--count-only", "-o",
                             os.path.join(tmp, "d.txt"), "--"],
                "heaptrack": ["heaptrack", "-o", os.path.join(tmp, "ht")]}
    if a.memtop:
        wrappers["memtop-report"] = [a.memtop, "report", "--preload", a.preload, "--"]
    print("\nreal programs: wall seconds, median of %d, alternating; memtop = default depth with"
          " mtdump keeping a live set, memtop-c = with a count-only consumer" % a.rounds)
    print("memtop-report = the real monitor (memtop report), default depth")
    print("%-10s" % "program" + "".join(" %13s" % w for w in wrappers))
    for name, (cmd, penv) in progs.items():
        times = {w: [] for w in wrappers}
        for _ in range(a.rounds):
            for w, prefix in wrappers.items():
                t = time.monotonic()
                subprocess.run(prefix + cmd, env=penv, capture_output=True, timeout=900)
                times[w].append(time.monotonic() - t)
                for f in os.listdir(tmp):
                    if f.startswith("ht"):
                        os.unlink(os.path.join(tmp, f))
        print("%-10s" % name + "".join(" %13.3f" % statistics.median(times[w]) for w in wrappers))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtdump", required=True)
    ap.add_argument("--preload", required=True)
    ap.add_argument("--storm", required=True)
    ap.add_argument("--memtop", help="the memtop executable: adds memtop report columns")
    ap.add_argument("--memtop-alt", help="a second memtop executable (e.g. the build before a "
                    "change): adds memtop-alt report rows, alternating with the others")
    ap.add_argument("--modes", help="comma-separated mode names to run (bare is always run)")
    ap.add_argument("--skip-real", action="store_true", help="no real-program table")
    ap.add_argument("--skip-threads", action="store_true", help="no per-thread-count table")
    ap.add_argument("--only-threads", action="store_true", help="of the storm tables, only the "
                    "per-thread-count one")
    ap.add_argument("--calls", type=int, default=2500000, help="calls per thread")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-heaptrack", action="store_true")
    ap.add_argument("--skip-storm", action="store_true")
    a = ap.parse_args()
    for k in ("mtdump", "preload", "storm", "memtop", "memtop_alt"):
        if getattr(a, k):
            setattr(a, k, os.path.abspath(getattr(a, k)))
    tmp = tempfile.mkdtemp(prefix="memtop-bench-")
    try:
        if not a.skip_storm:
            storm_tables(a, tmp)
        if shutil.which("heaptrack") and not a.no_heaptrack and not a.skip_real:
            real_programs(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def storm_tables(a, tmp):
    if not a.only_threads:
        print("storm: 2 threads x %d calls (malloc/free, 16..1040 bytes), %d rounds, median"
              % (a.calls, a.rounds))
        r = bench(a, 2, a.calls, a.rounds, tmp)
        print("%-28s %9s %9s %14s %14s" % ("mode", "wall s", "slowdown", "ns/call wall",
                                            "ns/call cpu"))
        for name, v in r.items():
            print("%-28s %9.3f %8.2fx %14.1f %14.1f" % (name, v["wall"], v["slowdown"],
                                                         v["ns_wall"], v["ns_cpu"]))
        if "heaptrack" in r:
            ht = r["heaptrack"]["slowdown"] - 1
            for name in ("memtop depth=16 libunwind", "memtop depth=16 fp",
                         "memtop report depth=16", "memtop-alt report depth=16"):
                if name not in r:
                    continue
                print("%s: added time is %.0f%% of heaptrack's" %
                      (name, (r[name]["slowdown"] - 1) / ht * 100))
    if not a.skip_threads:
        threads_table(a, tmp)


def threads_table(a, tmp):
    """CPU added per call with 1 and 2 threads, the thread counts alternating inside each round
    (so machine noise hits both alike). "target" is the storm process's own CPU, "total" adds
    its consumer's."""
    only = {"bare", "memtop depth=0 count-only", "memtop depth=0", "memtop depth=16 libunwind",
            "memtop report depth=16", "heaptrack"}
    ms = [x for x in modes(a, tmp) if x[0] in only]
    # one lane: every thread takes its tickets from one counter (the ring before lanes)
    depth0 = [x for x in ms if x[0] == "memtop depth=0"]
    if depth0:
        ms.insert(ms.index(depth0[0]) + 1, ("memtop depth=0 one lane", depth0[0][1],
                                            dict(depth0[0][2], MEMTOP_LANES="1")))
    res = {(name, t): [] for name, _, _ in ms for t in (1, 2)}
    for _ in range(a.rounds):
        for t in (1, 2):
            for name, prefix, env in ms:
                res[(name, t)].append(run_once(prefix + [a.storm, str(t), str(a.calls), "-v"],
                                               env, target_cpu=True))
    print("\nper-call CPU against threads (%d calls per thread, %d rounds alternating, median):"
          % (a.calls, a.rounds))
    print("%-28s %22s %22s %8s %18s" % ("mode", "target ns/call 1 / 2", "total ns/call 1 / 2",
                                        "target 2/1", "preempted 1 / 2"))
    for name, _, _ in ms:
        if name == "bare":
            continue
        row = {}
        for t in (1, 2):
            calls = t * a.calls
            tgt = statistics.median(x[2] for x in res[(name, t)])
            tot = statistics.median(x[1] for x in res[(name, t)])
            btgt = statistics.median(x[2] for x in res[("bare", t)])
            btot = statistics.median(x[1] for x in res[("bare", t)])
            sw = statistics.median(x[3] for x in res[(name, t)])
            row[t] = ((tgt - btgt) / calls * 1e9, (tot - btot) / calls * 1e9, sw)
        print("%-28s %10.1f / %9.1f %10.1f / %9.1f %7.2fx %8d / %7d" % (
            name, row[1][0], row[2][0], row[1][1], row[2][1], row[2][0] / row[1][0],
            row[1][2], row[2][2]))
    print("preempted: involuntary context switches of the target and its consumer (median); on a "
          "machine with fewer cores than storm threads + consumer they share cores, and each "
          "switch costs the preempted thread its caches")


if __name__ == "__main__":
    sys.exit(main())
