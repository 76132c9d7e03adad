#!/bin/sh
# Fuzzes the segment validator and the monitor's bounds-checked readers with libFuzzer.
# Compiles shm/ and the harness with clang directly (-fsanitize=fuzzer,address,undefined), so it
# works whatever compiler the meson build uses.
#   tests/fuzz/run.sh [SECONDS] [WORKDIR]     default 60 s, WORKDIR default build-fuzz/
# Exit 0: no crash; 1: a crash (reproducer in WORKDIR/crashes/); 77: clang/libFuzzer missing (skip).
set -eu
secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${2:-$root/build-fuzz}
cc=${CLANG:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
	echo "fuzz: $cc not found, skipping (apt-get install clang)" >&2
	exit 77
fi
mkdir -p "$work/corpus" "$work/crashes"
flags="-g -O1 -std=gnu11 -D_GNU_SOURCE -I$root/include -I$root/shm -Wall -Wextra"
# every shm/ file, as tests/ci/fuzz-extra.sh does: a new file (shm/lanes.c) needs no edit here
shm_src=$(ls "$root"/shm/*.c)
# shellcheck disable=SC2086
if ! "$cc" $flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	$shm_src "$root/tests/fuzz/fuzz_segment.c" -o "$work/fuzz_segment" -lpthread -lm 2>"$work/build.log"; then
	if grep -q "fuzzer" "$work/build.log"; then
		cat "$work/build.log" >&2
		echo "fuzz: libFuzzer unavailable, skipping" >&2
		exit 77
	fi
	cat "$work/build.log" >&2
	exit 2
fi
# shellcheck disable=SC2086
"$cc" $flags $shm_src "$root/tests/fuzz/make_seed.c" -o "$work/make_seed" -lpthread -lm
"$work/make_seed" "$work/corpus"
# Real images are ~25 KiB with the small geometry; let the fuzzer grow inputs that far.
rc=0
"$work/fuzz_segment" -max_total_time="$secs" -max_len=40000 -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$work/crashes/" "$work/corpus" 2>"$work/fuzz.log" || rc=$?
grep -E "^stat::number_of_executed_units|^stat::peak_rss|Done [0-9]+ runs|ERROR|SUMMARY" "$work/fuzz.log" >&2 || true
if [ "$rc" -ne 0 ]; then
	tail -40 "$work/fuzz.log" >&2
	echo "fuzz: CRASH (exit $rc), reproducer in $work/crashes/" >&2
	exit 1
fi
echo "fuzz: no crash in $secs s" >&2
