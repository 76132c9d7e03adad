#!/bin/bash
# e2e: a vfork child that fails to exec and calls _exit(127) runs in its parent's memory; its exit
# must not be taken for the parent's: the segment stays, memtop sees the parent running, and the
# final state and status are the parent's (3), with its exact live figures (1000 + 2000 B).
# usage: vfork.sh MEMTOP LIBMEMTOP VFORK_PROG.  Prints TAP.
set -u
MEMTOP=$1 LIB=$2 PROG=$3
tmp=$(mktemp -d)
bg=
cleanup() { [ -n "$bg" ] && kill -9 "$bg" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
n=0 failed=0
ok() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi; }
wait_line() { for _ in $(seq 1000); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.01; done; return 1; }

# 1. no monitor: the child's _exit must leave the parent's segment in place
LD_PRELOAD=$LIB "$PROG" "$tmp/go1" >"$tmp/out1" 2>&1 & bg=$!
wait_line vforked "$tmp/out1"
ok "the target vforked a child that exited 127" "grep -q vforked $tmp/out1"
ok "the parent's segment is still there after the child's _exit" "[ -e /dev/shm/memtop.$bg ]"
"$MEMTOP" -b -n 1 "$bg" >"$tmp/b1" 2>"$tmp/e1"
ok "memtop -b sees the parent running (rc $?)" "grep -q 'state running' $tmp/b1"
touch "$tmp/go1"
wait "$bg"; rc=$?; pid=$bg; bg=
ok "the parent's own status comes out (3, got $rc)" "[ $rc -eq 3 ]"
ok "the parent's exit removes its segment" "[ ! -e /dev/shm/memtop.$pid ]"

# 2. a monitor attached from the start: the final state is the parent's exit, not the child's
MEMTOP_WAIT=1 LD_PRELOAD=$LIB "$PROG" "$tmp/go2" >"$tmp/out2" 2>&1 & bg=$!
for _ in $(seq 500); do [ -e /dev/shm/memtop.$bg ] && break; sleep 0.01; done
"$MEMTOP" -b -d 0.1 "$bg" >"$tmp/b2" 2>"$tmp/e2" & mon=$!
wait_line vforked "$tmp/out2"
sleep 0.3
ok "the monitor shows the parent running after the child's _exit" \
	"tail -n 40 $tmp/b2 | grep -q 'state running' && ! grep -q 'exited(127)' $tmp/b2"
touch "$tmp/go2"
wait "$bg"; rc=$?; bg=
wait "$mon"; mrc=$?
ok "the target's status is its own (3, got $rc)" "[ $rc -eq 3 ]"
ok "the monitor ends with the parent's exit: exited(3) (rc $mrc)" \
	"grep 'state ' $tmp/b2 | tail -n 1 | grep -q 'state exited(3)'"
ok "the final live figures are the parent's: 3000 B in 2 blocks" \
	"grep '^live_bytes' $tmp/b2 | tail -n 1 | grep -q '^live_bytes: 3000  live_blocks: 2 '"

# 3. report: the parent's status passes through and the report holds its blocks
"$MEMTOP" report -o "$tmp/rep" -- "$PROG" - >/dev/null 2>"$tmp/e3"
rc=$?
ok "report passes the parent's status through (3, got $rc)" "[ $rc -eq 3 ]"
ok "the report's live figures are the parent's" \
	"grep -q '^live_bytes: 3000' $tmp/rep && grep -q '^exit_status: 3' $tmp/rep"
echo "1..$n"
[ "$failed" -eq 0 ]
