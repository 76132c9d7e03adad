#!/bin/sh
# The preload under valgrind memcheck, for its own memory errors. By default valgrind replaces
# malloc in every object that defines it, libmemtop.so included, so the hooks would never run:
# --soname-synonyms=somalloc=nouserintercepts keeps valgrind's replacement on libc only, so the
# program calls our hooks, our hooks call libc's (valgrind's) malloc, and memcheck watches the
# hook code, the segment writes, unwinding and the constructor/destructor. The target programs
# check their own results (exact counters, same output), so a hook that misbehaved fails too.
# Exits non-zero on any memcheck error (suppressions, each with its reason: tests/ci/valgrind.supp).
# usage: tests/ci/valgrind.sh [BUILD_DIR]
set -eu
cd "$(dirname "$0")/../.."
DIR=${1:-build-ci-plain}
start=$(date +%s)
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind not found: apt-get install valgrind" >&2; exit 2; }
[ -f "$DIR/build.ninja" ] || meson setup "$DIR" >/dev/null
ninja -C "$DIR" >/dev/null
LIB=$(pwd)/$DIR/preload/libmemtop.so
T=$DIR/tests/stress/reliability/rel_target
PLUGIN=$DIR/tests/progs/libmemtop_test_plugin.so
SUPP=$(pwd)/tests/ci/valgrind.supp
rc=0
vg() {
	want=$1
	shift
	out=$(env LD_PRELOAD="$LIB" MALLOC_PERTURB_=0 DEBUGINFOD_URLS= timeout 600 valgrind -q \
		--error-exitcode=99 --soname-synonyms=somalloc=nouserintercepts --suppressions="$SUPP" \
		--child-silent-after-fork=no --trace-children=no "$@" 2>&1) && st=0 || st=$?
	if [ "$st" != "$want" ]; then
		echo "valgrind.sh: $* exited $st (wanted $want)" >&2
		echo "$out" | head -60 >&2
		rc=1
	elif echo "$out" | grep -q "exact=0"; then
		echo "valgrind.sh: $*: the hooks did not count every call under valgrind" >&2
		rc=1
	else
		echo "valgrind.sh: ok: $*"
	fi
}
vg 0 "$T" storm 2 300                   # the hooks at speed from two threads, exact counters
# (not "requests": valgrind's own allocator answers huge requests differently and aborts on pvalloc)
vg 0 "$T" churn 300                     # thread slots claimed and released
vg 0 "$T" dlopen 50 "$PLUGIN"           # dlopen/dlclose hooks
vg 0 "$T" forkstorm 2 2                 # fork without exec, children exit()
vg 23 "$T" threadexit                   # exit() from a thread while another allocates
vg 0 "$T" signals 100                   # handlers that allocate
vg 0 "$DIR/tests/progs/prog_api_demo"   # the public API

# With a monitor attached, so that the ring push, the stack table and unwinding run under memcheck
# too: the target waits for the monitor (MEMTOP_WAIT), memtop -b drains it to the end. env runs
# under valgrind as well (--trace-children) so the preload is set only for the target.
LOG=$(mktemp)
valgrind -q --error-exitcode=99 --soname-synonyms=somalloc=nouserintercepts \
	--suppressions="$SUPP" --trace-children=yes \
	env LD_PRELOAD="$LIB" MEMTOP_WAIT=30 MALLOC_PERTURB_=0 "$T" storm 2 300 >"$LOG" 2>&1 &
vpid=$! # the same process through the exec of env
i=0
while [ ! -e /dev/shm/memtop.$vpid ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
timeout 120 "$DIR/monitor/memtop" -b -d 0.5 $vpid >"$LOG.mon" 2>&1 || true
if wait $vpid && grep -q "exact=1" "$LOG" && grep -q "lost_events: 0" "$LOG.mon"; then
	echo "valgrind.sh: ok: storm with a monitor attached ($(grep -c iteration "$LOG.mon") refreshes)"
else
	echo "valgrind.sh: storm with a monitor attached failed:" >&2
	head -60 "$LOG" >&2
	tail -5 "$LOG.mon" >&2
	rc=1
fi
rm -f "$LOG" "$LOG.mon"
echo "valgrind.sh: $(( $(date +%s) - start )) s, exit $rc"
exit $rc
