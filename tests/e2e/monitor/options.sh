#!/bin/bash
# e2e: the command line as GNU getopt_long reads it (--opt=value, --opt value, bundled and attached
# short options, -v, -h listing every option), `report ls` told to put -- first, report's output
# on stderr or -o FILE with the target's stdout left alone, and the exit status (120) of a report
# whose ring overflowed. usage: options.sh MEMTOP LIBMEMTOP ALLOCS_PROG STORM_PROG.  Prints TAP.
set -u
MEMTOP=$1 LIB=$2 ALLOCS=$3 STORM=$4
export MEMTOP_PRELOAD=$LIB
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi; }
# usage_error DESCRIPTION REGEX ARGS...: status 2, exactly one stderr line matching REGEX
usage_error() {
	local what=$1 re=$2; shift 2
	"$MEMTOP" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	local rc=$?
	ok "$what (rc $rc): $(head -c 200 "$tmp/err" | tr '\n' '|')" \
		"[ $rc -eq 2 ] && [ \$(wc -l <$tmp/err) -eq 1 ] && grep -Eq -- '$re' $tmp/err"
}
frames_max() { grep -Eo '^  #[0-9]+ ' "$1" | tr -d ' #' | sort -n | tail -n 1; }

# long options with = and with a separate value, attached short value
"$MEMTOP" report --frames=1 --output="$tmp/f1.txt" -- "$ALLOCS" >/dev/null 2>"$tmp/err"
ok "report --frames=1 --output=FILE: rc $?, deepest frame #$(frames_max "$tmp/f1.txt")" \
	"grep -q '^# memtop snapshot' $tmp/f1.txt && [ \"\$(frames_max $tmp/f1.txt)\" = 0 ]"
"$MEMTOP" report --frames 2 -o"$tmp/f2.txt" -- "$ALLOCS" >/dev/null 2>&1
ok "report --frames 2 -oFILE: deepest frame #$(frames_max "$tmp/f2.txt")" \
	"[ \"\$(frames_max $tmp/f2.txt)\" = 1 ]"
"$MEMTOP" --frames=2 report --output "$tmp/f3.txt" -- "$ALLOCS" >/dev/null 2>&1
ok "an option before the command: --frames=2 report" "[ \"\$(frames_max $tmp/f3.txt)\" = 1 ]"

# bundled short options and their long spellings
"$MEMTOP" run -bn1 -d0.1 -- "$ALLOCS" >"$tmp/b1" 2>&1
ok "run -bn1 -d0.1: one refresh" "[ \$(grep -c '^memtop .* iteration' $tmp/b1) -eq 1 ]"
"$MEMTOP" run --batch --iterations=1 --delay=0.1 -- "$ALLOCS" >"$tmp/b2" 2>&1
ok "run --batch --iterations=1 --delay=0.1: one refresh" \
	"[ \$(grep -c '^memtop .* iteration' $tmp/b2) -eq 1 ]"

# version and help
for v in -v --version; do
	out=$("$MEMTOP" $v 2>&1); rc=$?
	ok "memtop $v: '$out' (rc $rc)" "[ $rc -eq 0 ] && [[ '$out' =~ ^memtop\ [0-9]+\.[0-9]+ ]]"
done
"$MEMTOP" -h >"$tmp/h1" 2>&1; rc=$?
"$MEMTOP" --help >"$tmp/h2" 2>&1
ok "-h and --help: the same text, rc $rc" "[ $rc -eq 0 ] && cmp -s $tmp/h1 $tmp/h2"
missing=
for w in -b, --batch -n, --iterations=N -d, --delay=SEC -o, --output=FILE --preload=LIB \
	--sysroot=DIR --no-color --no-symbols --blocks --heatmap --all-sites --thread=ID --expire=SEC \
	--tag-from=TAG --tag-to=TAG --divisions=N --frames=N -h, --help -v, --version MEMTOP_PRELOAD \
	"memtop run" "memtop report" "memtop snapshot" "memtop symbolize" "memtop gc" "memtop demo"; do
	grep -qF -- "$w" "$tmp/h1" || missing="$missing $w"
done
ok "--help names every option, command and MEMTOP_PRELOAD (missing:${missing:- none})" "[ -z '$missing' ]"
ok "--help fits 80 columns" "[ \$(awk 'length(\$0) > 80' $tmp/h1 | wc -l) -eq 0 ]"
ok "--help gives the exit statuses" "grep -Eq '^ +120  report' $tmp/h1"

# a command without -- is refused before anything runs
usage_error "report ls: put -- first" "^memtop: put -- before the command to run: memtop report .*-- ls" \
	report ls
usage_error "report sh -c ...: put -- first" "put -- before the command" report sh -c "touch $tmp/ran"
ok "... and it was not run" "[ ! -e $tmp/ran ]"
usage_error "run ls: put -- first" "put -- before the command to run: memtop run" run ls
usage_error "an option of another command" "^memtop: --blocks does not apply to run" run --blocks -- true
usage_error "a value a flag does not take" "^memtop: option --no-color takes no value" --no-color=1 1
usage_error "a missing value" "^memtop: option --frames needs a value" report --frames
usage_error "an unknown short option in a bundle" "^memtop: unknown option -q" -bq 1
usage_error "an unknown long option" "^memtop: unknown option --bogus" --bogus

# report: on stderr by default, the target's stdout its own; -o FILE: nothing else on stderr
"$MEMTOP" report -- sh -c 'echo out-line; echo err-line >&2' >"$tmp/o1" 2>"$tmp/e1"
rc=$?
ok "report: the target's stdout is exactly its own (rc $rc): $(head -c 100 "$tmp/o1" | tr '\n' '|')" \
	"[ $rc -eq 0 ] && [ \"\$(cat $tmp/o1)\" = out-line ]"
ok "... the report is on stderr, after the target's" \
	"grep -q '^err-line$' $tmp/e1 && grep -q '^# memtop snapshot' $tmp/e1 && grep -q '^## end' $tmp/e1"
"$MEMTOP" report -o "$tmp/r.txt" -- sh -c 'echo out-line; echo err-line >&2' >"$tmp/o2" 2>"$tmp/e2"
ok "report -o FILE: stdout and stderr are the target's alone" \
	"[ \"\$(cat $tmp/o2)\" = out-line ] && [ \"\$(cat $tmp/e2)\" = err-line ]"
"$MEMTOP" symbolize "$tmp/r.txt" >"$tmp/s.txt" 2>"$tmp/se"
ok "symbolize reads the report file (rc $?)" "grep -q '^# memtop snapshot' $tmp/s.txt"
"$MEMTOP" report -o - -- true >"$tmp/o3" 2>/dev/null
"$MEMTOP" symbolize "$tmp/o3" >/dev/null 2>&1
ok "report -o - writes to stdout, and symbolize reads it (rc $?)" "grep -q '^## end' $tmp/o3"

# a ring that overflowed: said on stderr, exit status 120 (the target exited 0)
MEMTOP_RING=64 MEMTOP_BLOCK_MS=0 "$MEMTOP" report -o "$tmp/lost.txt" -- "$STORM" 4 100000 \
	>/dev/null 2>"$tmp/le"
rc=$?
ok "report of a ring that overflowed: exit status 120 (got $rc), $(grep -c . "$tmp/le") line on stderr" \
	"[ $rc -eq 120 ] && grep -q '^lost_events: [1-9]' $tmp/lost.txt && grep -q '^approximate: 1' $tmp/lost.txt && [ \$(wc -l <$tmp/le) -eq 1 ] && grep -q 'approximate: .* events lost' $tmp/le"
echo "1..$n"
[ "$failed" -eq 0 ]
