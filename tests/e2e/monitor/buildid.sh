#!/bin/bash
# e2e: snapshots record each module's GNU build-id; `memtop symbolize` never names frames with a file
# of another build (one warning per module, its frames left raw, other modules still resolved;
# exit 1 when no module matches), finds a separate debug file by build-id under --sysroot DIR,
# and still symbolizes a format 1 snapshot (no build-ids) as before; a file replaced under a running
# target is never recorded with the new file's id.
# usage: buildid.sh MEMTOP LEAKS_EXE LEAKS_REBUILT_EXE LIBMEMTOP (both unstripped).  Prints TAP.
set -u
MEMTOP=$1 PROG=$2 REBUILT=$3 LIB=$4
export DEBUGINFOD_URLS=
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi; }
build_id() { readelf -n "$1" | sed -n 's/^ *Build ID: //p'; }
# every frame written as a stripped snapshot has it (no function, no file:line), so that a name in
# the output can only come from `memtop symbolize`
unresolve() { sed -E 's/^  #([0-9]+) .* (0x[0-9a-f]+ [^ ]+)$/  #\1 ?? \2/' "$1" | uniq >"$2"; }

app=$tmp/target/opt/app/leaks
mkdir -p "${app%/*}"
cp "$PROG" "$app"
strip --strip-all "$app"
id1=$(build_id "$app") id2=$(build_id "$REBUILT")
ok "the two builds have build-ids that differ" "[ -n '$id1' ] && [ -n '$id2' ] && [ '$id1' != '$id2' ]"

"$MEMTOP" report -o "$tmp/snap.txt" -- "$app"
ok "report of build 1 exits 0" "[ $? -eq 0 ]"
ok "the snapshot is format 3" "grep -qx 'format_version: 3' $tmp/snap.txt"
ok "the modules section records build 1's id for the program" "grep -qx 'module $id1 $app' $tmp/snap.txt"
libc=$(sed -n 's/^module [0-9a-f]* \(.*\/libc\.so\.6\)$/\1/p' "$tmp/snap.txt" | head -1)
ok "the modules section records libc's id" "[ -n '$libc' ] && grep -qx \"module $(build_id "$libc") $libc\" $tmp/snap.txt"
ok "a mapped file that is not ELF is recorded without an id" "grep -Eq '^module - /dev/shm/memtop\\.[0-9]+' $tmp/snap.txt"
unresolve "$tmp/snap.txt" "$tmp/raw.txt"
rm -f "$app" # symbolized "on another machine": the path only exists under the sysroot

# (a) the sysroot holds build 2 at the same path
mkdir -p "$tmp/other$tmp/target/opt/app"
cp "$REBUILT" "$tmp/other$app"
"$MEMTOP" symbolize --sysroot "$tmp/other" "$tmp/raw.txt" >"$tmp/a.txt" 2>"$tmp/a.err"
ok "symbolize against another build exits 0" "[ $? -eq 0 ]"
ok "one warning line, for the program's module" \
	"[ \$(wc -l <$tmp/a.err) -eq 1 ] && grep -Eqx 'memtop: symbolize: $app: build-id differs from the snapshot.s \\(snapshot $id1, $tmp/other$app has $id2\\); its frames are left unresolved' $tmp/a.err"
ok "the program's frames stay raw (no name from the other build)" \
	"! grep -q rebuilt_only $tmp/a.txt && grep -E '^  #[0-9]+ ' $tmp/a.txt | grep -F '$app+0x' >$tmp/a.prog && [ -s $tmp/a.prog ] && ! grep -Ev '^  #[0-9]+ \\?\\? 0x[0-9a-f]+ ' $tmp/a.prog"
ok "libc's frames are still resolved" "grep -Eq '^  #[0-9]+ __libc_start_[a-z_]+ .*libc\\.so\\.6\\+0x' $tmp/a.txt"
ok "the numbers are unchanged" \
	"grep -q '^site [0-9]*: 333 bytes in 3 blocks' $tmp/a.txt && grep -q '^site [0-9]*: 2222 bytes in 1 blocks' $tmp/a.txt"

