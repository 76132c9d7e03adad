#!/bin/sh
# The monitor's folders are layers (monitor/README.md): a file may include headers of its own folder
# and of the folders below it, never above. session_internal.h stays inside monitor/session/.
#   tests/ci/layers.sh [SOURCE_ROOT]   exit 0: clean; 1: one line per include that breaks a layer.
set -u
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
# folder: the folders it may include (its own included)
allowed() {
	case $1 in
	proc) echo "proc" ;;
	engine) echo "proc engine" ;;
	symbols) echo "proc symbols" ;;
	session) echo "proc engine symbols session" ;;
	export) echo "proc engine symbols session export" ;;
	ui) echo "session" ;;
	inject) echo "proc inject" ;;
	cli) echo "proc engine symbols session export ui inject cli" ;;
	*) echo "" ;;
	esac
}
# One grep and one awk over the tree (a process per file took over 30 s on a loaded machine).
cd "$root" || exit 2
grep -rE --include='*.[ch]' '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z_]+/' monitor/*/ |
awk -v table="$(for d in monitor/*/; do l=$(basename "$d"); printf '%s=%s;' "$l" "$(allowed "$l")"; done)" '
BEGIN {
	n = split(table, rows, ";")
	for (r = 1; r <= n; r++)
		if (split(rows[r], kv, "=") == 2)
			allowed[kv[1]] = kv[2]
}
{
	file = $0; sub(/:.*/, "", file)
	split(file, parts, "/"); layer = parts[2]
	inc = $0; sub(/^[^"]*"/, "", inc); sub(/\/.*/, "", inc)
	# memtop/ is the public header folder (include/memtop/), open to every layer
	if (index(" " allowed[layer] " memtop ", " " inc " ") == 0) {
		printf "layers: %s includes %s/ (a %s file may include: %s)\n", file, inc, layer,
		       allowed[layer] == "" ? "none of the folders" : allowed[layer]
		bad = 1
	}
	if (layer != "session" && $0 ~ /session\/session_internal\.h/) {
		printf "layers: %s includes session/session_internal.h (private to monitor/session/)\n", file
		bad = 1
	}
}
END {
	if (!bad)
		print "layers: every include of monitor/ goes down the layers"
	exit bad
}'
