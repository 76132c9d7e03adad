#!/bin/bash
# e2e: an allocator preloaded before libmemtop.so (LD_PRELOAD="libjemalloc.so.2:libmemtop.so") takes
# malloc, and memtop would see nothing. The target says so once on stderr and marks its segment;
# memtop -b, snapshot and report say why the figures are zero. With libmemtop.so first, nothing
# is said. usage: allocator_order.sh MEMTOP LIBMEMTOP PROG (PROG: vfork_exec_fail, which waits
# for a file).  Exit 0 pass, 1 fail, 77 skip (no libjemalloc.so.2).
set -u
MEMTOP=$1 LIB=$2 PROG=$3
# the ELF machine of a file: jemalloc and python3 must be of the preload's architecture (a cross build)
machine() { od -An -tu2 -j18 -N2 "$1" 2>/dev/null | tr -d ' '; }
JE=
for d in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib; do
	[ -e "$d/libjemalloc.so.2" ] && [ "$(machine "$d/libjemalloc.so.2")" = "$(machine "$LIB")" ] &&
		JE=$d/libjemalloc.so.2 && break
done
if [ -z "$JE" ]; then
	echo "SKIP: libjemalloc.so.2 for the preload's architecture not installed (Debian package libjemalloc2)"
	exit 77
fi
tmp=$(mktemp -d)
bg=
cleanup() { [ -n "$bg" ] && kill -9 "$bg" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
failed=0
check() { if eval "$2"; then echo "ok - $1"; else echo "FAIL - $1"; failed=1; fi; }
wait_seg() { for _ in $(seq 500); do [ -e /dev/shm/memtop.$1 ] && grep -q vforked "$2" && return; sleep 0.01; done; }
NOTE='calls another malloc than libmemtop'

# jemalloc first: one line from the target, the flag seen by every monitor command
LD_PRELOAD="$JE:$LIB" "$PROG" "$tmp/go1" >"$tmp/out1" 2>"$tmp/err1" & bg=$!
wait_seg "$bg" "$tmp/out1"
"$MEMTOP" -b -n 1 "$bg" >"$tmp/b1" 2>"$tmp/be1"
check "memtop -b runs (rc $?)" "grep -q 'state running' $tmp/b1"
check "batch output says the allocator is not bound" "grep -q '^allocator: not-bound' $tmp/b1"
check "memtop -b says why on stderr, once" "[ \$(grep -c '$NOTE' $tmp/be1) -eq 1 ]"
"$MEMTOP" snapshot "$bg" -o "$tmp/snap1" 2>"$tmp/se1"
check "the snapshot header says so" "grep -q '^allocator: not-bound' $tmp/snap1"
touch "$tmp/go1"
wait "$bg"; rc=$?; bg=
check "the target runs as without memtop (status 3, got $rc)" "[ $rc -eq 3 ]"
check "the target warned once on stderr: $(head -c 200 "$tmp/err1")" \
	"[ \$(wc -l <$tmp/err1) -eq 1 ] && grep -q '^memtop: malloc is bound to .*libjemalloc.*put libmemtop.so first' $tmp/err1"

# libmemtop first: bound, nothing said
LD_PRELOAD="$LIB:$JE" "$PROG" "$tmp/go2" >"$tmp/out2" 2>"$tmp/err2" & bg=$!
wait_seg "$bg" "$tmp/out2"
"$MEMTOP" -b -n 1 "$bg" >"$tmp/b2" 2>"$tmp/be2"
check "libmemtop first: running, no allocator note" \
	"grep -q 'state running' $tmp/b2 && ! grep -q 'allocator' $tmp/b2 && ! grep -q '$NOTE' $tmp/be2"
touch "$tmp/go2"
wait "$bg"; rc=$?; bg=
check "libmemtop first: the target says nothing (status $rc)" "[ $rc -eq 3 ] && [ ! -s $tmp/err2 ]"

# a program that takes malloc's address (python3: a canonical PLT stub in the executable) binds
# ours with libmemtop first, and jemalloc's with jemalloc first
PY=$(readlink -f /usr/bin/python3 2>/dev/null)
if [ -x "$PY" ] && [ "$(machine "$PY")" != "$(machine "$LIB")" ]; then
	echo "skip - python3 cases: $PY is built for another architecture than the preload"
elif [ -x "$PY" ]; then
	LD_PRELOAD="$LIB" "$PY" -c pass 2>"$tmp/py1"
	check "python3 with libmemtop.so alone: nothing said" "[ ! -s $tmp/py1 ]"
	LD_PRELOAD="$JE:$LIB" "$PY" -c pass 2>"$tmp/py2"
	check "python3 with jemalloc first: said once" "[ \$(grep -c 'malloc is bound to .*libjemalloc' $tmp/py2) -eq 1 ]"
else
	echo "skip - python3 cases: no /usr/bin/python3"
fi

# report: the program exec'd (by env) with jemalloc first; the report says why it is empty
"$MEMTOP" report -o "$tmp/rep" -- env LD_PRELOAD="$JE:$LIB" "$PROG" - >/dev/null 2>"$tmp/re"
rc=$?
check "report passes the status through (3, got $rc)" "[ $rc -eq 3 ]"
check "report's stderr says why, once" "[ \$(grep -c '$NOTE' $tmp/re) -eq 1 ]"
check "the report's header says so" "grep -q '^allocator: not-bound' $tmp/rep"
[ "$failed" -eq 0 ]