# nothing matches at all: every recorded id is wrong
sed -E 's/^module [0-9a-f]+ /module 00ff00ff /' "$tmp/raw.txt" >"$tmp/wrong.txt"
"$MEMTOP" symbolize --sysroot "$tmp/other" "$tmp/wrong.txt" >"$tmp/w.txt" 2>"$tmp/w.err"
ok "no module matches: exit 1, one line, no output" \
	"[ $? -eq 1 ] && [ \$(wc -l <$tmp/w.err) -eq 1 ] && grep -q 'build-id' $tmp/w.err && [ ! -s $tmp/w.txt ]"

# (b) the sysroot holds the stripped build 1 and its debug file, found by build-id only
dbg=$tmp/sys/usr/lib/debug/.build-id/${id1:0:2}/${id1:2}.debug
mkdir -p "${dbg%/*}" "$tmp/sys$tmp/target/opt/app"
objcopy --only-keep-debug "$PROG" "$dbg"
cp "$PROG" "$tmp/sys$app"
strip --strip-all "$tmp/sys$app"
"$MEMTOP" symbolize --sysroot "$tmp/sys" "$tmp/raw.txt" >"$tmp/b.txt" 2>"$tmp/b.err"
ok "symbolize with the debug file by build-id exits 0, no warning" "[ $? -eq 0 ] && [ ! -s $tmp/b.err ]"
ok "site one resolved with file:line from the debug file" \
	"grep -Eq '^  #0 leak_in_static_one .*leaks\\.c:[0-9]+ 0x[0-9a-f]+ $app\\+0x' $tmp/b.txt"
ok "the inlined helper is expanded" \
	"grep -Eq '^  #0 inlined_helper .*leaks\\.c:[0-9]+ \\[inlined\\] 0x' $tmp/b.txt && grep -Eq '^  #1 main .*leaks\\.c:[0-9]+ 0x' $tmp/b.txt"

# a format 1 snapshot (no build-ids) is symbolized as before, unchecked
sed -e 's/^format_version: 3$/format_version: 1/' -e '/^## modules$/,/^$/d' "$tmp/raw.txt" >"$tmp/v1.txt"
mkdir -p "$tmp/good$tmp/target/opt/app"
cp "$PROG" "$tmp/good$app"
"$MEMTOP" symbolize --sysroot "$tmp/good" "$tmp/v1.txt" >"$tmp/v1.out" 2>"$tmp/v1.err"
ok "a format 1 snapshot symbolizes with the unstripped copy, no warning" \
	"[ $? -eq 0 ] && [ ! -s $tmp/v1.err ] && ! grep -q '^## modules' $tmp/v1.txt && grep -Eq '^  #0 leak_in_static_one .*leaks\\.c:[0-9]+ 0x' $tmp/v1.out"
# the program's file is replaced while it runs: the snapshot records the id of the file mapped
# (through /proc/PID/map_files when memtop may open it) or "-", never the new file's
SLEEP=$(command -v sleep) # through PATH: a cross build's tests put its architecture's sleep first
cp "$SLEEP" "$tmp/sleeper"
LD_PRELOAD=$LIB "$tmp/sleeper" 5 &
pid=$!
for _ in $(seq 50); do [ -e "/dev/shm/memtop.$pid" ] && break; sleep 0.1; done
cp "$REBUILT" "$tmp/new" && mv "$tmp/new" "$tmp/sleeper"
"$MEMTOP" snapshot "$pid" -o "$tmp/live.txt"
ok "snapshot of a running target exits 0" "[ $? -eq 0 ]"
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
"$MEMTOP" gc >/dev/null 2>&1 # the killed target could not remove its segment
sleep_id=$(build_id "$SLEEP")
ok "a replaced file is recorded with the mapped file's id or -, never the new one's" \
	"grep -Eqx \"module ($sleep_id|-) $tmp/sleeper( \\(deleted\\))?\" $tmp/live.txt && ! grep -q '$id2' $tmp/live.txt"
echo "1..$n"
[ "$failed" -eq 0 ]
