#!/bin/bash
# The compiler under memtop: gcc's cc1 -O2 on a generated C file (gen_big_c.py), bare, under
# `memtop report --no-symbols`, under `memtop report` (symbolized) and under `heaptrack --raw`
# (heaptrack's interpreter runs out of memory on cc1), interleaved ROUNDS times at MEMTOP_DEPTH=64.
# With a second memtop (B), its two report variants run in the same rounds, for an A/B. Prints the
# medians of wall time and of CPU time (user + sys of the process tree). Writes only in a temporary
# directory it removes.
# usage: cc1.sh ROUNDS GROUPS MEMTOP LIBMEMTOP [MEMTOP_B LIBMEMTOP_B]
set -u
if [ $# -lt 4 ]; then
	echo "usage: cc1.sh ROUNDS GROUPS MEMTOP LIBMEMTOP [MEMTOP_B LIBMEMTOP_B]" >&2
	exit 2
fi
rounds=$1 groups=$2 memtop=$3 lib=$4 memtop_b=${5:-} lib_b=${6:-}
cc1=$(gcc -print-prog-name=cc1)
for tool in heaptrack /usr/bin/time "$cc1"; do
	command -v "$tool" >/dev/null || { echo "cc1.sh: $tool not found (.ci/packages lists it)" >&2; exit 2; }
done
tmp=$(mktemp -d /tmp/memtop-cc1.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export MALLOC_PERTURB_=0 DEBUGINFOD_URLS='' MEMTOP_DEPTH=64
python3 "$(dirname "$0")/gen_big_c.py" "$groups" "$tmp/big.c"
compile=("$cc1" -quiet -O2 "$tmp/big.c" -o "$tmp/big.s")

variants="bare report-nosym report heaptrack-raw"
[ -n "$memtop_b" ] && variants="$variants B-report-nosym B-report"
run_one() {
	local m=$memtop l=$lib v=$1
	case $v in B-*) m=$memtop_b l=$lib_b v=${v#B-} ;; esac
	case $v in
	bare) set -- ;;
	report-nosym) set -- "$m" report --no-symbols --preload "$l" -o "$tmp/out.report" -- ;;
	report) set -- "$m" report --preload "$l" -o "$tmp/out.report" -- ;;
	heaptrack-raw) set -- heaptrack --raw -o "$tmp/ht" ;;
	esac
	if /usr/bin/time -f '%e %U %S' -o "$tmp/time" "$@" "${compile[@]}" >/dev/null 2>&1; then
		awk '{ print $1, $2 + $3 }' "$tmp/time"
	else
		echo fail
	fi
	rm -f "$tmp"/ht* "$tmp/out.report" "$tmp/big.s"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds, $(wc -l <"$tmp/big.c") lines"
for r in $(seq "$rounds"); do
	for v in $variants; do
		run_one "$v" >>"$tmp/$v"
	done
done
for v in $variants; do
	if grep -q fail "$tmp/$v"; then
		echo "cc1.sh: cc1 under $v failed" >&2
		exit 1
	fi
	printf '%-16s wall %6.2f s  cpu %6.2f s\n' "$v" "$(cut -d' ' -f1 "$tmp/$v" | median)" \
		"$(cut -d' ' -f2 "$tmp/$v" | median)"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
