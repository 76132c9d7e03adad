#!/bin/sh
# ThreadSanitizer build of the ring stress test (tests/stress/ring/stress_ring): producer threads
# in one process, the consumer in a forked child, through a real shm segment. TSan sees the races
# between producer threads (reserve/commit on ring_head and cell seq); it cannot see the other
# process, so the ordering checks of the test itself cover the producer/consumer side; stress_barrier
# runs the consumer as a thread of the same process, so TSan sees both sides of the lanes, the
# dropping flags and the tag barriers.
# Counts are reduced from the meson test (TSan is 5-15x slower); the ring sizes are the same.
# Exits non-zero on a test failure or any TSan report.
# usage: tests/ci/tsan.sh [TSAN_BUILD_DIR]
set -eu
cd "$(dirname "$0")/../.."
DIR=${1:-build-ci-tsan}
start=$(date +%s)
[ -f "$DIR/build.ninja" ] || meson setup "$DIR" -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
ninja -C "$DIR" tests/stress/ring/stress_ring tests/stress/ring/stress_barrier >/dev/null
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
if grep -q "WARNING: ThreadSanitizer" "$LOG"; then
	echo "tsan.sh: ThreadSanitizer reports:" >&2
	grep -A25 "WARNING: ThreadSanitizer" "$LOG" | head -80 >&2
	rc=1
fi
[ $rc -eq 0 ] || tail -20 "$LOG" >&2
echo "tsan.sh: $(( $(date +%s) - start )) s, exit $rc"
exit $rc
