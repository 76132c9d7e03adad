#!/bin/sh
# The debug-assert build (-Dmemtop_debug=true: shm/debug_assert.h checks the contracts the headers
# state, in the preload, the segment library and the monitor) running the unit, e2e and stress
# suites (or those named after the directory), so that every run of them also checks ring tickets
# at commit, live-byte accounting, RCU read-side sections and the engine's single writer. A broken
# contract aborts the program with one "memtop: assertion failed: file:line: condition" line, which
# fails its test. Exits non-zero on any failure (and says which assert fired).
# usage: tests/ci/debug.sh [DEBUG_BUILD_DIR [SUITE...]]
set -eu
cd "$(dirname "$0")/../.."
DIR=${1:-build-ci-debug}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- unit e2e stress
suites=""
for s in "$@"; do
	suites="$suites --suite $s"
done
start=$(date +%s)
if [ -f "$DIR/build.ninja" ]; then
	meson configure "$DIR" -Dmemtop_debug=true >/dev/null
else
	meson setup --werror "$DIR" -Dmemtop_debug=true >/dev/null
fi
ninja -C "$DIR" >/dev/null
built=$(date +%s)
rc=0
# shellcheck disable=SC2086
meson test -C "$DIR" --print-errorlogs --num-processes 2 $suites || rc=$?
if grep -q "memtop: assertion failed: " "$DIR/meson-logs/testlog.txt"; then
	echo "debug.sh: asserts fired:" >&2
	grep "memtop: assertion failed: " "$DIR/meson-logs/testlog.txt" | sort | uniq -c | head -20 >&2
	rc=1
fi
echo "debug.sh: $(( built - start )) s to build," \
	"$(( $(date +%s) - built )) s of tests ($*), exit $rc"
exit $rc
