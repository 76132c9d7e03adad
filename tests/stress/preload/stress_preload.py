#!/usr/bin/env python3
"""Stress tests of the preload with real processes (suite 'stress').

  churn   thousands of short-lived threads: slots released and reused, totals exact
  stall   the consumer stops reading but stays alive: the ring fills, producers wait at most
          MEMTOP_BLOCK_MS once, then drop and count; the target is never held up longer
  slow    a slow consumer: drops are counted and every event is either seen or counted as dropped
  killed  the consumer is SIGKILLed mid-run: the target continues at full speed, exits normally,
          and its segment is removed

usage: stress_preload.py --mtdump PATH --preload LIB --storm PATH --churn PATH CASE
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time


def parse_dump(path):
    d = {}
    for line in open(path).read().splitlines():
        f = line.split()
        if f and f[0] in ("counters", "events", "anomalies", "live"):
            d[f[0]] = {f[i]: int(f[i + 1]) for i in range(1, len(f) - 1, 2)}
        elif f and f[0] == "thread":
            d.setdefault("generations", 0)
            d["generations"] += int(f[3])
    return d


def timed(cmd, env):
    t = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    return p, time.monotonic() - t


def base_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env["MALLOC_PERTURB_"] = "0"
    return env


def case_churn(a, errors):
    with tempfile.NamedTemporaryFile(suffix=".dump") as tmp:
        p, secs = timed([a.mtdump, "-o", tmp.name, "--", a.churn, "5000"], base_env())
        d = parse_dump(tmp.name)
    if p.returncode != 0 or p.stdout != "threads 5000\n":
        errors.append("churn: exit %d, output %r" % (p.returncode, p.stdout))
        return
    c, ev, an, live = d["counters"], d["events"], d["anomalies"], d["live"]
    if c["allocs"] != ev["allocs"] or c["frees"] != ev["frees"] or c["untracked"] or c["dropped"]:
        errors.append("churn: counters %s but events %s" % (c, ev))
    if c["usable_alloc"] - c["usable_freed"] != live["usable"]:
        errors.append("churn: in use %d, live set %d" % (c["usable_alloc"] - c["usable_freed"],
                                                         live["usable"]))
    if an["dup_allocs"] or an["unknown_frees"] or an["bad"]:
        errors.append("churn: anomalies %s" % an)
    if c["allocs"] < 5000 * 8:
        errors.append("churn: only %d allocations counted" % c["allocs"])
    if d.get("generations", 0) < 5000:
        errors.append("churn: %d slot claims for 5000 threads" % d.get("generations", 0))
    print("churn: %d threads in %.2f s, %d allocs, %d slot claims" %
          (5000, secs, c["allocs"], d.get("generations", 0)))


def storm_wall(stderr):
    for line in stderr.splitlines():
        if line.startswith("storm "):
            f = line.split()
            return float(f[f.index("wall_ns") + 1]) / 1e9
    return None


def check_accounting(name, d, errors):
    """Every event the target made is seen by the consumer or counted as dropped/untracked."""
    c, ev = d["counters"], d["events"]
    made = c["allocs"] + c["frees"]
    if ev["total"] + c["dropped"] + c["untracked"] != made:
        errors.append("%s: %d calls, but %d seen + %d dropped + %d untracked" %
                      (name, made, ev["total"], c["dropped"], c["untracked"]))


def case_stall(a, errors):
    env = base_env()
    env.update(MEMTOP_RING="1024", MEMTOP_BLOCK_MS="200")
    bare, _ = timed([a.storm, "2", "2000000", "-v"], base_env())
    with tempfile.NamedTemporaryFile(suffix=".dump") as tmp:
        p, secs = timed([a.mtdump, "-o", tmp.name, "--stall-after", "5000", "--",
                         a.storm, "2", "2000000", "-v"], env)
        d = parse_dump(tmp.name)
    bare_s, traced_s = storm_wall(bare.stderr), storm_wall(p.stderr)
    if p.returncode != 0 or traced_s is None:
        errors.append("stall: exit %d, %s" % (p.returncode, p.stderr))
        return
    if d["counters"]["dropped"] == 0:
        errors.append("stall: nothing dropped with a stalled consumer")
    check_accounting("stall", d, errors)
    # One bounded wait (200 ms) per full episode; the stalled ring never empties, so after the
    # first timeout every push drops at once. Allow generous slack for a loaded 2-core machine.
    limit = bare_s * 3 + 0.2 * 2 + 2.0
    if traced_s > limit:
        errors.append("stall: target took %.2f s (bare %.2f s, limit %.2f s)" %
                      (traced_s, bare_s, limit))
    print("stall: bare %.2f s, stalled consumer %.2f s, dropped %d of %d events" %
          (bare_s, traced_s, d["counters"]["dropped"],
           d["counters"]["allocs"] + d["counters"]["frees"]))


def case_slow(a, errors):
    env = base_env()
    env.update(MEMTOP_RING="64", MEMTOP_BLOCK_MS="5")
    with tempfile.NamedTemporaryFile(suffix=".dump") as tmp:
        p, secs = timed([a.mtdump, "-o", tmp.name, "--slow-us", "10000", "--batch", "16", "--",
                         a.storm, "2", "100000", "-v"], env)
        d = parse_dump(tmp.name)
    if p.returncode != 0:
        errors.append("slow: exit %d" % p.returncode)
        return
    if d["counters"]["dropped"] == 0:
        errors.append("slow: nothing dropped with a 64-event ring and a slow consumer")
    check_accounting("slow", d, errors)
    if d["anomalies"]["bad"] or d["anomalies"]["skipped"]:
        errors.append("slow: anomalies %s" % d["anomalies"])
    print("slow: %.2f s, %d seen, %d dropped" % (secs, d["events"]["total"],
                                                 d["counters"]["dropped"]))


def wait_for_file(path, proc, timeout_s):
    """True once path exists; False if proc ends first or the time runs out."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if os.path.exists(path):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    return False


