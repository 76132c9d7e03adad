#!/bin/bash
# e2e: the preload leaves glibc's allocator state alone. A program that reports whether its 1 MiB
# and 200 KB blocks are mmapped must print the same bare, under the preload, and under a consumer
# (the usable-size probe once freed large mmapped blocks, which raised glibc's mmap threshold).
# usage: check_mmap_threshold.sh LIBMEMTOP MTDUMP PROG   (prints TAP)
set -u
lib=$1 mtdump=$2 prog=$3
export MALLOC_PERTURB_=0
unset MEMTOP_WAIT
bare=$("$prog")
traced=$(LD_PRELOAD="$lib" "$prog")
dumped=$(MEMTOP_PRELOAD="$lib" "$mtdump" -o /dev/null -- "$prog")
echo "1..2"
n=0 fail=0
for run in "traced:$traced" "mtdump:$dumped"; do
	n=$((n + 1))
	name=${run%%:*} out=${run#*:}
	if [ -n "$bare" ] && [ "$out" = "$bare" ]; then
		echo "ok $n - $name: $out (bare: $bare)"
	else
		echo "not ok $n - $name: '$out', bare: '$bare'"
		fail=1
	fi
done
exit $fail
