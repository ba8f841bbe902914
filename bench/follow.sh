#!/usr/bin/env bash
# bench/follow.sh: what --follow (depth 3, the default) costs, measured in
# one run:
#   - per call of the traced function, without --follow, with it (one
#     level per run: the first run probes the calls FUNCTION makes only)
#     and with --follow-eager (every level from the first run), on the
#     demo's load_config (gcc -O2, non-PIE) and on glibc's getaddrinfo (a
#     numeric lookup, libc6-dbg). The conditions never hold, so that no
#     re-run replaces the run measured: the cost of watching, which a
#     failure does not change;
#   - to an unrelated caller of a followed callee: the follow fixture's
#     `follow spin N` calls mid3 N times outside any traced function;
#     `three` is traced. With --follow no probe is in mid3; with
#     --follow-eager the probes on mid3's call of leaf3 fire for those
#     calls too (and exit at once: no invocation is open). Its time per
#     call untraced, with whythefail attached without --follow, with
#     --follow and with --follow-eager;
#   - the same for a callee whose return probe placement moves under
#     --follow-eager: mid calls leaf and tests its value (call; mov; test;
#     js), the return probe on the mov with --placement=naive, on the js
#     (which the kernel emulates) without.
# Each cost per call is (time for CALLS calls - time for 1 call) /
# (CALLS - 1) of the traced program's CPU seconds (user + system, where the
# kernel handles the uprobe traps and runs the BPF programs) and wall time,
# the least of RUNS interleaved runs (default 5). Needs root, gcc, bc and
# libc6-dbg.
#
#   bash bench/follow.sh [CALLS] [RUNS] [SPIN_CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-5000}
runs=${2:-5}
spin=${3:-100000}
. bench/lib.sh
gcc -g -O2 -no-pie -o "$work/demo" testdata/src/demo.c
gcc -g -O2 -fPIC -shared -o "$work/libfollow.so" testdata/src/followlib.c
gcc -g -O2 -o "$work/follow" testdata/src/follow.c -L"$work" -lfollow -Wl,-rpath,"$work"
cat >"$work/ub.c" <<'C'
#include <stdlib.h>

volatile int sink;

/* leaf fails for key 7 */
__attribute__((noinline)) int leaf(int key)
{
	sink++;
	return key == 7 ? -2 : key;
}

/* mid tests leaf's value right after the call (gcc -O2: call leaf;
 * mov sink, %edx; test %eax, %eax; js) */
__attribute__((noinline)) int mid(int key)
{
	int r = leaf(key);
	if (r < 0) {
		sink += 2;
		return r;
	}
	sink++;
	return r + 1;
}

/* the traced function */
__attribute__((noinline)) int top(int key)
{
	sink++;
	int r = mid(key);
	return r < 0 ? r : 0;
}

/* the unrelated caller: mid n times outside any call of top */
__attribute__((noinline)) void spin(int n)
{
	for (int i = 0; i < n; i++)
		mid(i & 3);
}

/* ub N: spin alone (no failure, so no re-run for the origin's
 * statements, whose probes in leaf would fire for spin too); ub N fail:
 * then top fails */
int main(int argc, char **argv)
{
	spin(argc > 1 ? atoi(argv[1]) : 1);
	return argc > 2 && top(7) < 0;
}
C
gcc -g -O2 -o "$work/ub" "$work/ub.c"