def killed_run(a, env, calls, ready):
    """One run: the consumer holds the claim, then dies by SIGKILL. Returns (target, stderr,
    target_was_running_at_kill) or None when the consumer never attached."""
    target = subprocess.Popen([a.storm, "2", str(calls), "-v"], env=env, stderr=subprocess.PIPE,
                              text=True)
    consumer = subprocess.Popen([a.mtdump, "-o", "/dev/null", "--ready-file", ready,
                                 "--attach", str(target.pid)], env=base_env())
    attached = wait_for_file(ready, consumer, 30)
    # Mid-run, not at the start: the target must be pushing into a ring someone drains.
    time.sleep(0.05)
    running = target.poll() is None
    consumer.send_signal(signal.SIGKILL)
    consumer.wait()
    try:
        _, err = target.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        target.kill()
        target.wait()
        err = None
    return (target, err, running) if attached else None


def case_killed(a, errors):
    env = base_env()
    env.update(LD_PRELOAD=os.path.abspath(a.preload), MEMTOP_WAIT="1", MEMTOP_BLOCK_MS="1000")
    # The kill must land while the target runs: a faster preload or machine finishes a fixed
    # count sooner, so a run that ended first is repeated with four times the calls. (With a
    # fixed sleep instead, CI once killed a consumer whose target had already exited, and the
    # segment it had not yet removed was reported as left behind.)
    calls = 4000000
    for _ in range(4):
        with tempfile.TemporaryDirectory() as tmp:
            run = killed_run(a, env, calls, os.path.join(tmp, "ready"))
        if run is None:
            errors.append("killed: the consumer never attached")
            return
        target, err, running = run
        if running or err is None:
            break
        if os.path.exists("/dev/shm/memtop.%d" % target.pid):
            os.unlink("/dev/shm/memtop.%d" % target.pid)  # the killed consumer's to remove
        calls *= 4
    else:
        errors.append("killed: the target always ended before its consumer was killed")
        return
    if err is None:
        errors.append("killed: the target hung after its consumer died")
        return
    bare, _ = timed([a.storm, "2", str(calls), "-v"], base_env())
    bare_s, traced_s = storm_wall(bare.stderr), storm_wall(err)
    if target.returncode != 0 or traced_s is None:
        errors.append("killed: target exit %d: %s" % (target.returncode, err))
        return
    # A dead consumer is noticed on the first full ring (kill(pid, 0) fails): at most one
    # bounded wait, then drops without waiting.
    limit = bare_s * 4 + 1.0 + 2.0
    if traced_s > limit:
        errors.append("killed: target took %.2f s (bare %.2f s, limit %.2f s)" %
                      (traced_s, bare_s, limit))
    if os.path.exists("/dev/shm/memtop.%d" % target.pid):
        errors.append("killed: segment of the target left behind")
        os.unlink("/dev/shm/memtop.%d" % target.pid)
    print("killed: %d calls, bare %.2f s, with a killed consumer %.2f s" %
          (calls * 2, bare_s, traced_s))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtdump", required=True)
    ap.add_argument("--preload", required=True)
    ap.add_argument("--storm", required=True)
    ap.add_argument("--churn", required=True)
    ap.add_argument("case", choices=["churn", "stall", "slow", "killed"])
    a = ap.parse_args()
    for k in ("mtdump", "preload", "storm", "churn"):
        setattr(a, k, os.path.abspath(getattr(a, k)))
    errors = []
    globals()["case_" + a.case](a, errors)
    for e in errors:
        print("FAIL: " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
