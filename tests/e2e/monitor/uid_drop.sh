#!/bin/bash
# e2e: a root process that allocates and then drops to nobody (setuid, seteuid, setreuid, setresuid,
# and in a fork child as nginx workers do) hands its segment to nobody: memtop still attaches, and
# its exit removes the segment (the sticky /dev/shm would refuse nobody a root-owned file).
# usage: uid_drop.sh MEMTOP LIBMEMTOP UID_DROP_PROG.  Exit 0 pass, 1 fail, 77 skip (not root).
set -u
MEMTOP=$1 LIB=$2 PROG=$3
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: dropping root needs root"
	exit 77
fi
tmp=$(mktemp -d)
chmod 755 "$tmp" # the target, once nobody, looks for its go file here
bg=
cleanup() { [ -n "$bg" ] && kill -9 "$bg" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
failed=0
check() { if eval "$2"; then echo "ok - $1"; else echo "FAIL - $1"; failed=1; fi; }

for mode in setuid seteuid setreuid setresuid fork-setuid fork-setresuid; do
	rm -f "$tmp/go"
	# emptied here, not only by the redirection below: that one runs in the background job,
	# and the wait could read the last mode's "dropped" line before it (fork-setuid failed so)
	: >"$tmp/out"
	LD_PRELOAD=$LIB "$PROG" "$mode" "$tmp/go" >"$tmp/out" 2>"$tmp/err" & bg=$!
	for _ in $(seq 1000); do grep -q dropped "$tmp/out" && break; sleep 0.01; done
	pid=$(sed -n 's/^dropped //p' "$tmp/out")
	check "$mode: the target dropped to nobody" "[ -n '$pid' ]"
	[ -n "$pid" ] || pid=$bg
	owner=$(stat -c %u "/dev/shm/memtop.$pid" 2>/dev/null)
	check "$mode: its segment now belongs to nobody (owner ${owner:-none})" "[ '$owner' = 65534 ]"
	"$MEMTOP" -b -n 1 "$pid" >"$tmp/b" 2>"$tmp/be"
	check "$mode: memtop -b still attaches" "grep -q 'state running' $tmp/b"
	touch "$tmp/go"
	wait "$bg"; rc=$?; bg=
	check "$mode: the target exits 0 (got $rc; $(head -c 200 "$tmp/err"))" "[ $rc -eq 0 ]"
	check "$mode: no segment left in /dev/shm" "[ ! -e /dev/shm/memtop.$pid ] && [ ! -e /dev/shm/memtop.$bg ]"
done
[ "$failed" -eq 0 ]
