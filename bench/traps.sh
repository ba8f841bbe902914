#!/usr/bin/env bash
# bench/traps.sh: what one uprobe trap costs, by kind, measured in one run,
# to split a traced function's cost per call (bench/placement.sh) into its
# traps: empty programs (--floor --no-verdict --placement=naive) at
#   f0   a function of one statement: its entry probe (on the emulated
#        push), its return probe, and 2 single-stepped statements (its
#        return's mov, its closing brace's pop)
#   fe   f0's shape plus 20 statements that begin with call rel32 (emulated)
#   fs   f0's shape plus 20 statements that begin with mov (single-stepped)
# (gcc -O0, non-PIE, no endbr64). An emulated trap costs (fe - f0) / 20, a
# single-stepped one (fs - f0) / 20, and the entry and return probes
# together f0 less its 2 single-stepped traps, each over the untraced
# program (fe's calls are in its untraced time too). Each cost per call is
# (time for CALLS calls - time for 1 call) / (CALLS - 1), the least of RUNS
# interleaved runs (default 5), CPU seconds of the traced program (where
# the kernel handles the traps) and wall time. Needs root, gcc and bc.
#
#   bash bench/traps.sh [CALLS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-20000}
runs=${2:-5}
. bench/lib.sh
{
	cat <<'C'
#include <stdlib.h>

volatile int v;

__attribute__((noinline)) void g(void)
{
	__asm__ volatile("");
}

__attribute__((noinline)) int f0(void)
{
	return 0;
}

__attribute__((noinline)) int fe(void)
{
C
	for ((i = 0; i < 20; i++)); do printf '\tg();\n'; done
	printf '\treturn 0;\n}\n\n__attribute__((noinline)) int fs(void)\n{\n'
	for ((i = 0; i < 20; i++)); do printf '\tv++;\n'; done
	cat <<'C'
	return 0;
}

/* traps WHICH N: N calls of f0 (WHICH 0), fe (1) or fs (2) */
int main(int argc, char **argv)
{
	int w = argc > 1 ? atoi(argv[1]) : 0;
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 1;

	for (long i = 0; i < n; i++)
		w == 0 ? f0() : w == 1 ? fe() : fs();
	return 0;
}
C
} >"$work/traps.c"
gcc -g -O0 -no-pie -fcf-protection=none -o "$work/traps" "$work/traps.c"
prog=$work/traps
spec="process(\"$prog\")"
fns=(f0 fe fs)
rm -f "$work"/m.*
for ((r = 0; r < runs; r++)); do
	for w in 0 1 2; do
		for n in "$calls" 1; do
			measure sh -c "$T $prog $w $n" >>"$work/m.untr.$w.$n"
			measure sh -c "\"$wtf\" --floor --no-verdict --placement=naive '$spec' ${fns[$w]} 1 -c \"$T $prog $w $n\"" >>"$work/m.floor.$w.$n"
		done
	done
done
# over the untraced program, "wall cpu" µs per call
over() {
	paste -d' ' <(per "$work/m.floor.$1.$calls" "$work/m.floor.$1.1" "$calls") \
		<(per "$work/m.untr.$1.$calls" "$work/m.untr.$1.1" "$calls") |
		awk '{ print $1 - $3, $2 - $4 }'
}
read -r w0 c0 <<<"$(over 0)"
read -r we ce <<<"$(over 1)"
read -r ws cs <<<"$(over 2)"
printf 'µs per call over the untraced program (%s calls, least of %s runs), wall and CPU:\n' "$calls" "$runs"
printf '  %-58s %8.2f wall %8.2f CPU\n' "f0: entry + return probe + 2 single-stepped" "$w0" "$c0" \
	"fe: f0 + 20 emulated (call rel32)" "$we" "$ce" \
	"fs: f0 + 20 single-stepped (mov)" "$ws" "$cs"
printf 'per trap:\n'
printf '  %-58s %8.2f wall %8.2f CPU\n' \
	"emulated (call rel32)" "$(echo "($we - $w0) / 20" | bc -l)" "$(echo "($ce - $c0) / 20" | bc -l)" \
	"single-stepped (mov)" "$(echo "($ws - $w0) / 20" | bc -l)" "$(echo "($cs - $c0) / 20" | bc -l)" \
	"entry (emulated push) + return probe, together" "$(echo "$w0 - 2 * ($ws - $w0) / 20" | bc -l)" "$(echo "$c0 - 2 * ($cs - $c0) / 20" | bc -l)"
