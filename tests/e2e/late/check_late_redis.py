#!/usr/bin/env python3
"""real (TAP): redis-server (the Debian package: jemalloc behind malloc) started with libmemtop.so in
exact mode (MEMTOP_LIVE=exact) on a free loopback port with no persistence, loaded by
redis-benchmark with no monitor. Then:
- a late snapshot taken while a second redis-benchmark runs: no unknown free, no duplicate, nothing
  lost (the handover under load); the benchmarks see no error;
- a late snapshot of the idle server: its live blocks are exactly the preload's own count
  (target_allocs - target_frees: every block the process holds is in the table), and the heap
  agrees with redis's own allocator accounting (INFO used_memory, the usable size of every block
  redis's zmalloc holds): used_memory <= target_usable_in_use <= used_memory + 2 MiB. The
  difference is what the libraries redis links allocate outside zmalloc (libc's stdio and
  resolver buffers, the dynamic loader's TLS blocks): blocks we see and redis does not count.
Skipped (exit 77) when redis-server or redis-benchmark is not installed.
usage: check_late_redis.py MEMTOP LIBMEMTOP"""
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "monitor"))
from snapshot_parse import Snapshot  # noqa: E402

results = []


def check(name, ok, detail=""):
    results.append((ok, name, detail))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cli(port, *args):
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)] + list(args),
                          capture_output=True, text=True, timeout=30).stdout


def bench(port, tests, n):
    r = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(n),
                        "-r", "20000", "-d", "100", "-q", "-t", tests], capture_output=True,
                       text=True, timeout=300)
    bad = r.returncode != 0 or "ERR" in r.stdout + r.stderr or "rror" in r.stderr
    return not bad, (r.stdout + r.stderr)[-300:]


def snapshot(memtop, pid):
    r = subprocess.run([memtop, "snapshot", str(pid)], capture_output=True, text=True, timeout=120)
    return (Snapshot(r.stdout) if r.returncode == 0 else None), r.stderr


def main():
    memtop, lib = sys.argv[1:3]
    if not (shutil.which("redis-server") and shutil.which("redis-benchmark")
            and shutil.which("redis-cli")):
        print("1..0 # SKIP redis-server, redis-benchmark or redis-cli not installed")
        return 77
    port = free_port()
    env = dict(os.environ, LD_PRELOAD=lib, MEMTOP_LIVE="exact", MALLOC_PERTURB_="0")
    srv = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save",
                            "", "--appendonly", "no", "--daemonize", "no"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if cli(port, "ping").strip() == "PONG":
                break
            time.sleep(0.05)
        check("redis-server answers on 127.0.0.1:%d" % port, cli(port, "ping").strip() == "PONG")
        ok, out = bench(port, "set,lpush,sadd,hset", 50000)
        check("redis-benchmark (no monitor) sees no error", ok, out)
        load = subprocess.Popen(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n",
                                 "200000", "-r", "20000", "-d", "100", "-q", "-t", "set,get"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        snap, err = snapshot(memtop, srv.pid)
        check("late snapshot under redis-benchmark taken", snap is not None, err)
        if snap:
            for key in ("unknown_frees", "duplicate_allocs", "lost_events"):
                check("under load: %s 0" % key, snap.h(key) == 0, snap.header[key])
        lout, lerr = load.communicate(timeout=300)
        check("redis-benchmark under the snapshot sees no error",
              load.returncode == 0 and "ERR" not in lout + lerr, (lout + lerr)[-300:])
        used = int([l.split(":")[1] for l in cli(port, "info", "memory").splitlines()
                    if l.startswith("used_memory:")][0])
        snap, err = snapshot(memtop, srv.pid)
        check("late snapshot of the idle server taken", snap is not None, err)
        if snap:
            held = snap.h("target_allocs") - snap.h("target_frees")
            check("idle: live blocks %d == the preload's own count %d" % (snap.h("live_blocks"),
                                                                          held),
                  snap.h("live_blocks") == held)
            inuse = snap.h("target_usable_in_use")
            check("idle: redis used_memory %d <= heap in use %d <= used_memory + 2 MiB"
                  % (used, inuse), used <= inuse <= used + (2 << 20))
            check("idle: unknown_frees 0", snap.h("unknown_frees") == 0, snap.header["unknown_frees"])
    finally:
        try:
            cli(port, "shutdown", "nosave")
        except subprocess.TimeoutExpired:
            pass
        try:
            srv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
    print("1..%d" % len(results))
    for i, (ok, name, detail) in enumerate(results, 1):
        print("%s %d - %s%s" % ("ok" if ok else "not ok", i, name,
                                "" if ok or not detail else " # " + detail.replace("\n", " | ")))
    return 0 if all(r[0] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
