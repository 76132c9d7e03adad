"""Parser for memtop snapshots (docs/snapshot-format.md, formats 1 to 3), shared by the e2e checkers.
Strict: a header key that is missing, repeated or not a plain integer is an error, and so is a
format newer than 2 or a malformed line in the modules section (format 2)."""
import re

HEADER_INT_KEYS = ["live_bytes", "live_blocks", "allocs", "frees", "peak_bytes", "lost_events"]
SITE_RE = re.compile(r"^site (\d+): (\d+) bytes in (\d+) blocks(?: \(allocs=(\d+) frees=(\d+) bytes_allocated=(\d+)\))?( estimated)?$")
FORMAT_VERSIONS = (1, 2, 3)
MODULE_RE = re.compile(r"^module ([0-9a-f]{2,128}|-) (/.*)$")
# a function may hold spaces (demangled C++: "operator new(unsigned long)"), or is a marker in angle
# brackets (stack id 4294967294: "<in signal handler>"); the shortest name that leaves a valid tail
FRAME_RE = re.compile(r"^  #(\d+) (<[^>]*>|.+?)(?: (\S+):(\d+))?( \[inlined\])? 0x([0-9a-f]+) (\S+)$")


class Snapshot:
    def __init__(self, text):
        self.text = text
        self.header = {}
        self.sites = []      # dicts: id, bytes, blocks, allocs, frees, frames [(depth, func, file, line, pc, module)]
        self.threads = []
        self.blocks = []
        self.maps_rows = []
        self.tags = []
        self.modules = {}    # format 2: path -> build-id (hex), None when recorded as "-"
        self.section = None
        self._parse()

    def _parse(self):
        lines = self.text.split("\n")
        if not lines or lines[0] != "# memtop snapshot":
            raise ValueError("first line is not '# memtop snapshot'")
        seen = {}
        for line in lines[1:]:
            if line == "## end":
                break  # a report of a process tree goes on with the other processes
            if line.startswith("## "):
                self.section = line[3:]
                continue
            if self.section is None:
                if not line:
                    continue
                key, sep, val = line.partition(": ")
                if not sep:
                    raise ValueError("bad header line: %r" % line)
                if key in seen:
                    raise ValueError("header key %s repeated" % key)
                seen[key] = val
            elif self.section == "sites":
                m = SITE_RE.match(line)
                if m:
                    self.sites.append(dict(id=int(m.group(1)), bytes=int(m.group(2)),
                                           blocks=int(m.group(3)),
                                           allocs=int(m.group(4)) if m.group(4) else None,
                                           frees=int(m.group(5)) if m.group(5) else None,
                                           estimated=bool(m.group(7)),
                                           frames=[]))
                    continue
                f = FRAME_RE.match(line)
                if f and self.sites:
                    self.sites[-1]["frames"].append(dict(
                        depth=int(f.group(1)), func=f.group(2), file=f.group(3),
                        line=int(f.group(4)) if f.group(4) else None,
                        inlined=bool(f.group(5)), pc=int(f.group(6), 16), module=f.group(7)))
            elif self.section == "threads" and line.startswith("thread "):
                self.threads.append(dict(kv.split("=", 1) for kv in line.split()[2:]))
            elif self.section == "blocks" and line.startswith("block "):
                parts = line.split()
                d = dict(kv.split("=", 1) for kv in parts[2:])
                d["addr"] = int(parts[1], 16)
                self.blocks.append(d)
            elif self.section == "heatmap":
                if line.startswith("map "):
                    parts = line.split()
                    d = dict(kv.split("=", 1) for kv in parts if "=" in kv)
                    d["range"] = parts[1]
                    self.maps_rows.append(d)
                elif line.startswith("  heat:") and self.maps_rows:
                    self.maps_rows[-1]["heat"] = [int(x) for x in line.split()[1:]]
            elif self.section == "tags" and line.startswith("tag "):
                self.tags.append(line)
            elif self.section == "modules" and line:
                m = MODULE_RE.match(line)
                if not m or (m.group(1) != "-" and len(m.group(1)) % 2):
                    raise ValueError("bad modules line: %r" % line)
                if m.group(2) in self.modules:
                    raise ValueError("module %s listed twice" % m.group(2))
                self.modules[m.group(2)] = None if m.group(1) == "-" else m.group(1)
        if not re.fullmatch(r"\d+", seen.get("format_version", "")) or \
                int(seen["format_version"]) not in FORMAT_VERSIONS:
            raise ValueError("format_version %r is not one of %s" % (seen.get("format_version"),
                                                                     FORMAT_VERSIONS))
        if int(seen["format_version"]) >= 2 and "## maps" in lines and "## modules" not in lines:
            raise ValueError("format 2 snapshot with a maps section but no modules section")
        for k in HEADER_INT_KEYS:
            if k not in seen:
                raise ValueError("header key %s missing" % k)
            if not re.fullmatch(r"\d+", seen[k]):
                raise ValueError("header key %s is not a plain integer: %r" % (k, seen[k]))
        self.header = seen

    def h(self, key):
        return int(self.header[key])

    def site_function(self, site, prefix="site_"):
        """The first frame whose function starts with prefix (the test program's call site)."""
        for f in site["frames"]:
            if f["func"].startswith(prefix):
                return f["func"]
        return None

    def by_function(self, prefix="site_"):
        out = {}
        for s in self.sites:
            fn = self.site_function(s, prefix)
            if fn is None:
                continue
            acc = out.setdefault(fn, dict(bytes=0, blocks=0, allocs=0))
            acc["bytes"] += s["bytes"]
            acc["blocks"] += s["blocks"]
            acc["allocs"] += s["allocs"] or 0
        return out


def tree_documents(text):
    """A report of a process tree: {pid: Snapshot} for every process (the root's first in the
    file), and the '# memtop tree' summary as (header dict, list of row dicts); (docs, None) for a
    report of one process."""
    docs, summary = {}, None
    parts = re.split(r"^(# memtop process \d+ ppid \d+|# memtop tree)\n", text, flags=re.M)
    root = Snapshot(parts[0])
    docs[root.h("pid")] = root
    for marker, body in zip(parts[1::2], parts[2::2]):
        if marker.startswith("# memtop process"):
            snap = Snapshot(body)
            snap.ppid = int(marker.split()[5])
            docs[snap.h("pid")] = snap
            continue
        head, rows, section = {}, [], None
        for line in body.split("\n"):
            if line.startswith("## "):
                section = line[3:]
            elif section is None and ": " in line:
                k, v = line.split(": ", 1)
                head[k] = v
            elif section == "processes" and line.startswith("process "):
                fields, _, command = line.partition(" command=")
                words = fields.split()
                row = dict(kv.split("=", 1) for kv in words[2:])
                row["pid"], row["command"] = int(words[1]), command
                rows.append(row)
        summary = (head, rows)
    return docs, summary
