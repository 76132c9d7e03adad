# Sourced by the packaging tests: the options of `memtop --help`, one a line, as
# "LONG SHORT COMMANDS..." (SHORT is - when there is none; COMMANDS is * for every command).
help_options() {
	"$1" --help | awk '
	/^  +-/ && /--[a-z]/ { if (opt) print opt; opt = $0; next }
	/^                         / && opt { opt = opt " " $0; next }
	{ if (opt) print opt; opt = "" }
	END { if (opt) print opt }' |
	while IFS= read -r line; do
		long=$(grep -Eo -- '--[a-z][a-z-]*' <<<"$line" | head -n 1)
		short=$(grep -Eo -- '^ *-[a-z],' <<<"$line" | tr -d ' ,')
		cmds=$(grep -Eo '\[[A-Za-z ]+\]$' <<<"$line" | tr -d '[]')
		echo "$long ${short:--} ${cmds:-*}"
	done
}
