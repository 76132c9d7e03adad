#!/usr/bin/env python3
# What a monitor costs by itself: runs COMMAND (memtop report -- PROGRAM), and writes to OUT
# "wall tree_cpu own_cpu own_peak_kib": wall seconds, CPU of COMMAND and the children it reaped,
# CPU of COMMAND alone (read from its /proc entry once it has ended, before it is reaped) and its
# own peak RSS (VmHWM, read every 20 ms: a peak in its last 20 ms may be missed). It never changes
# what COMMAND does; exits with its status.
# usage: selfusage.py OUT COMMAND [ARG...]
import os
import sys
import time


def read_proc(pid):
    """(own CPU seconds, reaped children's CPU seconds, VmHWM KiB), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/status") as f:
            hwm = next((int(l.split()[1]) for l in f if l.startswith("VmHWM:")), 0)
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    # fields after the command: state is [0], utime [11], stime [12], cutime [13], cstime [14]
    own = (int(fields[11]) + int(fields[12])) / hz
    children = (int(fields[13]) + int(fields[14])) / hz
    return own, children, hwm


def main():
    if len(sys.argv) < 3:
        print("usage: selfusage.py OUT COMMAND [ARG...]", file=sys.stderr)
        return 2
    out, cmd = sys.argv[1], sys.argv[2:]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    last, peak, final = None, 0, None
    while True:
        # ended, not yet reaped: its /proc entry (a zombie's) holds its own CPU and its reaped
        # children's, final. A report that ends within 20 ms of its target left no read after
        # the target was reaped, and its own CPU came out unknown.
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
            final = read_proc(pid)
            break
        sample = read_proc(pid)
        if sample:
            last = sample
            peak = max(peak, sample[2])  # an exiting process shows no VmHWM any more
        time.sleep(0.02)
    done, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - start
    tree = usage.ru_utime + usage.ru_stime
    if final:
        own = final[0]
    else:  # no read of the zombie: from the last read after its child was reaped, else unknown
        own = tree - last[1] if last and last[1] > 0 else -1
    with open(out, "w") as f:
        f.write(f"{wall:.3f} {tree:.3f} {own:.3f} {peak}\n")
    return os.waitstatus_to_exitcode(status) if status else 0


if __name__ == "__main__":
    sys.exit(main())
