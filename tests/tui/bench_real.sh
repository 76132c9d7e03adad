#!/bin/sh
# bench_real: CPU per dashboard refresh on the real engine with a big target (1 M live blocks, 50 000
# call stacks by default), measured by memtop itself (MEMTOP_UI_STATS=1: mean, p99 and max per frame,
# overall and per view) while it runs in a private tmux at 160x48, visits every view, re-sorts the
# call sites and the heap walk, and filters the heap walk by name. Also prints memtop's own RSS with the
# heap walk open. Benchmark only, not a test.
# usage: bench_real.sh MEMTOP PRELOAD BENCH_TARGET [BLOCKS STACKS]
set -eu
memtop=$(realpath "$1") preload=$(realpath "$2") target=$(realpath "$3")
blocks=${4:-1000000} stacks=${5:-50000}
sock=memtop-bench-$$
out=$(mktemp)
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; rm -f "$out"' EXIT
# Depth 48: the target's stacks are 2 x 16 frames deep plus the leaf, and all 16 path bits must
# survive for STACKS distinct call sites (at depth 32 the outermost bit was cut: 32 770 sites), and
# the stack table must hold them (the default filled up at 41 394).
tmux -L "$sock" -f /dev/null new-session -d -x 160 -y 48 \
  "MEMTOP_UI_STATS=1 MEMTOP_DEPTH=48 MEMTOP_STACKS=262144 LANG=C.UTF-8 exec '$memtop' run --preload '$preload' -d 0.5 -- '$target' $blocks $stacks 2>'$out'"
screen() { tmux -L "$sock" capture-pane -p; }
ui_pid=$(tmux -L "$sock" display -p '#{pane_pid}')
# VmRSS = RssAnon (memtop's own heap) + RssFile + RssShmem (the target's segment, as memtop reads it)
rss() { sed -n 's/^\(VmRSS\|VmHWM\|RssAnon\|RssShmem\):[[:space:]]*\([0-9]*\) kB/\1 \2/p' "/proc/$ui_pid/status" |
        awk '{printf "%s %.1f MiB  ", $1, $2 / 1024}'; }
# wait (deadline 180 s) until the whole heap is live
i=0
# the target's own bookkeeping may add a block or two: wait for "in N blocks" up to N+99
want="in $(echo "$blocks" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' | sed 's/[0-9][0-9]$/[0-9][0-9]/') blocks"
until screen | grep -q "$want"; do
  i=$((i + 1)); [ $i -lt 1800 ] || { echo "bench_real: target never reached $blocks blocks" >&2; screen >&2; exit 1; }
  sleep 0.1
done
keys() { for key in "$@"; do tmux -L "$sock" send-keys "$key"; sleep 4; done; }
keys 1 '>' '>' '>' '>' 2 3
echo "memtop RSS in the heap walk: $(rss)"
walked=$(screen | grep -o 'Heap walk: [0-9]* blocks' || true)
keys '>' i '/' 
for c in l e a f; do tmux -L "$sock" send-keys "$c"; sleep 0.2; done
keys Enter Escape '<' 4 5 6 1
pid=$(screen | sed -n 's/^memtop pid \([0-9]*\).*/\1/p')
screen | sed -n '1,4p;7p'   # what was measured: totals and the number of call sites
echo "memtop RSS at the end: $(rss)"
tmux -L "$sock" send-keys q
[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
i=0
until grep -q "slowest query" "$out"; do i=$((i + 1)); [ $i -lt 600 ] || break; sleep 0.1; done
echo "model: $blocks live blocks (churning), $stacks call stacks; 160x48, -d 0.5 ($walked)"
cat "$out"
