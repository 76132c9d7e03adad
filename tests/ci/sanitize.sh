#!/bin/sh
# ASan + UBSan build of shm/, monitor/ and the tests, running the unit and e2e suites.
# The preload is never sanitized (an ASan runtime cannot sit behind LD_PRELOAD in a program built
# without it, and it would replace the very malloc we interpose): meson cannot drop b_sanitize
# for one target, so this script builds a plain tree as well and, before running the tests, puts
# the plain libmemtop.so and the plain target programs (everything the tests run UNDER the
# preload) in place of the sanitized ones. The consumers (memtop, mtdump, the e2e driver) and
# every unit test stay sanitized. The sanitized tree is a debug-assert build (-Dmemtop_debug=true):
# the contracts of the headers are checked too. Exits non-zero on any failure, sanitizer report
# or assert.
# usage: tests/ci/sanitize.sh [ASAN_BUILD_DIR] [PLAIN_BUILD_DIR]
set -eu
cd "$(dirname "$0")/../.."
ASAN_DIR=${1:-build-ci-asan}
PLAIN_DIR=${2:-build-ci-plain}
start=$(date +%s)

[ -f "$PLAIN_DIR/build.ninja" ] || meson setup "$PLAIN_DIR" -Dbuildtype=debugoptimized >/dev/null
ninja -C "$PLAIN_DIR" >/dev/null
if [ -f "$ASAN_DIR/build.ninja" ]; then
	meson configure "$ASAN_DIR" -Dmemtop_debug=true >/dev/null
else
	meson setup "$ASAN_DIR" -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug \
		-Dmemtop_debug=true >/dev/null
fi
ninja -C "$ASAN_DIR" >/dev/null

# What runs under LD_PRELOAD: the preload itself, and every program or library under tests/progs,
# tests/e2e and tests/real that is a target rather than a consumer. A consumer (memtop's engine,
# mtdump, the e2e driver) contains the segment reader shm_ring_pop; a target never does. This
# rule needs no list, so new e2e targets are handled as they are added.
swap() {
	cp -p "$PLAIN_DIR/$1" "$ASAN_DIR/$1"
}
swap preload/libmemtop.so
swapped=1
for f in $(find "$PLAIN_DIR/tests/progs" "$PLAIN_DIR/tests/e2e" "$PLAIN_DIR/tests/real" -type f \
	\( -perm -u+x -o -name '*.so' \) ! -path '*.p/*' 2>/dev/null); do
	head -c 4 "$f" | grep -q ELF || continue
	nm "$f" 2>/dev/null | grep -q ' shm_ring_pop$' && continue
	rel=${f#"$PLAIN_DIR"/}
	[ -f "$ASAN_DIR/$rel" ] || continue
	swap "$rel"
	swapped=$((swapped + 1))
done
echo "sanitize.sh: $swapped unsanitized files swapped in (preload + targets)"
# The swapped files must not be rebuilt by meson test: --no-rebuild below.

# halt on the first UBSan report; our SIGBUS guard must keep its own handler.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:handle_sigbus=0:allow_user_segv_handler=1:detect_stack_use_after_return=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$(pwd)/tests/ci/lsan.supp:print_suppressions=0}"
rc=0
meson test -C "$ASAN_DIR" --no-rebuild --suite unit --suite e2e --print-errorlogs || rc=$?
# A sanitizer report in a test that still passed (e.g. a child consumer) is a failure too.
if grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|memtop: assertion failed: " "$ASAN_DIR/meson-logs/testlog.txt" >/dev/null; then
	echo "sanitize.sh: sanitizer reports or asserts in $ASAN_DIR/meson-logs/testlog.txt:" >&2
	grep -E -A3 "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|memtop: assertion failed: " "$ASAN_DIR/meson-logs/testlog.txt" | head -60 >&2
	rc=1
fi
echo "sanitize.sh: $(( $(date +%s) - start )) s, exit $rc"
exit $rc
