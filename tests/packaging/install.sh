#!/bin/bash
# packaging: `meson install --destdir` puts memtop, memtop-demo, libmemtop.so, the API header,
# memtop.pc, the manual page and the bash completion where they belong; a small program builds
# against the installed memtop.pc and runs, alone and under the installed memtop.
# usage: install.sh MESON BUILD_DIR CC [SANITIZE].  Prints TAP. SANITIZE (meson's b_sanitize):
# anything but none skips the run under memtop (a sanitizer runtime refuses a library preloaded
# ahead of it).
set -u
MESON=$1 BUILD=$2 CC=$3 SANITIZE=${4:-none}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi; }
dest=$tmp/dest
"$MESON" install -C "$BUILD" --no-rebuild --destdir "$dest" >"$tmp/log" 2>&1
ok "meson install --destdir (rc $?): $(tail -n 1 "$tmp/log")" "[ -d $dest ]"
found() { find "$dest" -path "$1" \( -type f -o -type l \) | head -n 1; }
bin=$(found '*/bin/memtop') demo=$(found '*/bin/memtop-demo') lib=$(found '*/libmemtop.so')
hdr=$(found '*/include/memtop/memtop.h') pc=$(found '*/pkgconfig/memtop.pc')
man=$(found '*/share/man/man1/memtop.1') comp=$(found '*/share/bash-completion/completions/memtop')
for f in bin demo lib hdr pc man comp; do
	ok "installed $f: ${!f:-missing}" "[ -n '${!f}' ]"
done
[ -n "$pc" ] || { echo "1..$n"; exit 1; }

# the .pc says prefix=/usr/local (or the build's prefix): point it into the destdir
prefix=$(sed -n 's/^prefix=//p' "$pc")
export PKG_CONFIG_PATH=$(dirname "$pc")
cflags=$(echo $(pkg-config --define-variable=prefix="$dest$prefix" --cflags memtop))
libs=$(echo $(pkg-config --define-variable=prefix="$dest$prefix" --libs memtop))
ok "pkg-config --cflags memtop: $cflags" "[ \"$cflags\" = '-I$dest$prefix/include' ]"
cat >"$tmp/t.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <memtop/memtop.h>
int main(void)
{
	struct memtop_stats st;
	free(malloc(100));
	void *kept = malloc(4242);
	printf("present %d stats %d\n", memtop_present(), memtop_stats(&st) == 0);
	return kept ? 0 : 1;
}
C
"$CC" $cflags -o "$tmp/t" "$tmp/t.c" $libs 2>"$tmp/cc"
ok "a program builds against the installed memtop.pc: $(head -c 300 "$tmp/cc" | tr '\n' '|')" \
	"[ -x $tmp/t ]"
ok "alone, the API says it is absent: $("$tmp/t")" "[ \"\$('$tmp/t')\" = 'present 0 stats 0' ]"
if [ "$SANITIZE" != none ]; then
	n=$((n + 1)); echo "ok $n - the installed memtop reports it # SKIP built with $SANITIZE"
	n=$((n + 1)); echo "ok $n - ... with the block it kept # SKIP built with $SANITIZE"
else
MALLOC_PERTURB_=0 "$bin" report --preload "$lib" -o "$tmp/rep" -- "$tmp/t" >"$tmp/out" 2>"$tmp/err"
ok "the installed memtop reports it (rc $?): $(cat "$tmp/out")" \
	"[ \"\$(cat $tmp/out)\" = 'present 1 stats 1' ] && grep -q '^live_bytes: ' $tmp/rep"
ok "... with the block it kept" "grep -q '4242 bytes in 1 blocks' $tmp/rep"
fi
ok "the installed manual page renders: $(LC_ALL=C MANWIDTH=80 man -l "$man" 2>&1 | head -n 1)" \
	"LC_ALL=C man -l $man 2>/dev/null | grep -q '^SYNOPSIS'"
echo "1..$n"
[ "$failed" -eq 0 ]
