#!/bin/bash
# Overhead against heaptrack at equal stack depth (MEMTOP_DEPTH=64, heaptrack's own limit): wall
# time of each workload bare, under `memtop report` with each unwinder, and under heaptrack, in one
# interleaved run (A B C D, ROUNDS times), medians. Prints memtop's added time as a fraction of
# heaptrack's for each. Never writes outside a temporary directory it removes.
# usage: compare.sh MEMTOP LIBMEMTOP STORM [ROUNDS]
#   MEMTOP: build/monitor/memtop   LIBMEMTOP: build/preload/libmemtop.so   STORM: tests/progs/prog_storm
set -u
if [ $# -lt 3 ]; then
	echo "usage: compare.sh MEMTOP LIBMEMTOP STORM [ROUNDS]" >&2
	exit 2
fi
memtop=$1 lib=$2 storm=$3 rounds=${4:-5}
command -v heaptrack >/dev/null || { echo "compare.sh: heaptrack not found: apt-get install heaptrack" >&2; exit 2; }
[ -x /usr/bin/python3 ] || { echo "compare.sh: /usr/bin/python3 not found" >&2; exit 2; }
tmp=$(mktemp -d /tmp/memtop-overhead.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export MALLOC_PERTURB_=0 DEBUGINFOD_URLS=''

# Debian's python3 with the system allocator: a json/dict churn (about 8 M allocations).
py_churn='import json
for r in range(60):
    d = {str(i): [i, str(i) * 3, {"k": i, "v": [i, i + 1]}] for i in range(4000)}
    s = json.dumps(d)
    e = json.loads(s)
    assert len(e) == len(d)'

declare -A workloads=(
	[storm]="$storm 2 2000000"
	[python3]="env PYTHONMALLOC=malloc /usr/bin/python3 -c $(printf %q "$py_churn")"
)

now() { date +%s.%N; }

# run_one VARIANT WORKLOAD_COMMAND: prints the wall time in seconds; a failed run prints "fail".
run_one() {
	local variant=$1 cmd=$2 t0 t1 rc
	t0=$(now)
	case $variant in
	bare) eval "$cmd" >/dev/null 2>&1 ;;
	memtop-cfi) eval "MEMTOP_DEPTH=64 MEMTOP_UNWIND=cfi $(printf %q "$memtop") report --preload $(printf %q "$lib") -o $tmp/report -- $cmd" >/dev/null 2>&1 ;;
	memtop-libunwind) eval "MEMTOP_DEPTH=64 MEMTOP_UNWIND=libunwind $(printf %q "$memtop") report --preload $(printf %q "$lib") -o $tmp/report -- $cmd" >/dev/null 2>&1 ;;
	heaptrack) eval "heaptrack -o $tmp/ht $cmd" >/dev/null 2>&1 ;;
	esac
	rc=$?
	t1=$(now)
	rm -f "$tmp"/ht* "$tmp/report"
	if [ $rc -ne 0 ]; then echo fail; else awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'; fi
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

variants="bare memtop-cfi memtop-libunwind heaptrack"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds, MEMTOP_DEPTH=64"
for w in storm python3; do
	for r in $(seq "$rounds"); do
		for v in $variants; do
			t=$(run_one "$v" "${workloads[$w]}")
			echo "$t" >>"$tmp/$w.$v"
		done
	done
	declare -A med=()
	for v in $variants; do
		if grep -q fail "$tmp/$w.$v"; then
			echo "compare.sh: $w under $v failed" >&2
			exit 1
		fi
		med[$v]=$(median <"$tmp/$w.$v")
	done
	bare=${med[bare]} ht=${med[heaptrack]}
	for v in memtop-cfi memtop-libunwind; do
		awk -v w="$w" -v v="$v" -v b="$bare" -v m="${med[$v]}" -v h="$ht" 'BEGIN {
			printf "%-8s %-17s bare %.3f s  memtop %.3f s  heaptrack %.3f s  " \
			       "memtop added / heaptrack added = %.2f\n", w, v, b, m, h, (m - b) / (h - b) }'
	done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
