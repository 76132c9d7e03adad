#!/bin/bash
# e2e: a snapshot taken of a STRIPPED binary shows raw addresses; `memtop symbolize --sysroot DIR`
# resolves them offline with the unstripped copy under DIR (function, file:line, inline frames).
# usage: sysroot.sh MEMTOP LEAKS_EXE (unstripped) [OBJCOPY (one that reads LEAKS_EXE's machine)].
# Prints TAP.
set -u
MEMTOP=$1 PROG=$2 OBJCOPY=${3:-objcopy}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi; }

mkdir -p "$tmp/target/opt/app" "$tmp/sysroot$tmp/target/opt/app"
cp "$PROG" "$tmp/target/opt/app/leaks"
strip --strip-all "$tmp/target/opt/app/leaks"
cp "$PROG" "$tmp/sysroot$tmp/target/opt/app/leaks"   # the unstripped copy, same path under DIR

"$MEMTOP" report -o "$tmp/snap.txt" -- "$tmp/target/opt/app/leaks"
ok "report of the stripped binary exits 0" "[ $? -eq 0 ]"
ok "the stripped snapshot has no function names for the static sites" \
	"! grep -q leak_in_static $tmp/snap.txt"
ok "the stripped snapshot keeps raw addresses and module+offset" \
	"grep -Eq '^  #0 \\?\\? 0x[0-9a-f]+ $tmp/target/opt/app/leaks\\+0x[0-9a-f]+$' $tmp/snap.txt"
ok "the snapshot carries the memory map" "grep -q '^## maps' $tmp/snap.txt"

"$MEMTOP" symbolize --sysroot "$tmp/sysroot" "$tmp/snap.txt" >"$tmp/sym.txt" 2>"$tmp/err"
ok "symbolize exits 0" "[ $? -eq 0 ] && [ ! -s $tmp/err ]"
ok "site one resolved with file:line" "grep -Eq '^  #0 leak_in_static_one .*leaks.c:[0-9]+ 0x' $tmp/sym.txt"
ok "the inlined helper is expanded" \
	"grep -Eq '^  #0 inlined_helper .*leaks.c:[0-9]+ \\[inlined\\] 0x' $tmp/sym.txt && grep -Eq '^  #0 leak_in_static_two .*leaks.c:[0-9]+ 0x' $tmp/sym.txt"
ok "the caller frame is main" "grep -Eq '^  #1 main .*leaks.c:[0-9]+ 0x' $tmp/sym.txt"
ok "the numbers are unchanged" \
	"grep -q '^site [0-9]*: 333 bytes in 3 blocks' $tmp/sym.txt && grep -q '^site [0-9]*: 2222 bytes in 1 blocks' $tmp/sym.txt"
"$MEMTOP" symbolize "$tmp/snap.txt" >"$tmp/nosys.txt"
ok "without the sysroot the static sites stay unresolved" "! grep -q leak_in_static $tmp/nosys.txt"
# A separate debug file with compressed sections (as -dbg packages ship them), found by build-id
# under the sysroot: the same names and lines with no cache, when its decompressed copy is made, and
# when the copy is reused.
id=$(readelf -n "$PROG" 2>/dev/null | sed -n 's/^ *Build ID: //p')
dbg="$tmp/sysroot2/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
mkdir -p "$(dirname "$dbg")"
if [ -z "$id" ] ||
	! "$OBJCOPY" --only-keep-debug --compress-debug-sections=zlib "$PROG" "$dbg" 2>/dev/null; then
	for what in "a compressed separate debug file" "its decompressed copy" "the same names"; do
		n=$((n + 1))
		echo "ok $n - $what # SKIP no build-id, or $OBJCOPY cannot read $PROG"
	done
else
	MEMTOP_DEBUG_CACHE=off "$MEMTOP" symbolize --sysroot "$tmp/sysroot2" "$tmp/snap.txt" >"$tmp/c0.txt"
	ok "a compressed separate debug file resolves the static sites" \
		"grep -Eq '^  #0 leak_in_static_one .*leaks.c:[0-9]+ 0x' $tmp/c0.txt"
	MEMTOP_DEBUG_CACHE="$tmp/cache" "$MEMTOP" symbolize --sysroot "$tmp/sysroot2" "$tmp/snap.txt" >"$tmp/c1.txt"
	ok "... its decompressed copy is made, of the same build" \
		"[ -n '$id' ] && readelf -n $tmp/cache/$id.debug | grep -q 'Build ID: $id' && ! readelf -SW $tmp/cache/$id.debug | grep -q '\.debug_info .* C '"
	MEMTOP_DEBUG_CACHE="$tmp/cache" "$MEMTOP" symbolize --sysroot "$tmp/sysroot2" "$tmp/snap.txt" >"$tmp/c2.txt"
	ok "... names and lines are the same without the copy, making it and reusing it" \
		"cmp -s $tmp/c0.txt $tmp/c1.txt && cmp -s $tmp/c0.txt $tmp/c2.txt"
fi
# --no-symbols: raw addresses now, names later; the snapshot must still carry what symbolize needs
"$MEMTOP" report --no-symbols -o "$tmp/raw.txt" -- "$PROG"
ok "report --no-symbols exits 0 and names no function" "[ $? -eq 0 ] && ! grep -q leak_in_static $tmp/raw.txt"
# a program of another architecture runs under qemu-user, which maps its code without x (it runs
# translated copies): memtop, outside, sees that mapping as r--p
code=r-xp
[ "$(od -An -tu2 -j18 -N2 "$PROG")" = "$(od -An -tu2 -j18 -N2 /proc/$$/exe)" ] || code=r--p
ok "... its snapshot carries the memory map and the modules" \
	"grep -q ' $code .*$PROG\$' $tmp/raw.txt && grep -q '^module [0-9a-f]* .*$PROG\$' $tmp/raw.txt"
"$MEMTOP" symbolize "$tmp/raw.txt" >"$tmp/rawsym.txt" 2>"$tmp/err"
ok "symbolize resolves it later" "[ $? -eq 0 ] && grep -Eq '^  #0 leak_in_static_one .*leaks.c:[0-9]+ 0x' $tmp/rawsym.txt"
# a snapshot whose map is empty: one line saying it cannot be symbolized, non-zero
sed '/^## maps$/,/^## end$/{//!d}' "$tmp/raw.txt" >"$tmp/nomap.txt"
"$MEMTOP" symbolize "$tmp/nomap.txt" >/dev/null 2>"$tmp/err"
rc=$?
ok "symbolize of a snapshot with an empty map fails with one line: $(head -c 200 "$tmp/err")" \
	"[ $rc -ne 0 ] && [ \$(wc -l <$tmp/err) -eq 1 ] && grep -q 'memory map is empty' $tmp/err"
echo "1..$n"
[ "$failed" -eq 0 ]
