#!/bin/bash
# e2e: batch mode (plain-text refreshes, -n/-d), the final state after exit and after a crash, exit
# status pass-through, and quitting a monitor leaves the target running.
# usage: batch.sh MEMTOP LIBMEMTOP LEAKS_EXE CRASH_EXE DUPALLOC_EXE.  Prints TAP.
set -u
MEMTOP=$1 LIB=$2 LEAKS=$3 CRASH=$4 DUPALLOC=$5
tmp=$(mktemp -d)
cleanup() { rm -rf "$tmp"; if [ -n "${bg:-}" ]; then kill -9 "$bg" 2>/dev/null; wait "$bg" 2>/dev/null; "$MEMTOP" gc >/dev/null 2>&1; fi; }
trap cleanup EXIT
n=0 failed=0
ok() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi; }

"$MEMTOP" run -b -n 50 -d 0.1 -- "$LEAKS" >"$tmp/out" 2>"$tmp/err"
rc=$?
ok "run -b of a program that exits 0: status 0" "[ $rc -eq 0 ]"
ok "batch output shows the final state" "grep -q 'state exited(0)' $tmp/out"
ok "batch output shows the exact live figures" "grep -q '^live_bytes: 2555  live_blocks: 4 ' $tmp/out"
ok "batch output lists the top sites" "grep -Eq '^ +2222 +1 +1 +[0-9-]+  inlined_helper' $tmp/out"
ok "batch stops when the target is gone (fewer than 50 iterations)" "[ \$(grep -c '^memtop .* iteration' $tmp/out) -lt 50 ]"

# one refresh of a program that ends at once: its sites come named, not as raw addresses (three
# runs: the names once came only when the symbolizer happened to finish before the print)
named=0
for _ in 1 2 3; do
	"$MEMTOP" run -b -n 1 -- "$LEAKS" >"$tmp/one" 2>&1
	grep -Eq '^ +2222 +1 +1 +[0-9-]+  inlined_helper' "$tmp/one" && named=$((named + 1))
done
ok "run -b -n 1: the top sites are named in all 3 runs (got $named)" "[ $named -eq 3 ]"

"$MEMTOP" report -o "$tmp/crash.txt" -- "$CRASH" 2>"$tmp/err"
rc=$?
ok "report of a crashing program passes 128+SIGABRT through (got $rc)" "[ $rc -eq 134 ]"
ok "the snapshot says crashed, signal 6" "grep -q '^state: crashed' $tmp/crash.txt && grep -q '^term_signal: 6' $tmp/crash.txt"
ok "the final state is kept after the crash" "grep -q '^live_bytes: 1234' $tmp/crash.txt || grep -q '^site [0-9]*: 1234 bytes in 1 blocks' $tmp/crash.txt"

# duplicate allocations make the figures approximate: batch says how many, not only that
"$MEMTOP" run -b -n 5 -d 0.1 -- "$DUPALLOC" >"$tmp/dup" 2>"$tmp/duperr"
ok "batch of a target with 3 duplicate allocations counts them" \
	"grep 'state exited' -A2 $tmp/dup | grep -q ' lost_events: 0  duplicate_allocs: 3 (APPROXIMATE) '"

# report with no -o: the target's stdout is its own, the report goes to stderr
"$MEMTOP" report -- sh -c 'echo target-line; exit 3' >"$tmp/rout" 2>"$tmp/rerr"
rc=$?
ok "report passes the status through (3, got $rc)" "[ $rc -eq 3 ]"
ok "report leaves the target's stdout as a bare run's" "[ \"\$(cat $tmp/rout)\" = target-line ]"
ok "report writes its snapshot to stderr" "grep -q '^# memtop snapshot' $tmp/rerr && grep -q '^## end' $tmp/rerr"
"$MEMTOP" report -o - -- sh -c 'exit 0' >"$tmp/rout2" 2>/dev/null
ok "report -o - writes it to stdout" "grep -q '^# memtop snapshot' $tmp/rout2"

# ^C at the terminal reaches memtop and the target (one process group): the target's status comes
# through, and memtop does not claim it keeps running
# (^C once the target's trap is set: it says so with a file; up to 30 s on a loaded machine or qemu)
setsid "$MEMTOP" run -b -d 0.2 -- sh -c "trap 'exit 7' INT; : >$tmp/armed; while :; do sleep 0.1; done" \
	>"$tmp/int" 2>"$tmp/interr" & grp=$!
for _ in $(seq 300); do [ -e "$tmp/armed" ] && break; sleep 0.1; done
sleep 0.3
kill -INT -- -"$grp"
wait "$grp"; rc=$?
ok "run -b and its target interrupted together: the target's status 7 (got $rc), no 'keeps running'" \
	"[ $rc -eq 7 ] && ! grep -q 'keeps running' $tmp/interr"

# 30 s: it must outlive the checks below on a loaded machine or under qemu-user (killed at the end)
LD_PRELOAD=$LIB sleep 30 & bg=$!
for i in $(seq 200); do [ -e /dev/shm/memtop.$bg ] && break; sleep 0.01; done
"$MEMTOP" -b -n 3 -d 0.1 "$bg" >"$tmp/b2" 2>&1
rc=$?
ok "-b -n 3 on a running process: 3 iterations, status 0" "[ $rc -eq 0 ] && [ \$(grep -c '^memtop .* iteration' $tmp/b2) -eq 3 ]"
ok "the target keeps running after the monitor quits" "kill -0 $bg"
"$MEMTOP" -b -n 1 "$bg" >"$tmp/b3" 2>&1
ok "the claim was released: a second monitor attaches at once" "[ $? -eq 0 ] && grep -q 'state running' $tmp/b3"
# GNU option forms (the command line contract): bundled and attached short options, --opt=value
"$MEMTOP" -bn1 -d0.1 "$bg" >"$tmp/gnu" 2>&1
rc=$?
ok "memtop -bn1 -d0.1 PID: one refresh (rc $rc): $(head -n 1 $tmp/gnu)" \
	"[ $rc -eq 0 ] && [ \$(grep -c '^memtop .* iteration' $tmp/gnu) -eq 1 ]"
"$MEMTOP" report --preload="$LIB" --frames=4 -o"$tmp/eq.txt" -- true >"$tmp/gnu2" 2>&1
rc=$?
ok "report --preload=LIB --frames=4 -oFILE (rc $rc): $(head -n 1 $tmp/gnu2)" \
	"[ $rc -eq 0 ] && grep -q '^# memtop snapshot' $tmp/eq.txt"
"$MEMTOP" >"$tmp/list" 2>&1 </dev/null
ok "memtop alone lists the traced process" "grep -Eq '^ +$bg +traced' $tmp/list"
echo "1..$n"
[ "$failed" -eq 0 ]
