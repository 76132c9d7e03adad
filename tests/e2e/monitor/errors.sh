#!/bin/bash
# e2e: every error a user can cause gives ONE line on stderr that says what is wrong, and a
# non-zero exit status. usage: errors.sh MEMTOP LIBMEMTOP PHASES_EXE.  Prints TAP.
set -u
MEMTOP=$1 LIB=$2
n=0 failed=0
tmp=$(mktemp -d)
pids=()
# killed targets leave their segments: gc removes them (and only them: never a live process's)
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	"$MEMTOP" gc >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

# expect_error DESCRIPTION REGEX CMD...
expect_error() {
	local what=$1 re=$2; shift 2
	n=$((n + 1))
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	local rc=$? lines
	lines=$(wc -l <"$tmp/err")
	if [ "$rc" -ne 0 ] && [ "$lines" -eq 1 ] && grep -Eq -- "$re" "$tmp/err"; then
		echo "ok $n - $what: $(cat "$tmp/err")"
	else
		echo "not ok $n - $what: rc=$rc lines=$lines stderr: $(head -c 400 "$tmp/err" | tr '\n' '|')"
		failed=$((failed + 1))
	fi
}
ok() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi; }

# a pid that cannot exist (above pid_max)
expect_error "no such process" "no such process: 4194399" "$MEMTOP" -b -n 1 4194399

sleep 30 & pids+=($!); plain=$!
expect_error "process not traced" "not traced by memtop.*memtop inject [0-9]+.*memtop run -- CMD.*LD_PRELOAD" \
	"$MEMTOP" -b -n 1 "$plain"
expect_error "snapshot of a process not traced" "not traced by memtop" "$MEMTOP" snapshot "$plain"

# a traced process killed by SIGKILL leaves its segment: the next memtop command removes it first
LD_PRELOAD=$LIB sleep 30 & pids+=($!); dead=$!
for i in $(seq 200); do [ -e /dev/shm/memtop.$dead ] && break; sleep 0.01; done
kill -9 "$dead"; wait "$dead" 2>/dev/null
expect_error "a dead process, its segment removed first" "no such process: $dead" "$MEMTOP" -b -n 1 "$dead"
ok "the dead process's segment is gone" "[ ! -e /dev/shm/memtop.$dead ]"

# a segment that belongs to another user
LD_PRELOAD=$LIB sleep 30 & pids+=($!); other=$!
for i in $(seq 200); do [ -e /dev/shm/memtop.$other ] && break; sleep 0.01; done
chown 65534 /dev/shm/memtop.$other
if [ "$(id -u)" -eq 0 ]; then
	# a user who is not the owner (the file made readable so that the uid check, not the mode,
	# is what refuses it) is refused; root is let in with one notice naming the owner
	chmod 0666 /dev/shm/memtop.$other
	expect_error "segment of another user" "belongs to uid 65534" \
		setpriv --reuid 65533 --regid 65533 --clear-groups "$MEMTOP" -b -n 1 "$other"
	chmod 0600 /dev/shm/memtop.$other
	n=$((n + 1))
	"$MEMTOP" -b -n 1 "$other" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	if [ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "belongs to uid 65534.*root" "$tmp/err" &&
	   grep -q "state running" "$tmp/out"; then
		echo "ok $n - root attaches to another user's segment with a notice: $(cat "$tmp/err")"
	else
		echo "not ok $n - root and another user's segment: rc=$rc stderr: $(tr '\n' '|' <"$tmp/err")"
		failed=$((failed + 1))
	fi
else
	expect_error "segment of another user" "belongs to uid 65534|another user" "$MEMTOP" -b -n 1 "$other"
fi
"$MEMTOP" gc >/dev/null 2>&1
ok "gc never removes the segment of a live process" "[ -e /dev/shm/memtop.$other ]"
chown 0 /dev/shm/memtop.$other

# already monitored, with no live table to read beside the first monitor (MEMTOP_LIVE=off; with a
# table a second monitor reads it: e2e late-attach-exact)
MEMTOP_LIVE=off LD_PRELOAD=$LIB sleep 30 & pids+=($!); watched=$!
for i in $(seq 200); do [ -e /dev/shm/memtop.$watched ] && break; sleep 0.01; done
"$MEMTOP" -b -n 100 -d 0.1 "$watched" >/dev/null 2>&1 & pids+=($!); first=$!
sleep 0.5
expect_error "already monitored" "already monitored by memtop \\(pid $first\\)" "$MEMTOP" snapshot "$watched"
kill "$first" 2>/dev/null

# command line
expect_error "run without a command" "run needs a command" "$MEMTOP" run
expect_error "report without a command" "report needs a command after --: memtop report -- CMD" "$MEMTOP" report
expect_error "run of a missing program" "cannot run /nonexistent/prog: No such file" \
	"$MEMTOP" run -b -- /nonexistent/prog
expect_error "report of a missing program" "cannot run /nonexistent/prog" "$MEMTOP" report -- /nonexistent/prog
expect_error "missing preload" "--preload /nonexistent.so" "$MEMTOP" run --preload /nonexistent.so -- true
expect_error "bad -n" "-n needs a positive number" "$MEMTOP" -b -n zero 1
expect_error "bad -d" "-d needs a delay" "$MEMTOP" -b -d -1 1
expect_error "unknown option" "unknown option --bogus" "$MEMTOP" --bogus
expect_error "neither command nor pid" "'frobnicate' is neither a command nor a pid" "$MEMTOP" frobnicate
expect_error "snapshot without pid" "snapshot needs a pid" "$MEMTOP" snapshot
expect_error "symbolize without file" "symbolize needs one snapshot file" "$MEMTOP" symbolize
expect_error "symbolize of a missing file" "cannot read /nonexistent" "$MEMTOP" symbolize /nonexistent
expect_error "symbolize of a file that is no snapshot" "not a memtop snapshot" "$MEMTOP" symbolize /etc/hostname
expect_error "unwritable output" "cannot write /nonexistent/dir/x" "$MEMTOP" report -o /nonexistent/dir/x -- \
	sh -c "touch '$tmp/ran'"
# the report could never be written: the target must not run first (its status and work were lost)
n=$((n + 1))
if [ ! -e "$tmp/ran" ]; then echo "ok $n - report with an unwritable -o starts nothing"
else echo "not ok $n - report with an unwritable -o ran the target first"; failed=$((failed + 1)); fi

echo "1..$n"
[ "$failed" -eq 0 ]
