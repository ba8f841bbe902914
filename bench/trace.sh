#!/usr/bin/env bash
# bench/trace.sh: the cost of tracing one call of the demo's load_config
# (about 18 statements a call), measured in one run against the untraced
# program and against gdb's dprintf at the same statement addresses.
#
#   bash bench/trace.sh [CALLS] [GDB_CALLS]
#
# Prints the time per call of each and the ratios. Needs root, gcc, gdb.
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-20000}
gdbcalls=${2:-300}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/whythefail" ./cmd/whythefail
gcc -g -O2 -no-pie -o "$work/demo" testdata/src/demo.c
wtf="$work/whythefail"
demo="$work/demo"

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }

# Best of three for each, to damp the noise of a shared machine.
best() {
	local best=""
	for _ in 1 2 3; do
		local t0 t1 d
		t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
		d=$(elapsed "$t0" "$t1")
		if [ -z "$best" ] || (( $(echo "$d < $best" | bc -l) )); then best=$d; fi
	done
	echo "$best"
}

untraced=$(best "$demo" "$calls")
traced=$(best "$wtf" "process(\"$demo\")" load_config '$return == -22' -c "$demo $calls")
floor=$(best "$wtf" --floor "process(\"$demo\")" load_config '$return == -22' -c "$demo $calls")
stats=$("$wtf" --json "process(\"$demo\")" load_config '$return == -22' -c "$demo $calls" 2>/dev/null | tail -1)

# gdb: a dprintf at every statement address whythefail probes.
cmds="$work/gdb.cmds"
: > "$cmds"
"$wtf" -v -l "process(\"$demo\").statement(\"load_config@*:*\")" |
	sed -n 's/.*pc=\(0x[0-9a-f]*\).*/\1/p' | while read -r pc; do
	echo "dprintf *$pc,\"s\\n\"" >> "$cmds"
done
nstmts=$(wc -l < "$cmds")
gdbuntraced=$(best "$demo" "$gdbcalls")
gdbt=$(best gdb -nx -batch -x "$cmds" -ex run --args "$demo" "$gdbcalls")

per() { echo "($1 - $2) * 1000000 / $3" | bc -l; }
wtfper=$(per "$traced" "$untraced" "$calls")
gdbper=$(per "$gdbt" "$gdbuntraced" "$gdbcalls")
printf 'statements probed: %d\n' "$nstmts"
printf 'untraced: %.3f s for %d calls\n' "$untraced" "$calls"
floorper=$(per "$floor" "$untraced" "$calls")
printf 'floor (empty programs at the same probes): %.3f s for %d calls: %.1f us/call over untraced\n' "$floor" "$calls" "$floorper"
printf 'whythefail: %.3f s for %d calls: %.1f us/call over untraced\n' "$traced" "$calls" "$wtfper"
printf 'whythefail / floor per call: %.2fx\n' "$(echo "$wtfper / $floorper" | bc -l)"
printf 'gdb / floor per call: %.1fx\n' "$(echo "$gdbper / $floorper" | bc -l)"
printf 'gdb dprintf: %.3f s for %d calls: %.1f us/call over untraced\n' "$gdbt" "$gdbcalls" "$gdbper"
printf 'gdb / whythefail per call: %.1fx\n' "$(echo "$gdbper / $wtfper" | bc -l)"
printf 'statistics: %s\n' "$stats"
