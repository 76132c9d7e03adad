#!/bin/bash
# e2e: allocator wrappers are dropped from the top of stacks, so each site names who allocated:
# xmalloc (built in) shows as caller_a (300 B) and caller_b (400 B); a project's pool_get as
# caller_c once named with --skip-frames; --no-skip-frames keeps them; the folded export agrees.
# usage: wrappers.sh MEMTOP WRAPPROG.  Prints TAP.
set -u
MEMTOP=$1 PROG=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi; }
top() { grep -A1 "^site [0-9]*: $2 bytes in" "$1" | sed -n 's/^  #0 \([A-Za-z_]*\) .*/\1/p' | head -1; }

"$MEMTOP" report -o "$tmp/a.txt" -- "$PROG"
ok "report exits 0" "[ $? -eq 0 ]"
ok "xmalloc's sites read caller_a (300 B) and caller_b (400 B)" \
	"[ \"\$(top $tmp/a.txt 300)\" = caller_a ] && [ \"\$(top $tmp/a.txt 400)\" = caller_b ]"
ok "no stack starts with xmalloc" "! grep -q '^  #0 xmalloc ' $tmp/a.txt"
ok "pool_get is not a built-in wrapper" "[ \"\$(top $tmp/a.txt 300)\" = caller_a ] && grep -q '^  #0 pool_get ' $tmp/a.txt"
"$MEMTOP" report --skip-frames='pool_.*' -o "$tmp/b.txt" -- "$PROG"
ok "--skip-frames 'pool_.*': pool_get's site reads caller_c" \
	"! grep -q '^  #0 pool_get ' $tmp/b.txt && grep -q '^  #0 caller_c ' $tmp/b.txt"
"$MEMTOP" report --no-skip-frames -o "$tmp/c.txt" -- "$PROG"
ok "--no-skip-frames keeps xmalloc at the top" \
	"[ \"\$(top $tmp/c.txt 300)\" = xmalloc ] && [ \"\$(top $tmp/c.txt 400)\" = xmalloc ]"
"$MEMTOP" export --format folded "$tmp/a.txt" >"$tmp/a.folded"
ok "folded: main;caller_a 300 and main;caller_b 400" \
	"grep -q ';main;caller_a 300\$' $tmp/a.folded && grep -q ';main;caller_b 400\$' $tmp/a.folded"
"$MEMTOP" report --skip-frames='(' -o "$tmp/d.txt" -- "$PROG" 2>"$tmp/err"
rc=$?
ok "a bad regex: status 2, one line: $(head -c 100 "$tmp/err")" \
	"[ $rc -eq 2 ] && [ \$(wc -l <$tmp/err) -eq 1 ] && grep -q '^memtop: --skip-frames' $tmp/err"
echo "1..$n"
[ "$failed" -eq 0 ]
