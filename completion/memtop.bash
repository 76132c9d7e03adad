# bash completion of memtop: commands, the options each command takes (as in memtop --help), pids
# of traced processes, files, and the target's command after --. Installed into
# share/bash-completion/completions/memtop; never runs anything but ls of /dev/shm.

_memtop_options_of() {
	local common="-h --help -v --version"
	local snap="--blocks --heatmap --all-sites --thread --expire --tag-from --tag-to --divisions --frames --format --value"
	local skip="--skip-frames --no-skip-frames"
	case $1 in
	run | demo) echo "$common -b --batch -n --iterations -d --delay --preload --no-color --no-symbols --expire --divisions $skip" ;;
	report) echo "$common -o --output --preload --no-symbols $snap $skip" ;;
	snapshot) echo "$common -o --output --no-symbols --inject $snap $skip" ;;
	symbolize) echo "$common -o --output --sysroot --pid" ;;
	inject) echo "$common --undo --preload" ;;
	export) echo "-h --help -o --format --value --pid" ;;
	diff) echo "-h --help -o --format --value" ;;
	serve) echo "-h --help --listen --allow-remote" ;;
	gc) echo "$common" ;;
	*) echo "$common -b --batch -n --iterations -d --delay --no-color --no-symbols --inject --expire --divisions $skip" ;;
	esac
}

_memtop_pids() {
	local f
	for f in /dev/shm/memtop.*; do
		[ -e "$f" ] && echo "${f##*/memtop.}"
	done
}

_memtop() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local cmds="run report snapshot symbolize inject export diff serve gc demo" cmd= i
	COMPREPLY=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		local w=${COMP_WORDS[i]}
		if [ "$w" = "--" ]; then
			# the target's command: a program first, then files
			if [ $((i + 1)) -eq "$COMP_CWORD" ]; then
				COMPREPLY=($(compgen -c -- "$cur"))
			else
				COMPREPLY=($(compgen -f -- "$cur"))
			fi
			return 0
		fi
		case " $cmds " in *" $w "*) [ -z "$cmd" ] && cmd=$w ;; esac
	done
	case $prev in
	-o | --output | --preload)
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0 ;;
	--sysroot)
		COMPREPLY=($(compgen -d -- "$cur"))
		return 0 ;;
	--format)
		COMPREPLY=($(compgen -W "text pprof folded massif" -- "$cur"))
		return 0 ;;
	--value)
		COMPREPLY=($(compgen -W "live-bytes live-blocks allocs bytes" -- "$cur"))
		return 0 ;;
	-n | --iterations | -d | --delay | --thread | --expire | --tag-from | --tag-to | --divisions | --frames | --skip-frames | --listen | --pid)
		return 0 ;;
	esac
	if [[ $cur == -* ]]; then
		local dashdash=
		[[ $cmd == run || $cmd == report ]] && dashdash=--
		COMPREPLY=($(compgen -W "$(_memtop_options_of "$cmd") $dashdash" -- "$cur"))
		return 0
	fi
	case $cmd in
	"") COMPREPLY=($(compgen -W "$cmds $(_memtop_pids)" -- "$cur")) ;;
	snapshot | inject) COMPREPLY=($(compgen -W "$(_memtop_pids)" -- "$cur")) ;;
	symbolize | export | diff) COMPREPLY=($(compgen -f -- "$cur")) ;;
	run | report) COMPREPLY=($(compgen -W "--" -- "$cur")) ;;
	esac
	return 0
}
complete -F _memtop memtop
