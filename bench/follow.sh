#!/usr/bin/env bash
# bench/follow.sh: what --follow (depth 3, the default) costs, measured in
# one run:
#   - per call of the traced function, with --follow against without, on
#     the demo's load_config (gcc -O2, non-PIE) and on glibc's getaddrinfo
#     (a numeric lookup, libc6-dbg);
#   - to an unrelated caller of a followed callee: the follow fixture's
#     `follow spin N` calls mid3 N times outside any traced function; with
#     `three` traced with --follow, the probes on mid3's call of leaf3 fire
#     for those calls too (and exit at once: no invocation is open). Its
#     time per call untraced, with whythefail attached without --follow
#     (no probe in mid3), and with --follow;
#   - the same for a callee whose return probe placement moves: mid calls
#     leaf and tests its value (call; mov; test; js), the return probe on
#     the mov with --placement=naive, on the js (which the kernel
#     emulates) without.
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

# run_case NAME N CMD_UNTRACED CMD_PLAIN CMD_FOLLOW [LABEL_PLAIN
# LABEL_FOLLOW]: each command has $0 as the number of calls; prints µs per
# call of each and the ratios.
run_case() {
	local name=$1 n=$2 lp=${6:-whythefail} lf=${7:-whythefail --follow}
	local -A cmd=([untr]=$3 [plain]=$4 [follow]=$5)
	local v r
	rm -f "$work"/m.*
	for ((r = 0; r < runs; r++)); do
		for v in untr plain follow; do
			measure sh -c "${cmd[$v]}" "$n" >> "$work/m.$v.n"
			measure sh -c "${cmd[$v]}" 1 >> "$work/m.$v.1"
		done
	done
	local uw uc pw pc fw fc
	read -r uw uc <<<"$(per "$work/m.untr.n" "$work/m.untr.1" "$n")"
	read -r pw pc <<<"$(per "$work/m.plain.n" "$work/m.plain.1" "$n")"
	read -r fw fc <<<"$(per "$work/m.follow.n" "$work/m.follow.1" "$n")"
	printf '%s, µs per call (wall / CPU), least of %d runs of %d calls:\n' "$name" "$runs" "$n"
	printf '  %-34s %9.2f / %9.2f\n' "untraced" "$uw" "$uc"
	printf '  %-34s %9.2f / %9.2f\n' "$lp" "$pw" "$pc"
	printf '  %-34s %9.2f / %9.2f\n' "$lf" "$fw" "$fc"
	printf '  %s over %s (CPU): %+.2f µs; over untraced: +%.2f µs against +%.2f µs' "$lf" "$lp" \
		"$(echo "$fc - $pc" | bc -l)" "$(echo "$fc - $uc" | bc -l)" "$(echo "$pc - $uc" | bc -l)"
	if (($(echo "$pc - $uc > 1" | bc -l))); then
		printf ' (%.2fx)' "$(echo "($fc - $uc) / ($pc - $uc)" | bc -l)"
	fi
	printf '\n'
	printf '  %s over %s (wall): %+.2f µs\n' "$lf" "$lp" "$(echo "$fw - $pw" | bc -l)"
}

# with_probes NAME N SPEC FUNCTION CONDITION PROGRAM: run_case for
# FUNCTION of SPEC traced while PROGRAM N runs, then how many probes
# --follow attaches.
with_probes() {
	local name=$1 n=$2 spec=$3 fn=$4 cond=$5 prog=$6
	run_case "$name" "$n" \
		"$T $prog \$0" \
		"\"$wtf\" -q '$spec' $fn '$cond' -c \"$T $prog \$0\"" \
		"\"$wtf\" -q '$spec' $fn '$cond' --follow -c \"$T $prog \$0\""
	local probes
	probes=$("$wtf" "$spec" "$fn" "$cond" --follow -c "$prog 1" 2>&1 >/dev/null | sed -n 's/.*: \([0-9]*\) probes attached.*/\1/p')
	echo "  (probes with --follow: $probes)"
}

with_probes "demo load_config (gcc -O2)" "$calls" "process(\"$work/demo\")" load_config '$return < 0' "$work/demo"
with_probes "glibc getaddrinfo (numeric)" "$calls" "process(\"$libc\")" getaddrinfo '$return != 0' "$work/gai"

f="process(\"$work/follow\")"
run_case "unrelated caller: spin's call of mid3 (three traced)" "$spin" \
	"$T $work/follow spin \$0" \
	"\"$wtf\" -q '$f' three '\$return < 0' -c \"$T $work/follow spin \$0\"" \
	"\"$wtf\" -q '$f' three '\$return < 0' --follow -c \"$T $work/follow spin \$0\""

u="process(\"$work/ub\")"
run_case "unrelated caller: spin's call of mid (top traced), return probe placed" "$spin" \
	"$T $work/ub \$0" \
	"\"$wtf\" -q '$u' top '\$return < 0' --follow --placement=naive -c \"$T $work/ub \$0\"" \
	"\"$wtf\" -q '$u' top '\$return < 0' --follow -c \"$T $work/ub \$0\"" \
	"--follow --placement=naive" "--follow (placed)"
"$wtf" -v "$u" top '$return < 0' --follow -c "$work/ub 1 fail" 2>&1 >/dev/null | grep -- 'placement: --follow' | sed 's/^whythefail: /  (/; s/$/)/'
