#!/bin/bash
# e2e: targets the preload cannot reach. Known before the start (static, setuid, file capabilities,
# a script whose interpreter is static): refused with one line saying why, non-zero, nothing run.
# Found out later (it execs a static program, or makes no segment): it runs to its end, memtop says
# so once and passes its exit status through; nothing is killed.
# usage: untraceable.sh MEMTOP LIBMEMTOP DYNAMIC_PROG [STATIC_PROG]   (DYNAMIC_PROG: vfork_exec_fail)
# Prints TAP; parts that cannot run here are skipped with the reason.
set -u
MEMTOP=$1 LIB=$2 DYN=$3 STATIC=${4:-}
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
n=0 failed=0
ok() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# A target of another architecture than this shell runs under qemu-user (binfmt_misc): memtop sees an
# exec by /proc/PID/exe changing, but there it always names the emulator; and the kernel starts the
# emulator, not a setuid program (no secure mode). Those checks are for native runs only.
EMULATED=
[ "$(od -An -tu2 -j18 -N2 "$DYN")" = "$(od -An -tu2 -j18 -N2 /proc/$$/exe)" ] ||
	EMULATED="under qemu-user /proc/PID/exe names the emulator, so an exec to another program is not seen"
# refused DESCRIPTION REGEX CMD...: non-zero, exactly one stderr line matching REGEX
refused() {
	local what=$1 re=$2; shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	local rc=$?
	ok "$what: refused (rc $rc): $(head -c 300 "$tmp/err")" \
		"[ $rc -ne 0 ] && [ \$(wc -l <$tmp/err) -eq 1 ] && grep -Eq -- '$re' $tmp/err"
}

if [ -n "$STATIC" ]; then
	refused "report of a static program" "^memtop: .*static_exit is statically linked.*memtop cannot trace it$" \
		"$MEMTOP" report -- "$STATIC" 5 "$tmp/ran1"
	ok "the static program was not started" "[ ! -e $tmp/ran1 ]"
	refused "run -b of a static program" "statically linked" \
		"$MEMTOP" run -b -n 1 -- "$STATIC" 5 "$tmp/ran2"
	printf '#!%s\n' "$STATIC" >"$tmp/script"
	chmod 755 "$tmp/script"
	refused "a script whose interpreter is static" \
		"^memtop: .*script is a script, and its interpreter .*static_exit is statically linked.*cannot trace it$" \
		"$MEMTOP" report -- "$tmp/script"

	# exec into a static program later: it runs to its end, said once, status 7 passed through
	"$MEMTOP" report -o "$tmp/rep" -- sh -c "exec '$STATIC' 7 '$tmp/ran3'" >/dev/null 2>"$tmp/err"
	rc=$?
	ok "report: a target that execs a static program exits 7 through memtop (got $rc)" "[ $rc -eq 7 ]"
	ok "... it ran to its end (not killed)" "[ -e $tmp/ran3 ]"
	if [ -n "$EMULATED" ]; then
		skip "... said once, naming the reason" "$EMULATED"
	else
		ok "... said once, naming the reason: $(head -c 300 "$tmp/err")" \
			"[ \$(wc -l <$tmp/err) -eq 1 ] && grep -q 'exec.d a program memtop cannot trace: .*static_exit is statically linked.*waits for it' $tmp/err"
	fi
	ok "... the report of the traced image is written" "grep -q '^state: ' $tmp/rep"
	ok "... and it says how the process ended: exited, status 7 (not running)" \
		"grep -q '^state: exited$' $tmp/rep && grep -q '^exit_status: 7$' $tmp/rep"
	# the shell's segment belongs to an image that is gone: removed at the exec, not at the end
	if [ -n "$EMULATED" ]; then
		skip "the segment of the image before the exec goes at the exec" "$EMULATED"
		skip "run -b: the same target exits 7 through memtop, said once" "$EMULATED"
	else
	"$MEMTOP" run -b -d 0.1 -- sh -c "exec '$STATIC' 0 '$tmp/ran5' 3000" >/dev/null 2>&1 & mon=$!
	for _ in $(seq 200); do [ -n "$(pgrep -P $mon)" ] && break; sleep 0.01; done
	child=$(pgrep -P $mon)
	execd=0 # the static program runs in the child now
	for _ in $(seq 200); do [ "$(readlink /proc/$child/exe)" = "$(readlink -f "$STATIC")" ] && execd=1 && break; sleep 0.01; done
	for _ in $(seq 250); do [ -e /dev/shm/memtop.$child ] || break; sleep 0.01; done
	ok "the segment of the image before the exec goes at the exec (pid ${child:-none})" \
		"[ -n '$child' ] && [ $execd -eq 1 ] && [ ! -e $tmp/ran5 ] && [ ! -e /dev/shm/memtop.$child ]"
	wait $mon
	"$MEMTOP" run -b -d 0.1 -- sh -c "exec '$STATIC' 7 '$tmp/ran4'" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	ok "run -b: the same target exits 7 through memtop (got $rc), ran to its end, said once" \
		"[ $rc -eq 7 ] && [ -e $tmp/ran4 ] && [ \$(grep -c 'cannot trace' $tmp/err) -eq 1 ]"
	fi
