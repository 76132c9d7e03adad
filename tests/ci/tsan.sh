#!/bin/sh
# ThreadSanitizer build of the ring stress test (tests/stress/ring/stress_ring): producer threads
# in one process, the consumer in a forked child, through a real shm segment. TSan sees the races
# between producer threads (reserve/commit on ring_head and cell seq); it cannot see the other
# process, so the ordering checks of the test itself cover the producer/consumer side; stress_barrier
# runs the consumer as a thread of the same process, so TSan sees both sides of the lanes, the
# dropping flags and the tag barriers.
# Counts are reduced from the meson test (TSan is 5-15x slower); the ring sizes are the same.
# Then the monitor: the TSan build of memtop on real traced targets. The dashboard in tmux runs its
# UI thread, query worker, ingest thread and symbolizer together through every view (walks with a
# mark, the heat map while the target runs and after it exits, suspects, a snapshot), then batch
# mode, snapshot and report (through exec). The preload and the targets come from a plain build: a
# TSan library cannot be preloaded into an uninstrumented program. liburcu is not built with TSan:
# monitor/rcu_tsan.* make its publication and grace periods visible (tsan.supp: what is left
# wholly inside liburcu).
# The TSan tree is a debug-assert build (-Dmemtop_debug=true): the contracts of the headers are
# checked in the same runs. Exits non-zero on a test failure, any TSan report or an assert.
# usage: tests/ci/tsan.sh [TSAN_BUILD_DIR [PLAIN_BUILD_DIR]]
set -eu
cd "$(dirname "$0")/../.."
DIR=${1:-build-ci-tsan}
PLAIN=${2:-build-ci}
start=$(date +%s)
if [ -f "$DIR/build.ninja" ]; then
	meson configure "$DIR" -Dmemtop_debug=true >/dev/null
else
	meson setup "$DIR" -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debugoptimized \
		-Dmemtop_debug=true >/dev/null
fi
ninja -C "$DIR" tests/stress/ring/stress_ring tests/stress/ring/stress_barrier monitor/memtop >/dev/null
[ -f "$PLAIN/build.ninja" ] || meson setup "$PLAIN" >/dev/null
ninja -C "$PLAIN" preload/libmemtop.so tests/tui/tui_target monitor/ui/memtop-demo tests/progs/prog_threads \
	tests/e2e/monitor/e2e_mon_execchain >/dev/null
BIN=$DIR/tests/stress/ring/stress_ring
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
rc=0
run() {
	echo "tsan.sh: stress_ring $*"
	if ! timeout 300 "$BIN" "$@" >>"$LOG" 2>&1; then
		echo "tsan.sh: stress_ring $* FAILED" >&2
		rc=1
	fi
}
run order 4 1000000 256     # 4 M events, ~15,600 laps of a 256-cell ring
run order 3 400000 64       # the minimum ring: producers wait on a full ring all the time
run causal 3 400000 64      # cross-thread malloc -> free -> malloc handoffs
echo "tsan.sh: stress_barrier 3 100000"
if ! timeout 300 "$DIR/tests/stress/ring/stress_barrier" 3 100000 >>"$LOG" 2>&1; then
	echo "tsan.sh: stress_barrier FAILED" >&2
	rc=1
fi

# ---- the monitor ----
MONLOG=$(mktemp -d)
trap 'rm -f "$LOG"; rm -rf "$MONLOG"' EXIT
MEMTOP=$DIR/monitor/memtop
LIB=$PLAIN/preload/libmemtop.so
MON_TSAN="halt_on_error=0:second_deadlock_stack=1:log_path=$MONLOG/tsan:suppressions=$PWD/tests/ci/tsan.supp"
export MALLOC_PERTURB_=0 DEBUGINFOD_URLS=
mon() { # mon WHAT STATUS CMD...: runs CMD with the monitor's TSan options, expects STATUS
	echo "tsan.sh: memtop $1"
	want=$2
	shift 2
	st=0
	TSAN_OPTIONS=$MON_TSAN timeout 300 "$@" >>"$LOG" 2>&1 || st=$?
	if [ "$st" -ne "$want" ]; then
		echo "tsan.sh: memtop FAILED (status $st, expected $want): $*" >&2
		rc=1
	fi
}
if command -v tmux >/dev/null; then
	for t in views_through_exit header_views incremental; do
		mon "dashboard: $t" 0 python3 tests/tui/tui_tests.py --memtop "$MEMTOP" --preload "$LIB" \
			--target "$PLAIN/tests/tui/tui_target" --demo "$PLAIN/monitor/ui/memtop-demo" "$t" 80x24
	done
else
	echo "tsan.sh: no tmux: the dashboard part is skipped" >&2
fi
LD_PRELOAD=$LIB "$PLAIN/tests/tui/tui_target" "$MONLOG/pid" & bg=$!
for i in $(seq 500); do [ -s "$MONLOG/pid" ] && [ -e /dev/shm/memtop.$bg ] && break; sleep 0.01; done
mon "batch on a running target" 0 "$MEMTOP" -b -n 4 -d 0.2 "$bg"
mon "snapshot of a running target" 0 "$MEMTOP" snapshot "$bg" -o /dev/null --blocks --heatmap
kill -USR2 "$bg"
wait "$bg" || true
mon "report of a threaded target" 0 "$MEMTOP" report -o /dev/null --preload "$LIB" -- "$PLAIN/tests/progs/prog_threads"
mon "report through 5 execs" 40 "$MEMTOP" report -o /dev/null --preload "$LIB" -- \
	"$PLAIN/tests/e2e/monitor/e2e_mon_execchain" 5
if ls "$MONLOG"/tsan.* >/dev/null 2>&1; then
	cat "$MONLOG"/tsan.* >>"$LOG"
	echo "tsan.sh: memtop: $(cat "$MONLOG"/tsan.* | grep -c 'WARNING: ThreadSanitizer') TSan reports" >&2
fi

if grep -q "memtop: assertion failed: " "$LOG"; then
	echo "tsan.sh: asserts fired:" >&2
	grep "memtop: assertion failed: " "$LOG" | sort | uniq -c | head -20 >&2
	rc=1
fi
if grep -q "WARNING: ThreadSanitizer" "$LOG"; then
	echo "tsan.sh: ThreadSanitizer reports:" >&2
	grep -A25 "WARNING: ThreadSanitizer" "$LOG" | head -80 >&2
	rc=1
fi
[ $rc -eq 0 ] || tail -20 "$LOG" >&2
echo "tsan.sh: $(( $(date +%s) - start )) s, exit $rc"
exit $rc
