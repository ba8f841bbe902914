#!/bin/sh
# klisting.sh times kernel listings, `whythefail -r REL -L` against `stap -r
# REL -L`, in one run: every statement of the functions named
# *perf_event_open (the article's listing) and every kernel function
# (kernel.function("*"), 72,242 rows). whythefail runs cold (an empty
# build-id cache directory of its own, as on the first run on a vmlinux)
# and warm (the same directory again, as filled by the cold run). The
# statement listing's three commands alternate, RUNS times each, and
# each figure is the median; the function listing runs once each, stap
# last (it takes minutes; STAP_FUNCTIONS=skip leaves it out). It prints
# wall seconds, user+sys CPU seconds and peak RSS (time(1)'s %M, which
# counts the pages of the mapped vmlinux that were read), the ratios
# stap/whythefail, whether the outputs are identical, and the load.
# FUNCTIONS=skip leaves out the function listing altogether.
# Usage: [RELEASE=REL] [STAP_FUNCTIONS=skip] [FUNCTIONS=skip] bench/klisting.sh [RUNS]
set -eu
runs=${1:-3}
rel=${RELEASE:-6.1.0-57-amd64}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/wtf" ./cmd/whythefail)
export DEBUGINFOD_URLS=

# once NAME CMD...: runs CMD, appends "wall cpu rss_kb" to $tmp/NAME.times
# and keeps its output in $tmp/NAME.out, its stderr in $tmp/NAME.err.
once() {
	name=$1
	shift
	if ! /usr/bin/time -f '%e %U %S %M' -o "$tmp/t" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
		echo "$name failed: $*" >&2
		cat "$tmp/$name.err" >&2
		exit 1
	fi
	awk '{printf "%.2f %.2f %d\n", $1, $2+$3, $4}' "$tmp/t" >>"$tmp/$name.times"
}

# median NAME COLUMN: the median of a column of $tmp/NAME.times.
median() {
	sort -n -k "$2" "$tmp/$1.times" | awk -v c="$2" '{v[NR]=$c} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'
}

# row LABEL NAME [STAP]: NAME's medians, and STAP's over them.
row() {
	w=$(median "$2" 1) c=$(median "$2" 2) m=$(median "$2" 3)
	printf '%-34s %8.2f %8.2f %8d MB %7d rows' "$1" "$w" "$c" $((m / 1024)) "$(wc -l <"$tmp/$2.out")"
	if [ -n "${3:-}" ] && [ -s "$tmp/$3.times" ]; then
		echo "$(median "$3" 1) $w $(median "$3" 3) $m" | awk '{printf "   stap/this: wall %.2fx, RSS %.2fx", $1/$2, $3/$4}'
	fi
	echo
}

# same A B: whether two listings are identical.
same() {
	if cmp -s "$tmp/$1.out" "$tmp/$2.out"; then
		echo "output $1 = $2: identical"
	else
		echo "output $1 = $2: DIFFERENT ($(diff "$tmp/$1.out" "$tmp/$2.out" | grep -c '^[<>]') lines differ)"
	fi
}

load() { echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) on $(nproc) CPUs"; }

stmt='kernel.statement("*perf_event_open@*:*")'
echo "== $stmt, -r $rel; $runs runs each, medians"
load
i=0
while [ "$i" -lt "$runs" ]; do
	rm -rf "$tmp/cache"
	WHYTHEFAIL_CACHE_DIR=$tmp/cache once s_cold "$tmp/wtf" -r "$rel" -L "$stmt"
	WHYTHEFAIL_CACHE_DIR=$tmp/cache once s_warm "$tmp/wtf" -r "$rel" -L "$stmt"
	once s_stap stap -r "$rel" -L "$stmt"
	i=$((i + 1))
done
printf '%-34s %8s %8s %11s\n' "" "wall s" "CPU s" "peak RSS"
row "whythefail, cold" s_cold s_stap
row "whythefail, warm" s_warm s_stap
row "stap" s_stap
same s_cold s_stap
same s_warm s_stap
load

[ "${FUNCTIONS:-}" != skip ] || exit 0
fn='kernel.function("*")'
echo "== $fn, -r $rel; one run each"
load
rm -rf "$tmp/cache"
WHYTHEFAIL_CACHE_DIR=$tmp/cache once f_cold "$tmp/wtf" -r "$rel" -L "$fn"
WHYTHEFAIL_CACHE_DIR=$tmp/cache once f_warm "$tmp/wtf" -r "$rel" -L "$fn"
if [ "${STAP_FUNCTIONS:-}" != skip ]; then
	once f_stap stap -r "$rel" -L "$fn"
fi
printf '%-34s %8s %8s %11s\n' "" "wall s" "CPU s" "peak RSS"
row "whythefail, cold" f_cold f_stap
row "whythefail, warm" f_warm f_stap
[ ! -s "$tmp/f_stap.times" ] || {
	row "stap" f_stap
	# stap's rows differ from whythefail's in 44 rows' variables, kept in
	# probe/testdata/kernel/functions-REL.known.
	same f_cold f_stap
}
same f_cold f_warm
load
