#!/bin/bash
# e2e: C++ names are demangled wherever memtop shows them: the snapshot of a C++ program names
# `operator new(unsigned long)` (libstdc++'s symbol _Znwm), no frame is left in the _Z form, and
# the folded export carries the same names.   usage: demangle.sh MEMTOP CXX_PROG.  Prints TAP.
set -u
MEMTOP=$1 PROG=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi; }

# --no-skip-frames: operator new is an allocator wrapper, dropped from the top by default
"$MEMTOP" report --no-skip-frames --all-sites -o "$tmp/snap.txt" -- "$PROG" >/dev/null
ok "report of the C++ program exits 0" "[ $? -eq 0 ]"
ok "operator new is named, demangled" "grep -Eq '^  #0 operator new\\(unsigned long\\) ' $tmp/snap.txt"
ok "no frame keeps a mangled name" "! grep -Eq '^  #[0-9]+ _Z' $tmp/snap.txt"
"$MEMTOP" export --format folded --value allocs "$tmp/snap.txt" >"$tmp/folded"
ok "the folded export carries the demangled name" \
	"grep -Eq ';operator new\\(unsigned long\\) [0-9]+$' $tmp/folded && ! grep -q ';_Z' $tmp/folded"
echo "1..$n"
[ "$failed" -eq 0 ]