else
	for t in "report of a static program" "run of a static program" "script with a static interpreter" \
		"exec into a static program (report)" "exec into a static program (run -b)"; do
		skip "$t" "-static does not link on this machine"
	done
fi

# setuid to another user: secure mode ignores LD_PRELOAD
if [ "$(id -u)" -ne 0 ]; then
	skip "setuid program" "needs root to make a setuid copy owned by nobody"
elif findmnt -no OPTIONS --target "$tmp" 2>/dev/null | grep -qw nosuid; then
	skip "setuid program" "$tmp is on a nosuid mount"
else
	cp "$DYN" "$tmp/suidprog"
	chown 65534 "$tmp/suidprog"
	chmod 4755 "$tmp/suidprog"
	refused "setuid program owned by nobody, run as root" \
		"^memtop: .*suidprog is setuid \\(owner uid 65534\\).*secure mode.*LD_PRELOAD.*cannot trace it$" \
		"$MEMTOP" report -- "$tmp/suidprog" -
	refused "the same found through PATH" "suidprog is setuid" \
		env PATH="$tmp:$PATH" "$MEMTOP" report -- suidprog -
fi

# a user's shell that execs a setuid-root program: the kernel makes the process undumpable, so its
# /proc/PID/exe can no longer be read by that user; memtop must still say so once and pass the
# status (3) through
if [ -n "$EMULATED" ]; then
	skip "a user's target that execs a setuid-root program" "binfmt_misc runs the emulator, not a setuid program"
elif [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	skip "a user's target that execs a setuid-root program" "needs root and setpriv"
elif findmnt -no OPTIONS --target "$tmp" 2>/dev/null | grep -qw nosuid; then
	skip "a user's target that execs a setuid-root program" "$tmp is on a nosuid mount"
else
	cp "$DYN" "$tmp/suidroot"
	chmod 4755 "$tmp/suidroot"
	setpriv --reuid 65534 --regid 65534 --clear-groups \
		"$MEMTOP" report -o /dev/null -- sh -c "exec '$tmp/suidroot' -" >/dev/null 2>"$tmp/err" </dev/null
	rc=$?
	ok "a user's target that execs a setuid-root program exits 3 through memtop (got $rc), said once: $(head -c 300 "$tmp/err")" \
		"[ $rc -eq 3 ] && [ \$(wc -l <$tmp/err) -eq 1 ] && grep -q 'exec.d a program memtop cannot trace: .*other user or group ids' $tmp/err"
fi

# file capabilities, for a user who is not root
if [ "$(id -u)" -ne 0 ] || ! command -v setcap >/dev/null || ! command -v setpriv >/dev/null; then
	skip "program with file capabilities" "needs root, setcap and setpriv"
else
	cp "$DYN" "$tmp/capprog"
	chmod 755 "$tmp/capprog"
	if setcap cap_net_bind_service+ep "$tmp/capprog" 2>/dev/null; then
		refused "program with file capabilities, run by a user" "capprog has file capabilities" \
			setpriv --reuid 65534 --regid 65534 --clear-groups "$MEMTOP" report -- "$tmp/capprog" -
	else
		skip "program with file capabilities" "setcap failed here"
	fi
fi

# exec into a program started without LD_PRELOAD: no new segment within 5 s (the target lives 12 s:
# 5 s from when memtop first sees the new image, with room for a loaded machine); it runs to its end,
# said once, its status (6) passed through
if [ -n "$EMULATED" ]; then
	skip "a target that execs with LD_PRELOAD dropped exits 6 through memtop, said once" "$EMULATED"
else
"$MEMTOP" report -o "$tmp/rep2" -- sh -c "unset LD_PRELOAD; exec timeout 30 sh -c 'sleep 12; touch $tmp/ran6; exit 6'" \
	>/dev/null 2>"$tmp/err"
rc=$?
ok "a target that execs with LD_PRELOAD dropped exits 6 through memtop (got $rc), ran to its end, said once: $(head -c 200 "$tmp/err")" \
	"[ $rc -eq 6 ] && [ -e $tmp/ran6 ] && [ \$(wc -l <$tmp/err) -eq 1 ] && grep -q 'made no usable segment in time' $tmp/err"
fi

# the same, ending at once (env -i clears LD_PRELOAD): no 5 s window to notice the exec; still said
# once, at the end, and its status (3) passed through
"$MEMTOP" report -o /dev/null -- env -i "$DYN" - >/dev/null 2>"$tmp/err"
rc=$?
ok "a target that execs with LD_PRELOAD dropped and ends at once exits 3 (got $rc), said once: $(head -c 200 "$tmp/err")" \
	"[ $rc -eq 3 ] && [ \$(wc -l <$tmp/err) -eq 1 ] && grep -q 'LD_PRELOAD dropped' $tmp/err"

# no segment ever (the preload is off in the target): its status passes through, said once
MEMTOP_DISABLE=1 "$MEMTOP" report -- "$DYN" - >/dev/null 2>"$tmp/err"
rc=$?
ok "a target that makes no segment exits 3 through memtop (got $rc), said once: $(head -c 200 "$tmp/err")" \
	"[ $rc -eq 3 ] && [ \$(wc -l <$tmp/err) -eq 1 ] && grep -q 'without a memtop segment' $tmp/err"
echo "1..$n"
[ "$failed" -eq 0 ]
