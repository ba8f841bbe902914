#!/usr/bin/env bash
# bench/placement.sh: what probe placement (issue 13) saves, per call of a
# traced function, measured in one run:
#   naive floor   empty programs at every statement's first instruction
#                 plus the entry and return probes (--floor --no-verdict
#                 --placement=naive): what any uprobe tracer pays at those
#                 addresses
#   auto floor    empty programs where automatic placement puts them
#                 (--floor --no-verdict)
#   naive         whythefail with --placement=naive, which also probes every
#                 conditional jump, set and move for the why: line
#   auto          whythefail (automatic placement, the default), which also
#                 probes the conditional jumps, sets and moves that can be
#                 the last one before a return, for the why: line (the sets
#                 and moves are single-stepped)
#   auto, no why  whythefail --no-verdict: the statements only, as the floors
#   before        with BEFORE=PATH, that whythefail binary's default (an
#                 earlier build, to compare a change within one run)
#   gdb           gdb dprintf at the same statements' first instructions
# for the demo's load_config (gcc -O2 and -O0, non-PIE) and glibc's
# getaddrinfo (a numeric lookup, libc6-dbg). Each cost per call is
# (time for CALLS calls - time for 1 call) / (CALLS - 1), the least of RUNS
# interleaved runs (default 5). Also prints how many
# statement probes moved and statements recorded earlier (-v). Needs root, gcc, gdb, bc and libc6-dbg.
#
#   [BEFORE=PATH] bash bench/placement.sh [CALLS] [GDB_CALLS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-5000}
gdbcalls=${2:-200}
runs=${3:-5}
. bench/lib.sh
gcc -g -O2 -no-pie -o "$work/demo-O2" testdata/src/demo.c
gcc -g -O0 -no-pie -o "$work/demo-O0" testdata/src/demo.c
# (For gdb, a run's CPU seconds are gdb's and the program's.)

# case NAME TARGET FUNCTION PROGRAM
run_case() {
	local name=$1 target=$2 fn=$3 prog=$4
	local spec="process(\"$target\")"
	"$wtf" -v "$spec" "$fn" 1 -c "$prog 1" 2>"$work/v" >/dev/null
	local stmts moved
	stmts=$(grep -c ' at +0x[0-9a-f]*: ' "$work/v" || true)
	moved=$(grep -c ': moved to ' "$work/v" || true)
	succ=$(grep -c -E ', (its only entry|one of its [0-9]+ entries), ' "$work/v" || true)
	early=$(grep -c ': recorded earlier, ' "$work/v" || true)
	branches=$(sed -n 's/.*placement: \([0-9]* of [0-9]*\) branch probes.*/\1/p' "$work/v")
	# gdb: a dprintf at every statement's first instruction, set once the
	# program has started (so that libc is loaded), as offsets from the
	# function's symbol (its entry).
	local entry cmds="$work/gdb.cmds"
	entry=0x$({ nm "$target" 2>/dev/null; nm -D --defined-only "$target"; } | awk -v f="$fn" '{ sub(/@.*/, "", $3) } $3 == f && !done { print $1; done = 1 }')
	echo "break main" > "$cmds"
	echo "run" >> "$cmds"
	"$wtf" -v -l "$spec.statement(\"$fn@*:*\")" | sed -n 's/.*pc=\(0x[0-9a-f]*\).*/\1/p' | sort -u | while read -r pc; do
		printf 'dprintf *((char *)%s + %d),"s\\n"\n' "$fn" $((pc - entry)) >> "$cmds"
	done
	echo "continue" >> "$cmds"
	# Each configuration as a command whose $0 is the number of calls;
	# the runs are interleaved, RUNS rounds, and each keeps its least time,
	# so that a busy moment of a shared machine hits all of them alike.
	local vs="untr nfloor afloor naive auto autonv gdbper"
	[ -n "${BEFORE:-}" ] && vs="$vs before"
	local -A cmd=(
		[untr]="$T $prog \$0"
		[nfloor]="\"$wtf\" --floor --no-verdict --placement=naive '$spec' $fn 1 -c \"$T $prog \$0\""
		[afloor]="\"$wtf\" --floor --no-verdict '$spec' $fn 1 -c \"$T $prog \$0\""
		[naive]="\"$wtf\" --placement=naive '$spec' $fn '\$return < 0' -c \"$T $prog \$0\""
		[auto]="\"$wtf\" '$spec' $fn '\$return < 0' -c \"$T $prog \$0\""
		[autonv]="\"$wtf\" --no-verdict '$spec' $fn '\$return < 0' -c \"$T $prog \$0\""
		[gdbper]="$T gdb -nx -batch -x $cmds --args $prog \$0"
		[before]="\"${BEFORE:-}\" '$spec' $fn '\$return < 0' -c \"$T $prog \$0\""
	)
	local v r n
	rm -f "$work"/m.*
	for ((r = 0; r < runs; r++)); do
		for v in $vs; do
			n=$calls
			[ "$v" = gdbper ] && n=$gdbcalls
			measure sh -c "${cmd[$v]}" "$n" >> "$work/m.$v.n"
			measure sh -c "${cmd[$v]}" 1 >> "$work/m.$v.1"
		done
	done
	local untr nfloor afloor naive auto autonv gdbper before
	for v in $vs; do
		n=$calls
		[ "$v" = gdbper ] && n=$gdbcalls
		printf -v "$v" '%s' "$(per "$work/m.$v.n" "$work/m.$v.1" "$n")"
	done
	printf '%s (%s statements, %s probes moved, %s of them onto the jump that enters them, %s statements recorded earlier; branch probes: %s), µs per call over the untraced program, wall and CPU:\n' "$name" "$stmts" "$moved" "$succ" "$early" "${branches:-all}"
	read -r uw uc <<<"$untr"
	read -r fw fc <<<"$nfloor"
	printf '  %-30s %9.1f wall %9.1f CPU\n' "untraced (µs per call)" "$uw" "$uc"
	for v in ${vs#untr }; do
		local w c label
		read -r w c <<<"${!v}"
		case $v in
		nfloor) label="naive floor" ;; afloor) label="auto floor" ;; naive) label="whythefail --placement=naive" ;;
		auto) label="whythefail (auto)" ;; autonv) label="whythefail --no-verdict" ;;
		gdbper) label="gdb dprintf" ;; before) label="\$BEFORE (default)" ;;
		esac
		printf '  %-30s %9.1f wall %9.1f CPU   %6.2fx / %6.2fx the naive floor\n' "$label" \
			"$(echo "$w - $uw" | bc -l)" "$(echo "$c - $uc" | bc -l)" \
			"$(echo "($w - $uw) / ($fw - $uw)" | bc -l)" "$(echo "($c - $uc) / ($fc - $uc)" | bc -l)"
	done
	read -r gw gc <<<"$gdbper"
	for v in auto autonv ${BEFORE:+before}; do
		read -r aw ac <<<"${!v}"
		printf '  gdb / whythefail%s: %.1fx wall, %.1fx CPU\n' "$(case $v in auto) echo " (auto)" ;; autonv) echo " --no-verdict" ;; before) echo " \$BEFORE" ;; esac)" \
			"$(echo "($gw - $uw) / ($aw - $uw)" | bc -l)" "$(echo "($gc - $uc) / ($ac - $uc)" | bc -l)"
	done
}

run_case "demo load_config, gcc -O2" "$work/demo-O2" load_config "$work/demo-O2"
run_case "demo load_config, gcc -O0" "$work/demo-O0" load_config "$work/demo-O0"
run_case "glibc getaddrinfo (numeric)" "$libc" getaddrinfo "$work/gai"
