#!/bin/bash
# packaging: memtop.1 renders with man -l and groff without a warning, has the sections a manual
# page needs, and names every option of memtop --help, every key of the dashboard's action table,
# every MEMTOP_ variable the preload reads, every command and every exit status.
# usage: man.sh MEMTOP MANPAGE UI_ACTIONS_C PRELOAD_CONFIG_C.  Prints TAP.
set -u
MEMTOP=$1 PAGE=$2 ACTIONS=$3 CONFIG=$4
. "$(dirname "${BASH_SOURCE[0]}")/help.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi; }

LC_ALL=C MANWIDTH=100 man --warnings -E ascii --nh --nj -l "$PAGE" >"$tmp/page" 2>"$tmp/warn"
ok "man -l renders it (rc $?, $(wc -l <"$tmp/page") lines), no warning: $(head -c 300 "$tmp/warn" | tr '\n' '|')" \
	"[ -s $tmp/page ] && [ ! -s $tmp/warn ]"
groff -man -ww -z -Tutf8 "$PAGE" 2>"$tmp/gwarn"
ok "groff -ww finds nothing to warn about: $(head -c 300 "$tmp/gwarn" | tr '\n' '|')" "[ ! -s $tmp/gwarn ]"
missing=
for s in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS KEYS ENVIRONMENT "EXIT STATUS" FILES EXAMPLES \
	"SEE ALSO"; do
	grep -q "^$s\$" "$tmp/page" || missing="$missing [$s]"
done
ok "sections (missing:${missing:- none})" "[ -z '$missing' ]"
ok "the version is memtop's: $("$MEMTOP" --version)" "grep -qF \"\$('$MEMTOP' --version)\" $tmp/page"

missing=
while read -r long short cmds; do
	grep -qF -- "$long" "$tmp/page" || missing="$missing $long"
	[ "$short" = - ] || grep -qF -- "$short, $long" "$tmp/page" || missing="$missing $short"
done < <(help_options "$MEMTOP")
ok "every option of --help, with its short form (missing:${missing:- none})" "[ -z '$missing' ]"
ok "--help lists the options (the check above saw some)" "[ \$(help_options '$MEMTOP' | wc -l) -ge 15 ]"

missing=
for c in run report snapshot symbolize gc demo; do
	grep -q "^ *memtop $c" "$tmp/page" || missing="$missing $c"
done
ok "every command has its entry (missing:${missing:- none})" "[ -z '$missing' ]"

# the dashboard's keys, as the action table labels them ({"1-6", "views: ..."})
keys=$(grep -Eo '\{"[^"]+", "' "$ACTIONS" | sed -E 's/^\{"//; s/", "$//')
missing=
while IFS= read -r k; do
	grep -qE "^ {7}$(sed 's/[][\.*^$?+(){}|/]/\\&/g' <<<"$k")( |\$)" "$tmp/page" || missing="$missing [$k]"
done <<<"$keys"
ok "every key of the action table ($(wc -l <<<"$keys") labels; missing:${missing:- none})" \
	"[ -z '$missing' ] && [ $(wc -l <<<"$keys") -ge 15 ]"

vars=$(grep -Eo '"MEMTOP_[A-Z_]+"' "$CONFIG" | tr -d '"' | sort -u)
missing=
for v in $vars MEMTOP_PRELOAD; do grep -q "^ *$v\$" "$tmp/page" || missing="$missing $v"; done
ok "every variable the preload reads, and MEMTOP_PRELOAD (missing:${missing:- none})" \
	"[ -z '$missing' ] && [ $(wc -w <<<"$vars") -ge 8 ]"

missing=
for st in $("$MEMTOP" --help | sed -n '/^exit status/,$p' | grep -Eo '^ +[0-9]+ ' | tr -d ' '); do
	sed -n '/^EXIT STATUS/,/^FILES/p' "$tmp/page" | grep -Eq "^ {7}$st( {2,}|\$)" || missing="$missing $st"
done
ok "every exit status of --help (missing:${missing:- none})" "[ -z '$missing' ]"
echo "1..$n"
[ "$failed" -eq 0 ]
