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
bad=0
for dir in "$root"/monitor/*/; do
	layer=$(basename "$dir")
	ok=$(allowed "$layer")
	for f in $(find "$dir" -name '*.[ch]'); do
		rel=${f#"$root"/}
		# memtop/ is the public header folder (include/memtop/), open to every layer
		for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z_]*\)\/.*".*/\1/p' "$f" | sort -u); do
			case " $ok memtop " in
			*" $inc "*) ;;
			*) echo "layers: $rel includes $inc/ (a $layer file may include: ${ok:-none of the folders})"
			   bad=1 ;;
			esac
		done
		if [ "$layer" != session ] && grep -q '#include "session/session_internal.h"' "$f"; then
			echo "layers: $rel includes session/session_internal.h (private to monitor/session/)"
			bad=1
		fi
	done
done
[ $bad -eq 0 ] && echo "layers: every include of monitor/ goes down the layers"
exit $bad
