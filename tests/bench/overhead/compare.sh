#!/bin/bash
# Overhead against heaptrack at equal stack depth (MEMTOP_DEPTH=64, heaptrack's own limit): each
# workload bare, under `memtop report` with each unwinder, and under heaptrack, in one interleaved
# run (A B C D, ROUNDS times). Prints medians of wall time and of CPU time (user + sys of the whole
# process tree: the monitor or heaptrack's interpreter included), and memtop's added time as a
# fraction of heaptrack's for each: the CPU figure is the one to trust on a loaded machine.
# Writes only in a temporary directory it removes.
# usage: compare.sh MEMTOP LIBMEMTOP STORM [ROUNDS]
#   MEMTOP: build/monitor/memtop   LIBMEMTOP: build/preload/libmemtop.so   STORM: tests/progs/prog_storm
set -u
if [ $# -lt 3 ]; then
	echo "usage: compare.sh MEMTOP LIBMEMTOP STORM [ROUNDS]" >&2
	exit 2
fi
memtop=$1 lib=$2 storm=$3 rounds=${4:-5}
for tool in heaptrack /usr/bin/time /usr/bin/python3; do
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

# The workloads run their program directly: heaptrack follows no exec (`env VAR=x prog` would
# trace env alone), so a workload's environment is set on the command.
# run_one VARIANT WORKLOAD: prints "wall cpu" in seconds, or "fail".
run_one() {
	local variant=$1 w=$2 rc
	case $variant in
	bare) set -- ;;
	memtop-cfi | memtop-libunwind)
		set -- env MEMTOP_DEPTH=64 MEMTOP_UNWIND="${variant#memtop-}" "$memtop" report \
			--preload "$lib" -o "$tmp/report" -- ;;
	heaptrack) set -- heaptrack -o "$tmp/ht" ;;
	esac
	case $w in
	storm) /usr/bin/time -f '%e %U %S' -o "$tmp/time" "$@" "$storm" 2 2000000 >/dev/null 2>&1 ;;
	python3) PYTHONMALLOC=malloc /usr/bin/time -f '%e %U %S' -o "$tmp/time" "$@" /usr/bin/python3 \
		-c "$py_churn" >/dev/null 2>&1 ;;
	esac
	rc=$?
	rm -f "$tmp"/ht* "$tmp/report"
	if [ $rc -ne 0 ]; then echo fail; else awk '{ print $1, $2 + $3 }' "$tmp/time"; fi
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

variants="bare memtop-cfi memtop-libunwind heaptrack"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds, MEMTOP_DEPTH=64"
for w in storm python3; do
	for r in $(seq "$rounds"); do
		for v in $variants; do
			run_one "$v" "$w" >>"$tmp/$w.$v"
		done
	done
	declare -A wall=() cpu=()
	for v in $variants; do
		if grep -q fail "$tmp/$w.$v"; then
			echo "compare.sh: $w under $v failed" >&2
			exit 1
		fi
		wall[$v]=$(cut -d' ' -f1 "$tmp/$w.$v" | median)
		cpu[$v]=$(cut -d' ' -f2 "$tmp/$w.$v" | median)
	done
	for v in memtop-cfi memtop-libunwind; do
		awk -v w="$w" -v v="$v" -v b="${wall[bare]}" -v m="${wall[$v]}" -v h="${wall[heaptrack]}" \
		    -v bc="${cpu[bare]}" -v mc="${cpu[$v]}" -v hc="${cpu[heaptrack]}" 'BEGIN {
			printf "%-8s %-17s wall: bare %.2f memtop %.2f heaptrack %.2f s, added ratio %.2f | " \
			       "cpu: bare %.2f memtop %.2f heaptrack %.2f s, added ratio %.2f\n",
			       w, v, b, m, h, (m - b) / (h - b), bc, mc, hc, (mc - bc) / (hc - bc) }'
	done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
