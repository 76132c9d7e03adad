#!/bin/sh
# The whole test run of CI and of the README's second command: every meson test suite in BUILD_DIR,
# then the build-level checks (the debug-assert build, sanitizers, TSan, cppcheck, valgrind, extra
# fuzzing, the arm64 cross build under qemu-user). Prints one closing line "N passed, M failed" and
# exits non-zero when anything failed.
# usage: tests/ci/all.sh BUILD_DIR
set -u
cd "$(dirname "$0")/../.."
BUILD=${1:-build-ci}
passed=0
failed=0
failures=""

# The stress suite runs once, in the debug-assert build below (the same optimisation, with the
# contracts checked): running it here as well doubled its 8 minutes for no new coverage.
meson test -C "$BUILD" --print-errorlogs --num-processes 2 --no-suite stress
rc=$?
json="$BUILD/meson-logs/testlog.json"
if [ -f "$json" ]; then
	set -- $(python3 - "$json" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL", "SKIP"):
        ok += 1
    else:
        bad += 1
print(ok, bad)
PY
)
	passed=$1
	failed=$2
fi
[ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1

check() {
	name=$1
	shift
	echo "== $name: $*"
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failures="$failures $name"
		echo "== $name FAILED"
	fi
}
# The debug-assert build (-Dmemtop_debug=true) runs the stress suite here (its only run), and the
# unit and e2e suites inside sanitize.sh: its ASan tree has the asserts on, and the preload and
# targets it swaps in come from this debug build, so every part runs them checked without a third
# e2e run.
check debug sh tests/ci/debug.sh build-ci-debug stress
check sanitize sh tests/ci/sanitize.sh build-ci-asan build-ci-debug
check tsan sh tests/ci/tsan.sh build-ci-tsan "$BUILD"
check lint sh tests/ci/lint.sh "$BUILD"
check valgrind sh tests/ci/valgrind.sh "$BUILD"
check fuzz-extra sh tests/ci/fuzz-extra.sh 15
check fuzz-segment sh tests/fuzz/run.sh 20 build-ci-fuzz
check aarch64 sh tests/ci/aarch64.sh build-ci-aarch64

[ -z "$failures" ] || echo "failed checks:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
