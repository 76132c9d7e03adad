#!/bin/sh
# memtop for 64-bit ARM: installs the cross compiler, qemu-user and the arm64 libraries (the list is
# tests/ci/aarch64.packages), cross-builds the whole project (cross/aarch64-linux-gnu.ini, --werror)
# and runs the test suites under qemu-user: meson's exe_wrapper starts each test program, binfmt_misc
# every arm64 program a test starts in turn. Closes with one line "N passed, M failed"; non-zero on
# any failure (a test failed is run once more, alone, and named). Skipped tests (meson exit 77 or
# TAP "1..0 # SKIP") are listed with their reason.
# It must stay quiet and idempotent: a second run installs nothing and rebuilds only what changed.
# qemu-user runs ARM code with the host's memory ordering: see README.md for what it cannot show.
# usage: tests/ci/aarch64.sh [BUILD_DIR]        (as root on Debian 12 x86_64)
set -u
cd "$(dirname "$0")/../.."
BUILD=${1:-build-ci-aarch64}
# unit and e2e by default (e2e holds real-arm64-sort, a real arm64 program with exact figures); the
# real suite's other tests trace this machine's x86_64 programs and skip, or take an hour under
# qemu (AARCH64_SUITES='unit e2e real' runs them)
SUITES=${AARCH64_SUITES:-unit e2e}
start=$(date +%s)
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
say() { echo "aarch64.sh: $*"; }
die() { # die WHAT: the step that failed, the end of its output, the closing line
	say "$1 failed:" >&2
	tail -25 "$LOG" >&2
	echo "0 passed, 1 failed"
	exit 1
}

# ---- 1. packages: arm64 as a foreign architecture, then whatever of the list is missing ----
missing=""
dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64 || die "dpkg --add-architecture arm64"; }
for p in $(grep -v '^#' tests/ci/aarch64.packages); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } >"$LOG" 2>&1 ||
		die "apt-get install"
fi

# ---- 2. binfmt_misc: the kernel hands arm64 programs to qemu (tests start them by path) ----
BFM=/proc/sys/fs/binfmt_misc
[ -e $BFM/register ] || mount -t binfmt_misc binfmt_misc $BFM >"$LOG" 2>&1
if [ ! -e $BFM/qemu-aarch64 ] && [ -e $BFM/register ]; then
	cat /usr/lib/binfmt.d/qemu-aarch64.conf >$BFM/register 2>"$LOG"
fi
binfmt=1
[ -e $BFM/qemu-aarch64 ] && grep -qx enabled $BFM/qemu-aarch64 || binfmt=0

# ---- 3. arm64 userland for tests: Debian's own arm64 sort, and the sh, sleep, env... that e2e tests
#         start under the preload (a host x86_64 program cannot load the arm64 libmemtop.so) ----
ROOT=$PWD/$BUILD/arm64-root
if [ ! -x "$ROOT/bin/sh" ]; then
	rm -rf "$ROOT" && mkdir -p "$ROOT/debs" "$ROOT/bin"
	# (the package lists may be older than the archive: refreshed once on a failure)
	(cd "$ROOT/debs" && { apt-get download coreutils:arm64 dash:arm64 ||
		{ apt-get update -qq && apt-get download coreutils:arm64 dash:arm64; }; }) >"$LOG" 2>&1 ||
		die "apt-get download"
	for d in "$ROOT"/debs/*.deb; do dpkg-deb -x "$d" "$ROOT/sysroot" || die "dpkg-deb -x $d"; done
	for t in sleep env true false timeout touch cat sort seq; do
		for dir in usr/bin bin; do
			[ -x "$ROOT/sysroot/$dir/$t" ] && ln -sf "../sysroot/$dir/$t" "$ROOT/bin/$t" && break
		done
	done
	ln -sf ../sysroot/bin/dash "$ROOT/bin/sh"
fi

# ---- 4. cross build ----
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup --werror --cross-file cross/aarch64-linux-gnu.ini "$BUILD" >"$LOG" 2>&1 || die "meson setup"
fi
ninja -C "$BUILD" -j2 >"$LOG" 2>&1 || die "cross build"
built=$(date +%s)
say "cross-built in $((built - start)) s (qemu $(qemu-aarch64-static --version | head -n 1 | awk '{print $3}'))"

# ---- 5. the suites under qemu-user ----
suite_args=""
if [ "$binfmt" -eq 1 ]; then
	for s in $SUITES; do suite_args="$suite_args --suite $s"; done
else
	say "SKIP every suite but unit: binfmt_misc cannot be set up here (no arm64 program a test starts could run)"
	suite_args="--suite unit"
fi
# The tests find the arm64 programs through PATH and the sort package through MEMTOP_TEST_ARM64_ROOT.
# Emulation is 5-10x slower: the time limits are tripled (a passing test takes no longer for it).
FAILED=$(mktemp)
trap 'rm -f "$LOG" "$FAILED"' EXIT
run_tests() { # run_tests MESON_TEST_ARGS...: the tests under qemu-user, output in $LOG
	PATH=$ROOT/bin:$PATH MEMTOP_TEST_ARM64_ROOT=$ROOT/sysroot \
		meson test -C "$BUILD" --no-rebuild --print-errorlogs --timeout-multiplier 3 "$@" >"$LOG" 2>&1
}
tally() { # prints "passed failed skipped" of the last run, names each skip, failed names in $FAILED
	python3 - "$BUILD/meson-logs/testlog.json" "$FAILED" <<'PY'
import json, sys
ok = bad = skip = 0
failed = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["result"] == "SKIP":
        skip += 1
        out = [l for l in (r.get("stdout") or "").splitlines() if "SKIP" in l.upper()]
        why = out[-1].strip() if out else "(no reason printed)"
        print("aarch64.sh: skipped %s: %s" % (r["name"], why[:200]), file=sys.stderr)
    elif r["result"] in ("OK", "EXPECTEDFAIL"):
        ok += 1
    else:
        bad += 1
        failed.append(r["name"].split(" / ")[-1])
open(sys.argv[2], "w").write(" ".join(failed))
print(ok, bad, skip)
PY
}
run_tests --num-processes 2 $suite_args
rc=$?
set -- $(tally)
passed=${1:-0} failed=${2:-1} skipped=${3:-0}
[ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
# A failed test runs once more, alone: tests that wait on other processes for a bounded time can
# miss under a 5-10x slower emulator on a loaded machine. Each retry is named; only a test that
# fails twice counts as failed.
if [ "$failed" -gt 0 ] && [ -s "$FAILED" ]; then
	first=$(cat "$FAILED")
	say "failed once, run again alone: $first"
	run_tests --num-processes 1 $first
	rc=$?
	set -- $(tally 2>/dev/null)
	passed=$((passed + ${1:-0})) failed=${2:-1}
	[ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
	for t in $first; do
		case " $(cat "$FAILED") " in *" $t "*) ;; *) say "$t passed on its second run" ;; esac
	done
fi
# each failure once, with its log (meson repeats the list in its summary)
[ "$failed" -eq 0 ] || sed '/^Summary of Failures/,$d' "$LOG" |
	grep -A40 -E '^ *[0-9]+/[0-9]+ .* (FAIL|ERROR|TIMEOUT) ' | head -200
say "suites:$suite_args; $skipped skipped under qemu-user; $(( $(date +%s) - built )) s of tests, $(( $(date +%s) - start )) s in all"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
