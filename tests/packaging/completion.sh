#!/bin/bash
# packaging: the bash completion, sourced into this shell: commands, the options of each command
# exactly as memtop --help assigns them, values not completed as options, and the target's
# command after --. usage: completion.sh MEMTOP COMPLETION_FILE.  Prints TAP.
set -u
MEMTOP=$1 FILE=$2
. "$(dirname "${BASH_SOURCE[0]}")/help.sh"
n=0 failed=0
ok() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi; }
tmp_opts=$(mktemp)
trap 'rm -f "$tmp_opts"' EXIT
. "$FILE"
ok "it registers a completion for memtop" "complete -p memtop | grep -q -- '-F _memtop'"
# complete WORDS...: COMPREPLY for the command line "memtop WORDS" (the last word is completed)
complete_line() {
	COMP_WORDS=(memtop "$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="${COMP_WORDS[*]}"
	COMPREPLY=()
	_memtop
	printf '%s\n' "${COMPREPLY[@]}" | sort
}
has() { grep -qx -- "$2" <<<"$1"; }

got=$(complete_line "")
missing=
for c in run report snapshot symbolize gc demo; do has "$got" "$c" || missing="$missing $c"; done
ok "memtop <TAB>: every command (missing:${missing:- none})" "[ -z '$missing' ]"
ok "memtop r<TAB>: run and report" "[ \"\$(complete_line r | tr '\n' ' ')\" = 'report run ' ]"
ok "memtop report --fr<TAB>: --frames" "[ \"\$(complete_line report --fr)\" = --frames ]"
ok "memtop report --frames <TAB>: no option offered as its value" \
	"[ -z \"\$(complete_line report --frames '')\" ]"
got=$(complete_line report -)
ok "memtop report -<TAB> offers -- (the target's command follows it)" "has '$got' --"
got=$(complete_line report -- l)
ok "memtop report -- l<TAB>: commands ($(wc -l <<<"$got") found, ls among them)" "has '$got' ls"

# every option of --help is offered for each command it applies to, and to no other command
bad=
help_options "$MEMTOP" >"$tmp_opts"
for c in PID run report snapshot symbolize gc demo; do
	if [ $c = PID ]; then got=$(complete_line -); else got=$(complete_line "$c" -); fi
	while read -r long short cmds; do
		applies=0
		[ "$cmds" = '*' ] && applies=1
		[[ " $cmds " == *" $c "* ]] && applies=1
		for o in $long $short; do
			[ "$o" = - ] && continue
			if grep -qx -- "$o" <<<"$got"; then [ $applies = 1 ] || bad="$bad $c:$o(offered)"
			else [ $applies = 0 ] || bad="$bad $c:$o(missing)"; fi
		done
	done <"$tmp_opts"
done
ok "options per command as --help says (wrong:${bad:- none})" "[ -z '$bad' ]"
ok "--help gave options to compare with" "[ \$(wc -l <$tmp_opts) -ge 15 ]"
echo "1..$n"
[ "$failed" -eq 0 ]
