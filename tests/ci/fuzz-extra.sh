#!/bin/sh
# Fuzzes the monitor's /proc parsers (procmaps: maps, smaps, find, spread) and the snapshot parser
# behind `memtop symbolize` (tests/fuzz/extra/) with libFuzzer. Compiles the monitor engine and
# shm/ with clang directly (-fsanitize=fuzzer,address,undefined), whatever compiler meson uses.
# Seeds: this machine's own maps and smaps, and a snapshot written by memtop when a build has one.
#   tests/ci/fuzz-extra.sh [SECONDS_PER_HARNESS] [WORKDIR] [BUILD_DIR_WITH_MEMTOP]
# Defaults: 30 s each, build-fuzz-extra/, build-ci-plain/. Exit 0: no crash; 1: a crash
# (reproducer in WORKDIR/crashes/); 2: build error; 77: clang or libFuzzer missing (skip).
set -eu
secs=${1:-30}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${2:-$root/build-fuzz-extra}
build=${3:-$root/build-ci-plain}
cc=${CLANG:-clang}
start=$(date +%s)
command -v "$cc" >/dev/null 2>&1 || { echo "fuzz-extra: $cc not found, skipping (apt-get install clang)" >&2; exit 77; }
mkdir -p "$work/crashes"
deps=$(pkg-config --cflags --libs liburcu-memb liburcu-cds libdw zlib)
flags="-g -O1 -std=gnu11 -D_GNU_SOURCE -DMEMTOP_VERSION=\"fuzz\" -I$root/include -I$root/shm -I$root/monitor"
shm_src=$(ls "$root"/shm/*.c)
# every file of the layers below the CLI and the dashboard (monitor/README.md): a new file in those
# folders needs no edit here
engine_src=$(ls "$root"/monitor/proc/*.c "$root"/monitor/engine/*.c "$root"/monitor/symbols/*.c \
	"$root"/monitor/session/*.c "$root"/monitor/export/*.c)
for h in procmaps snapshot; do
	# shellcheck disable=SC2086
	if ! "$cc" $flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		$shm_src $engine_src "$root/tests/fuzz/extra/fuzz_$h.c" -o "$work/fuzz_$h" $deps -lpthread -lrt -lm \
		2>"$work/build-$h.log"; then
		cat "$work/build-$h.log" >&2
		grep -q "fuzzer" "$work/build-$h.log" && { echo "fuzz-extra: libFuzzer unavailable, skipping" >&2; exit 77; }
		exit 2
	fi
done

# seeds
mkdir -p "$work/corpus-procmaps" "$work/corpus-snapshot"
cp /proc/self/maps "$work/corpus-procmaps/maps"
head -c 60000 /proc/self/smaps >"$work/corpus-procmaps/smaps"
if [ -x "$build/monitor/memtop" ]; then
	"$build/monitor/memtop" report --blocks -o "$work/corpus-snapshot/true.snap" -- /bin/true >/dev/null 2>&1 || true
fi
{
	printf '# memtop snapshot\nformat_version: 2\npid: 1\n\n## sites\nsite 1: 10 bytes in 1 blocks\n'
	printf '  #0 f a.c:1 0x401000 /bin/true+0x1000\n  #1 ?? 0x7f0000001000\n'
	printf '\n## modules\nmodule 00ff /bin/true\nmodule - /dev/null\nmodule zz\n## maps\n'
	head -20 /proc/self/maps
	printf '## end\n'
} >"$work/corpus-snapshot/hand.snap"

rc=0
total=0
for h in procmaps snapshot; do
	log="$work/fuzz-$h.log"
	"$work/fuzz_$h" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/crashes/$h-" "$work/corpus-$h" 2>"$log" || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	echo "fuzz-extra: $h: ${runs:-?} executions in $secs s, exit $rc"
	total=$((total + ${runs:-0}))
	if [ "$rc" -ne 0 ]; then
		tail -40 "$log" >&2
		echo "fuzz-extra: CRASH in $h, reproducer in $work/crashes/" >&2
		break
	fi
done
echo "fuzz-extra: $total executions, $(( $(date +%s) - start )) s, exit $([ $rc -eq 0 ] && echo 0 || echo 1)"
[ "$rc" -eq 0 ] || exit 1
