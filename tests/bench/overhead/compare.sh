#!/bin/bash
# Overhead against heaptrack at equal stack depth (MEMTOP_DEPTH=64, heaptrack's own limit): each
# workload bare, under `memtop report` with each unwinder, and under heaptrack, in one interleaved
# run (A B C D, ROUNDS times). Prints medians of wall time and of CPU time (user + sys of the whole
# process tree: the monitor or heaptrack's interpreter included), and memtop's added time as a
# fraction of heaptrack's for each: the CPU figure is the one to trust on a loaded machine; and
# memtop's own CPU and peak RSS (the monitor process alone, its target taken out: selfusage.py).
# Workloads: the 2-thread storm, Debian's python3 (json/dict churn), `git log -p` on a repository
# the benchmark makes (COMPARE_WORKLOADS picks some). With a second memtop (B), its cfi variant runs
# in the same rounds, for an A/B. Writes only in a temporary directory it removes.
# usage: compare.sh MEMTOP LIBMEMTOP STORM [ROUNDS [MEMTOP_B LIBMEMTOP_B]]
#   MEMTOP: build/monitor/memtop   LIBMEMTOP: build/preload/libmemtop.so   STORM: tests/progs/prog_storm
set -u
if [ $# -lt 3 ]; then
	echo "usage: compare.sh MEMTOP LIBMEMTOP STORM [ROUNDS [MEMTOP_B LIBMEMTOP_B]]" >&2
	exit 2
fi
memtop=$1 lib=$2 storm=$3 rounds=${4:-5} memtop_b=${5:-} lib_b=${6:-}
for tool in heaptrack /usr/bin/time /usr/bin/python3 git; do
	command -v "$tool" >/dev/null || { echo "compare.sh: $tool not found (.ci/packages lists it)" >&2; exit 2; }
done
tmp=$(mktemp -d /tmp/memtop-overhead.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export MALLOC_PERTURB_=0 DEBUGINFOD_URLS=''

# Debian's python3 with the system allocator: a json/dict churn (about 11 M allocations).
py_churn='import json
for r in range(60):
    d = {str(i): [i, str(i) * 3, {"k": i, "v": [i, i + 1]}] for i in range(4000)}
    s = json.dumps(d)
    e = json.loads(s)
    assert len(e) == len(d)'

here=$(dirname "$0")
workloads=${COMPARE_WORKLOADS:-storm python3 gitlog}

# A repository for `git log -p`: 1500 commits over 40 files of 300 lines, a few lines changed in
# each (fast-import: made in a second). Deterministic.
make_repo() {
	git init -q "$tmp/repo" || return 1
	/usr/bin/python3 - <<'PY' | git -C "$tmp/repo" fast-import --quiet || return 1
import random
rng = random.Random(15)
files = {f"src/f{i}.c": [f"int f{i}_{j}(void) {{ return {j}; }}" for j in range(300)] for i in range(40)}
out = []
for c in range(1500):
    changed = rng.sample(sorted(files), 3)
    out.append(f"commit refs/heads/main\ncommitter B <b@example.org> {1700000000 + c} +0000\n")
    msg = f"change {c}\n"
    out.append(f"data {len(msg)}\n{msg}")
    for name in changed:
        lines = files[name]
        for _ in range(4):
            lines[rng.randrange(len(lines))] = f"long g{c}_{rng.randrange(10**6)}(long x) {{ return x * {c}; }}"
        body = "\n".join(lines) + "\n"
        out.append(f"M 644 inline {name}\ndata {len(body.encode())}\n{body}")
    out.append("\n")
print("".join(out), end="")
PY
	git -C "$tmp/repo" reset -q --hard main
}
case " $workloads " in *" gitlog "*) make_repo || { echo "compare.sh: cannot make the git repository" >&2; exit 2; } ;; esac

# The workloads run their program directly: heaptrack follows no exec (`env VAR=x prog` would
# trace env alone), so a workload's environment is set on the command.
# run_one VARIANT WORKLOAD: prints "wall cpu" in seconds, or "fail".
run_one() {
	local variant=$1 w=$2 rc measure m=$memtop l=$lib
	case $variant in B-*) m=$memtop_b l=$lib_b variant=${variant#B-} ;; esac
	# memtop runs under selfusage.py (its own CPU and peak besides the tree's), the rest under time
	measure=(/usr/bin/time -f '%e %U %S' -o "$tmp/time")
	case $variant in
	bare) set -- ;;
	memtop-cfi | memtop-libunwind)
		measure=(/usr/bin/python3 "$here/selfusage.py" "$tmp/self")
		set -- env MEMTOP_DEPTH=64 MEMTOP_UNWIND="${variant#memtop-}" "$m" report \
			--preload "$l" -o "$tmp/report" -- ;;
	heaptrack) set -- heaptrack -o "$tmp/ht" ;;
	esac
	case $w in
	storm) "${measure[@]}" "$@" "$storm" 2 2000000 >/dev/null 2>&1 ;;
	python3) PYTHONMALLOC=malloc "${measure[@]}" "$@" /usr/bin/python3 -c "$py_churn" >/dev/null 2>&1 ;;
	gitlog) "${measure[@]}" "$@" /usr/bin/git --no-pager -C "$tmp/repo" log -p >/dev/null 2>&1 ;;
	esac
	rc=$?
	rm -f "$tmp"/ht* "$tmp/report"
	if [ $rc -ne 0 ]; then
		echo fail
	elif [ "${measure[0]}" = /usr/bin/time ]; then
		awk '{ print $1, $2 + $3, -1, -1 }' "$tmp/time"
	else
		cat "$tmp/self"
	fi
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