# run_case NAME N LABEL CMD [LABEL CMD ...]: each command has $0 as the
# number of calls, the first untraced, the second the baseline of the
# others; prints µs per call of each, and of each after the second its
# cost over the baseline and (where the baseline costs more than 1 µs
# over untraced) the ratio of their costs over untraced.
run_case() {
	local name=$1 n=$2
	shift 2
	local -a label cmd
	while (($# >= 2)); do
		label+=("$1")
		cmd+=("$2")
		shift 2
	done
	local k r
	rm -f "$work"/m.*
	for ((r = 0; r < runs; r++)); do
		for k in "${!cmd[@]}"; do
			measure sh -c "${cmd[$k]}" "$n" >> "$work/m.$k.n"
			measure sh -c "${cmd[$k]}" 1 >> "$work/m.$k.1"
		done
	done
	local -a w c
	for k in "${!cmd[@]}"; do
		read -r "w[$k]" "c[$k]" <<<"$(per "$work/m.$k.n" "$work/m.$k.1" "$n")"
	done
	printf '%s, µs per call (wall / CPU), least of %d runs of %d calls:\n' "$name" "$runs" "$n"
	for k in "${!cmd[@]}"; do
		printf '  %-34s %9.2f / %9.2f' "${label[$k]}" "${w[$k]}" "${c[$k]}"
		if ((k >= 2)); then
			printf '   over %s (CPU): %+.2f µs' "${label[1]}" "$(echo "${c[$k]} - ${c[1]}" | bc -l)"
			if (($(echo "${c[1]} - ${c[0]} > 1" | bc -l))); then
				printf ' (%.2fx over untraced)' "$(echo "(${c[$k]} - ${c[0]}) / (${c[1]} - ${c[0]})" | bc -l)"
			fi
		fi
		printf '\n'
	done
}

# with_probes NAME N SPEC FUNCTION CONDITION PROGRAM: run_case for
# FUNCTION of SPEC traced while PROGRAM N runs, without --follow, with
# it (one level per run: FUNCTION's calls only, as its first run) and
# with --follow-eager, then how many probes each attaches.
with_probes() {
	local name=$1 n=$2 spec=$3 fn=$4 cond=$5 prog=$6
	run_case "$name" "$n" \
		untraced "$T $prog \$0" \
		whythefail "\"$wtf\" -q '$spec' $fn '$cond' -c \"$T $prog \$0\"" \
		"--follow" "\"$wtf\" -q '$spec' $fn '$cond' --follow -c \"$T $prog \$0\"" \
		"--follow --follow-eager" "\"$wtf\" -q '$spec' $fn '$cond' --follow --follow-eager -c \"$T $prog \$0\""
	local probes eager
	probes=$("$wtf" "$spec" "$fn" "$cond" --follow -c "$prog 1" 2>&1 >/dev/null | sed -n 's/.*: \([0-9]*\) probes attached.*/\1/p' | head -1)
	eager=$("$wtf" "$spec" "$fn" "$cond" --follow --follow-eager -c "$prog 1" 2>&1 >/dev/null | sed -n 's/.*: \([0-9]*\) probes attached.*/\1/p' | head -1)
	echo "  (probes of the first run: $probes with --follow, $eager with --follow-eager)"
}

with_probes "demo load_config (gcc -O2)" "$calls" "process(\"$work/demo\")" load_config '$return == -99' "$work/demo"
with_probes "glibc getaddrinfo (numeric)" "$calls" "process(\"$libc\")" getaddrinfo '$return != 0' "$work/gai"

f="process(\"$work/follow\")"
run_case "unrelated caller: spin's call of mid3 (three traced)" "$spin" \
	untraced "$T $work/follow spin \$0" \
	whythefail "\"$wtf\" -q '$f' three '\$return < 0' -c \"$T $work/follow spin \$0\"" \
	"--follow" "\"$wtf\" -q '$f' three '\$return < 0' --follow -c \"$T $work/follow spin \$0\"" \
	"--follow --follow-eager" "\"$wtf\" -q '$f' three '\$return < 0' --follow --follow-eager -c \"$T $work/follow spin \$0\""

u="process(\"$work/ub\")"
run_case "unrelated caller: spin's call of mid (top traced), return probe placed" "$spin" \
	untraced "$T $work/ub \$0" \
	whythefail "\"$wtf\" -q '$u' top '\$return < 0' -c \"$T $work/ub \$0\"" \
	"--follow" "\"$wtf\" -q '$u' top '\$return < 0' --follow -c \"$T $work/ub \$0\"" \
	"--follow-eager, naive" "\"$wtf\" -q '$u' top '\$return < 0' --follow --follow-eager --placement=naive -c \"$T $work/ub \$0\"" \
	"--follow-eager (placed)" "\"$wtf\" -q '$u' top '\$return < 0' --follow --follow-eager -c \"$T $work/ub \$0\""
{ "$wtf" -v "$u" top '$return < 0' --follow --follow-eager -c "$work/ub 1 fail" 2>&1 >/dev/null || true; } | grep -- 'placement: --follow' | sed 's/^whythefail: /  (/; s/$/)/'
