#!/bin/sh
# bench_real: CPU per dashboard refresh on the real engine with a big target (1 M live blocks, 50 000
# call stacks by default), measured by memtop itself (MEMTOP_UI_STATS=1) while it runs in a private
# tmux at 160x48 and visits every view. Prints memtop's one-line summary. Benchmark only, not a test.
# usage: bench_real.sh MEMTOP PRELOAD BENCH_TARGET [BLOCKS STACKS]
set -eu
memtop=$(realpath "$1") preload=$(realpath "$2") target=$(realpath "$3")
blocks=${4:-1000000} stacks=${5:-50000}
sock=memtop-bench-$$
out=$(mktemp)
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; rm -f "$out"' EXIT
tmux -L "$sock" -f /dev/null new-session -d -x 160 -y 48 \
  "MEMTOP_UI_STATS=1 MEMTOP_DEPTH=32 LANG=C.UTF-8 '$memtop' run --preload '$preload' -d 0.5 -- '$target' $blocks $stacks 2>'$out'"
screen() { tmux -L "$sock" capture-pane -p; }
# wait (deadline 180 s) until the whole heap is live
i=0
# the target's own bookkeeping may add a block or two: wait for "in N blocks" up to N+99
want="in $(echo "$blocks" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' | sed 's/[0-9][0-9]$/[0-9][0-9]/') blocks"
until screen | grep -q "$want"; do
  i=$((i + 1)); [ $i -lt 1800 ] || { echo "bench_real: target never reached $blocks blocks" >&2; screen >&2; exit 1; }
  sleep 0.1
done
for key in 1 2 3 4 5 6 1; do tmux -L "$sock" send-keys "$key"; sleep 4; done
pid=$(screen | sed -n 's/^memtop pid \([0-9]*\).*/\1/p')
screen | sed -n '1,4p;7p'   # what was measured: totals and the number of call sites
tmux -L "$sock" send-keys q
[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
i=0
until grep -q "memtop ui:" "$out"; do i=$((i + 1)); [ $i -lt 600 ] || break; sleep 0.1; done
echo "model: $blocks live blocks (churning), $stacks call stacks; 160x48, -d 0.5"
cat "$out"