variants="bare memtop-cfi memtop-libunwind heaptrack"
memtop_variants="memtop-cfi memtop-libunwind"
if [ -n "$memtop_b" ]; then
	variants="bare memtop-cfi B-memtop-cfi memtop-libunwind heaptrack"
	memtop_variants="memtop-cfi B-memtop-cfi memtop-libunwind"
fi
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds, MEMTOP_DEPTH=64"
for w in $workloads; do
	for r in $(seq "$rounds"); do
		for v in $variants; do
			run_one "$v" "$w" >>"$tmp/$w.$v"
		done
	done
	declare -A wall=() cpu=() own=() peak=()
	for v in $variants; do
		if grep -q fail "$tmp/$w.$v"; then
			echo "compare.sh: $w under $v failed" >&2
			exit 1
		fi
		wall[$v]=$(cut -d' ' -f1 "$tmp/$w.$v" | median)
		cpu[$v]=$(cut -d' ' -f2 "$tmp/$w.$v" | median)
		own[$v]=$(cut -d' ' -f3 "$tmp/$w.$v" | median)
		peak[$v]=$(cut -d' ' -f4 "$tmp/$w.$v" | median)
	done
	for v in $memtop_variants; do
		awk -v w="$w" -v v="$v" -v b="${wall[bare]}" -v m="${wall[$v]}" -v h="${wall[heaptrack]}" \
		    -v bc="${cpu[bare]}" -v mc="${cpu[$v]}" -v hc="${cpu[heaptrack]}" \
		    -v own="${own[$v]}" -v peak="${peak[$v]}" 'BEGIN {
			printf "%-8s %-17s wall: bare %.2f memtop %.2f heaptrack %.2f s, added ratio %.2f | " \
			       "cpu: bare %.2f memtop %.2f heaptrack %.2f s, added ratio %.2f | ",
			       w, v, b, m, h, (m - b) / (h - b), bc, mc, hc, (mc - bc) / (hc - bc)
			if (own < 0) printf "memtop itself: cpu unknown"
			else printf "memtop itself: cpu %.2f s", own
			printf ", peak RSS %.1f MiB\n", peak / 1024 }'
	done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
