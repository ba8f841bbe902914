#!/usr/bin/env bash
# bench/backtrace.sh: what --backtrace adds to tracing the demo's
# load_config, measured in one run: the untraced program, whythefail
# without and with --backtrace, for a condition that keeps every failing
# call and for one that keeps none (the stack copy at each entry alone).
#
#   bash bench/backtrace.sh [CALLS]
#
# Prints the time per call of each. Needs root and gcc.
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-20000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/whythefail" ./cmd/whythefail
gcc -g -O2 -no-pie -o "$work/demo" testdata/src/demo.c
wtf="$work/whythefail"
demo="$work/demo"

now() { date +%s.%N; }

# Best of three for each, to damp the noise of a shared machine.
best() {
	local best=""
	for _ in 1 2 3; do
		local t0 t1 d
		t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
		d=$(echo "$t1 - $t0" | bc -l)
		if [ -z "$best" ] || (( $(echo "$d < $best" | bc -l) )); then best=$d; fi
	done
	echo "$best"
}
percall() { echo "scale=1; ($1 - $untraced) * 1000000 / $calls" | bc -l; }

untraced=$(best "$demo" "$calls")
printf 'untraced: %.3f s for %d calls\n' "$untraced" "$calls"
for cond in '$return == -22' '$return == 12345'; do
	plain=$(best "$wtf" "process(\"$demo\")" load_config "$cond" -c "$demo $calls")
	bt=$(best "$wtf" --backtrace "process(\"$demo\")" load_config "$cond" -c "$demo $calls")
	traces=$("$wtf" --json "process(\"$demo\")" load_config "$cond" -c "$demo $calls" 2>/dev/null | grep -c '"type":"trace"' || true)
	printf '%-18s %6d traces: without --backtrace %6s us/call, with %6s us/call\n' "$cond" "$traces" "$(percall "$plain")" "$(percall "$bt")"
done
