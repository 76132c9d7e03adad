#!/bin/bash
# e2e: frames in a library loaded by dlopen after attach are symbolized (the monitor reads the map
# again on the MAPS_CHANGED event), and the snapshot's map lists the library for offline use.
# Limitation: a library loaded just before the process exits can only be resolved if the monitor
# read the map while the process was alive; the target does not wait for its monitor at exit.
# usage: dlopen.sh MEMTOP DLOPENER PLUGIN.  Prints TAP.
set -u
MEMTOP=$1 DLOPENER=$2 PLUGIN=$(readlink -f "$3")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi; }
"$MEMTOP" report -o "$tmp/s.txt" -- "$DLOPENER" "$PLUGIN"
ok "report exits 0" "[ $? -eq 0 ]"
ok "the plugin's site is exact" "grep -q '^site [0-9]*: 4321 bytes in 1 blocks' $tmp/s.txt"
ok "its frame is symbolized with file:line in the plugin" \
	"grep -Eq '^  #0 plugin_alloc .*plugin.c:[0-9]+ 0x[0-9a-f]+ $PLUGIN\\+0x' $tmp/s.txt"
ok "the snapshot's map lists the plugin" "sed -n '/^## maps/,\$p' $tmp/s.txt | grep -q '$PLUGIN'"
echo "1..$n"
[ "$failed" -eq 0 ]
