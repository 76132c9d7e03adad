#!/usr/bin/env python3
"""End-to-end check of the preload: run a target program under mtdump (the test consumer) and
compare what the consumer saw with what the program says it did ("expect" lines on its stdout):
exact allocation counts, live blocks and live bytes per call site, exact totals, and no ordering
anomaly (duplicate allocation, free of an unknown block). Fails with a list of every mismatch.

usage: check_sites.py --mtdump PATH [--exit N] [--env K=V]... [--skip-site NAME]... [--no-sites]
                      [--untracked N] [--unknown-frees N] [--maps-changed N] -- PROG [ARGS...]
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile


def parse_dump(text):
    d = {"stacks": [], "tags": [], "threads": []}
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] in ("counters", "events", "anomalies", "live"):
            d[f[0]] = {f[i]: int(f[i + 1]) for i in range(1, len(f) - 1, 2)}
        elif f[0] == "exit":
            d["exit"] = int(f[1])
        elif f[0] == "header_exited":
            d["header_exited"], d["header_exit_status"] = int(f[1]), int(f[3])
        elif f[0] == "stack":
            frames = f[f.index("frames") + 1:]
            d["stacks"].append({"id": int(f[1]), "allocs": int(f[3]), "live_blocks": int(f[5]),
                                "live_bytes": int(f[7]), "frames": frames})
        elif f[0] == "tag":
            d["tags"].append(" ".join(f[2:]))
        elif f[0] == "thread":
            d["threads"].append(f[f.index("name") + 1])
    return d


def load_segments(path):
    """(p_offset, p_vaddr, p_filesz) of the PT_LOAD segments of an ELF64 file."""
    with open(path, "rb") as fh:
        data = fh.read()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    segs = []
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", data,
                                                                         phoff + i * phentsize)
        if p_type == 1:
            segs.append((p_offset, p_vaddr, p_filesz))
    return segs


def resolve_functions(exe, offsets):
    """file offset of a return address -> outermost function containing the call (pc - 1)."""
    segs = load_segments(exe)
    vaddrs = {}
    for off in offsets:
        for p_off, p_vaddr, size in segs:
            if p_off <= off < p_off + size:
                vaddrs[off] = off - p_off + p_vaddr - 1
    if not vaddrs:
        return {}
    out = subprocess.run(["addr2line", "-a", "-i", "-f", "-C", "-e", exe] +
                         ["0x%x" % v for v in vaddrs.values()],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    by_vaddr, cur, last_fn = {}, None, None
    i = 0
    while i < len(out):
        if out[i].startswith("0x"):
            if cur is not None:
                by_vaddr[cur] = last_fn
            cur = int(out[i], 16)
            i += 1
            continue
        # function line (demangled, parameters dropped); with -i the last one is the outermost
        last_fn = out[i].split("(")[0]
        i += 2
    if cur is not None:
        by_vaddr[cur] = last_fn
    return {off: by_vaddr.get(v) for off, v in vaddrs.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtdump", required=True)
    ap.add_argument("--exit", type=int, default=0)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--skip-site", action="append", default=[])
    ap.add_argument("--no-sites", action="store_true")
    ap.add_argument("--untracked", type=int, default=0)
    ap.add_argument("--unknown-frees", type=int, default=0)
    ap.add_argument("--maps-changed", type=int, default=None)
    ap.add_argument("--split-reallocs", action="store_true",
                    help="some realloc moved its block to another lane (END flagged split)")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    env = dict(os.environ)
    env["MALLOC_PERTURB_"] = "0"
    for kv in a.env:
        k, v = kv.split("=", 1)
        env[k] = v

    errors = []
    with tempfile.NamedTemporaryFile("r", suffix=".dump") as tmp:
        run = subprocess.run([a.mtdump, "-o", tmp.name, "--"] + cmd, env=env,
                             capture_output=True, text=True, timeout=300)
        dump_text = open(tmp.name).read()
    sys.stderr.write(run.stderr)
    d = parse_dump(dump_text)
    if run.returncode != a.exit:
        errors.append("exit status %d, expected %d" % (run.returncode, a.exit))
    if "counters" not in d:
        print("no dump from mtdump:\n" + dump_text)
        return 1

    if d.get("header_exited") != 1 or d.get("header_exit_status") != a.exit:
        errors.append("segment header: exited %s, exit status %s (expected 1, %d)" %
                      (d.get("header_exited"), d.get("header_exit_status"), a.exit))
    c, ev, an, live = d["counters"], d["events"], d["anomalies"], d["live"]
    for k in ("bad", "skipped", "dup_allocs", "bus"):
        if an[k]:
            errors.append("anomaly %s = %d" % (k, an[k]))
    if an["unknown_frees"] != a.unknown_frees:
        errors.append("unknown_frees %d, expected %d" % (an["unknown_frees"], a.unknown_frees))
    if c["dropped"]:
        errors.append("%d events dropped" % c["dropped"])
    if c["untracked"] != a.untracked:
        errors.append("untracked %d, expected %d" % (c["untracked"], a.untracked))
    if a.untracked == 0:
        # every counted call produced its event: totals must agree exactly
        if c["allocs"] != ev["allocs"] or c["frees"] != ev["frees"]:
            errors.append("counters allocs/frees %d/%d but events %d/%d" %
                          (c["allocs"], c["frees"], ev["allocs"], ev["frees"]))
        if c["usable_alloc"] - c["usable_freed"] != live["usable"]:
            errors.append("counters in use %d but live set holds %d usable bytes" %
                          (c["usable_alloc"] - c["usable_freed"], live["usable"]))
    if a.split_reallocs and not ev["realloc_split"]:
        errors.append("no realloc moved its block to another lane (realloc_split 0)")
    if a.maps_changed is not None and ev["maps_changed"] != a.maps_changed:
        errors.append("maps_changed %d, expected %d" % (ev["maps_changed"], a.maps_changed))

    expects, tags, names = {}, [], []
    for line in run.stdout.splitlines():
        f = line.split()
        if f and f[0] == "expect":
            expects[f[1]] = {f[i]: int(f[i + 1]) for i in range(2, len(f) - 1, 2)}
        elif f and f[0] == "expect-tag":
            tags.append(f[1])
        elif f and f[0] == "expect-thread-name":
            names.append(f[1])
    for t in tags:
        if t not in d["tags"]:
            errors.append("tag %s not seen (tags: %s)" % (t, d["tags"]))
    for n in names:
        if n not in d["threads"]:
            errors.append("thread name %s not seen (names: %s)" % (n, d["threads"]))

    sites = {k: v for k, v in expects.items() if k not in a.skip_site}
    if not a.no_sites and sites:
        exe = os.path.realpath(cmd[0])
        offsets = set()
        for s in d["stacks"]:
            for fr in s["frames"]:
                mod, _, off = fr.rpartition("+0x")
                if mod == exe:
                    offsets.add(int(off, 16))
        fn_of = resolve_functions(exe, offsets)
        seen = {k: {"allocs": 0, "live_blocks": 0, "live_bytes": 0} for k in sites}
        for s in d["stacks"]:
            for fr in s["frames"]:
                mod, _, off = fr.rpartition("+0x")
                fn = fn_of.get(int(off, 16)) if mod == exe else None
                if fn in seen:
                    for k in ("allocs", "live_blocks", "live_bytes"):
                        seen[fn][k] += s[k]
                    break
        for site, want in sorted(sites.items()):
            if seen[site] != want:
                errors.append("%s: saw %s, expected %s" % (site, seen[site], want))
    elif not a.no_sites and not expects:
        errors.append("the program printed no expect lines")

    for e in errors:
        print("FAIL: " + e)
    if errors:
        print("--- dump ---\n" + "\n".join(l for l in dump_text.splitlines()
                                          if not l.startswith("stack")))
        return 1
    print("ok: %d sites, %d events, %d live blocks" % (len(sites), ev["total"], live["blocks"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
