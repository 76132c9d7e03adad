#!/usr/bin/env python3
"""e2e: `memtop report -- CMD` follows the whole process tree CMD starts: one snapshot per process,
each exact against the "expect-pid PID SITE ..." lines that process printed (or, for the process
running PROGEXE, its own "expect SITE ..." lines), and the '# memtop tree' totals exact: the sums of
the processes' figures. A traced process outside the tree, waiting for a monitor all along, is never
attached.
usage: check_tree.py MEMTOP PRELOAD PROCESSES PROGEXE CMD [ARGS...]
PROCESSES: how many processes the report must hold; PROGEXE: the program whose plain expect lines
are checked in the section of the process that ran it ('-' for none)."""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from snapshot_parse import tree_documents  # noqa: E402

failures = 0


def check(name, got, want):
    global failures
    if got != want:
        print("FAIL %s: memtop %s, expected %s" % (name, got, want))
        failures += 1
    else:
        print("ok   %s: %s" % (name, want))


def start_outsider(preload):
    """A traced process that is no descendant of the report's target, even though it claims to be
    part of a followed tree: it waits for a monitor at its start and says so once one came."""
    env = dict(os.environ, LD_PRELOAD=os.path.abspath(preload), MEMTOP_WAIT="30", MEMTOP_FOLLOW="1")
    return subprocess.Popen(["sh", "-c", "echo attached; exec sleep 30"], env=env,
                            stdout=subprocess.PIPE)


def emulated(prog):
    """True when prog is built for another machine than this python (run by qemu-user)."""
    with open(prog, "rb") as f:
        mine = open(os.path.realpath(sys.executable), "rb").read(20)[18:20]
        return f.read(20)[18:20] != mine


def main():
    memtop, preload, nproc, progexe, cmd = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        sys.argv[4], sys.argv[5:]
    outsider = start_outsider(preload)
    try:
        seg = "/dev/shm/memtop.%d" % outsider.pid
        for _ in range(500):  # its segment exists before the report starts (bounded)
            if os.path.exists(seg):
                break
            time.sleep(0.01)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "report.txt")
            r = subprocess.run([memtop, "report", "--all-sites", "-o", path, "--"] + cmd,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=120)
            text = open(path).read()
            exports = {}
            for pid in [0] + [int(l.split()[3]) for l in text.splitlines()
                              if l.startswith("# memtop process ")]:
                e = subprocess.run([memtop, "export", "--format", "folded"] +
                                   (["--pid", str(pid)] if pid else []) + [path],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                s = subprocess.run([memtop, "symbolize"] + (["--pid", str(pid)] if pid else []) +
                                   [path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
                pids = [l[5:] for l in s.stdout.splitlines() if l.startswith("pid: ")]
                exports[pid] = (e.returncode, sum(int(l.rsplit(" ", 1)[1])
                                                  for l in e.stdout.splitlines()), pids)
        os.set_blocking(outsider.stdout.fileno(), False)
        try:
            said = os.read(outsider.stdout.fileno(), 4096).decode()
        except BlockingIOError:
            said = ""
        check("the process outside the tree was never attached (still waiting)", said, "")
    finally:
        outsider.kill()
        outsider.wait()
    if r.stderr:
        print("memtop said: %s" % r.stderr.strip())
    # under qemu-user vfork is a fork: the allocations of dash's vfork child, booked to the parent
    # whose memory a real vfork child shares, come back as duplicates (report exits 120)
    qemu_dup = emulated(sys.argv[1]) and r.returncode == 120 and "duplicate allocations" in r.stderr
    check("memtop's exit status (the root's)", 0 if qemu_dup else r.returncode, 0)
    docs, summary = tree_documents(text)
    root = next(iter(docs.values()))
    check("processes in the report", len(docs), nproc)
    check("the outsider has no section", outsider.pid in docs, False)
    expects = {}
    for line in r.stdout.splitlines():
        w = line.split()
        if w and w[0] == "expect-pid":
            expects.setdefault(int(w[1]), []).append((w[2], int(w[4]), int(w[6]), int(w[8])))
        elif w and w[0] == "expect":
            expects.setdefault(progexe, []).append((w[1], int(w[3]), int(w[5]), int(w[7])))
    for who, sites in sorted(expects.items(), key=str):
        plain = who == progexe
        if plain:
            want = os.path.realpath(progexe)
            who = next((p for p, d in docs.items() if d.header.get("exe") == want), progexe)
        snap = docs.get(who)
        if snap is None:
            check("a section for process %s" % who, None, "one")
            continue
        got = snap.by_function()
        for site, allocs, blocks, nbytes in sites:
            check("process %s %s" % (who, site), got.get(site, dict(allocs=0, blocks=0, bytes=0)),
                  dict(allocs=allocs, blocks=blocks, bytes=nbytes))
        check("process %d lost_events" % who, snap.h("lost_events"), 0)
        # held at its start until memtop came: nothing is an estimate
        check("process %d not estimated" % who, snap.header.get("estimate"), None)
        if not plain and snap is not root:
            # a child of forktree allocates nothing but its sites: its totals are exact too, and
            # so is its exit status (child k: 10 + k; the grandchild: 20)
            check("process %d allocs, live bytes" % who, (snap.h("allocs"), snap.h("live_bytes")),
                  (sum(s[1] for s in sites), sum(s[3] for s in sites)))
            status = 20 if sites[0][0] == "site_grandchild" else 10 + sites[0][2] // 10 - 1
            check("process %d exit status" % who, snap.header.get("exit_status"), str(status))
    if summary is None:
        check("a '# memtop tree' summary", None, "one")
        return 1
    head, rows = summary
    check("summary processes", int(head["processes"]), len(docs))
    check("summary rows", sorted(row["pid"] for row in rows), sorted(docs))
    for key in ("allocs", "frees", "live_bytes", "live_blocks", "bytes_allocated", "bytes_freed"):
        check("tree %s == sum over the processes" % key, int(head[key]),
              sum(d.h(key) for d in docs.values()))
    # export and symbolize read one process of the report: the root's by default, --pid N's
    root_pid = root.h("pid")
    for pid, (rc, live, pids) in sorted(exports.items()):
        d = docs.get(pid or root_pid)
        check("export --format folded --pid %s: live bytes" % (pid or "(root)"), (rc, live),
              (0, d.h("live_bytes") if d else None))
        check("symbolize --pid %s: that process alone" % (pid or "(root)"), pids,
              [str(pid or root_pid)])
    for row in rows:
        d = docs[row["pid"]]
        check("row %d" % row["pid"], (int(row["allocs"]), int(row["live_bytes"]), row["state"]),
              (d.h("allocs"), d.h("live_bytes"), d.header["state"]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
