#!/bin/sh
# listing.sh times `whythefail -L` against `stap -L` on the same probe
# point (default: every statement of glibc's getaddrinfo) in one run. The
# two commands alternate, RUNS times each, so that load from elsewhere
# falls on both alike; each figure is the median of its runs. It prints
# user+sys CPU seconds (time(1): 10 ms resolution), wall seconds (from
# date, with the cost of starting time(1)) and peak RSS of each, the
# ratios stap/whythefail, and whether the two listings are identical. With
# BASELINE=REV (a git revision) it also times whythefail as built at REV,
# in the same alternation, for before/after figures. With DWZ=1 both read
# glibc's debug files (libc6-dbg) as a -dbgsym package compressed by dh_dwz
# would ship them: decompressed, then run through dwz -m together (libc,
# libm, libresolv, ld.so), found under a debug dir of their own.
# whythefail's build-id cache is filled by one untimed run first, so the
# figures are those of every run after the first on a file;
# WHYTHEFAIL_CACHE=off measures without the cache. With RELEASE=REL both
# list a kernel or module("NAME") SPEC with -r REL (stap against that
# installed kernel instead of the stand-in tree); with COLD=1 each
# whythefail run starts from an empty cache directory of its own (the
# first run on a vmlinux, which indexes it).
# Usage: [BASELINE=REV] [DWZ=1] [WHYTHEFAIL_CACHE=off] [RELEASE=REL [COLD=1]] bench/listing.sh [SPEC] [RUNS]
set -eu
spec=${1:-'process("/lib/x86_64-linux-gnu/libc.so.6").statement("getaddrinfo@*:*")'}
runs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/wtf" ./cmd/whythefail)
names="wtf stap"
if [ -n "${BASELINE:-}" ]; then
	mkdir "$tmp/src"
	git -C "$root" archive "$BASELINE" | tar -x -C "$tmp/src"
	(cd "$tmp/src" && go build -o "$tmp/base" ./cmd/whythefail)
	names="base wtf stap"
fi
wtfargs=
stapr=
export DEBUGINFOD_URLS=
if [ -n "${RELEASE:-}" ]; then
	wtfargs="-r $RELEASE"
	stapr=$RELEASE
fi
if [ -n "${DWZ:-}" ]; then
	dbg=$tmp/debug
	mkdir -p "$dbg/.dwz"
	for lib in libc.so.6 libm.so.6 libresolv.so.2 ld-linux-x86-64.so.2; do
		id=$(readelf -n "/lib/x86_64-linux-gnu/$lib" | awk '/Build ID/ {print $3}')
		rest=${id#??}
		mkdir -p "$dbg/.build-id/${id%"$rest"}"
		objcopy --decompress-debug-sections "/usr/lib/debug/.build-id/${id%"$rest"}/$rest.debug" \
			"$dbg/.build-id/${id%"$rest"}/$rest.debug"
	done
	# dwz says which files it left alone ("not beneficial"): those keep
	# their own partial units but no supplementary file.
	dwz -m "$dbg/.dwz/glibc.debug" -M "$dbg/.dwz/glibc.debug" "$dbg"/.build-id/*/*.debug 2>&1 | sed 's/^/dwz:   /'
	wtfargs="--debug-dir $dbg"
	export SYSTEMTAP_DEBUGINFO_PATH="+:.debug:$dbg"
fi
# stap needs a stand-in kernel build tree (docs/stap-listing.md, section 0).
tree=$tmp/tree
mkdir -p "$tree/include/config" "$tree/include/generated"
printf 'CONFIG_TRACEPOINTS=y\nCONFIG_ARCH_SUPPORTS_UPROBES=y\nCONFIG_UPROBES=y\n' >"$tree/.config"
: >"$tree/Module.symvers"
uname -r >"$tree/include/config/kernel.release"
printf '#define UTS_RELEASE "%s"\n' "$(uname -r)" >"$tree/include/generated/utsrelease.h"
echo 'ffffffff81001000 T arch_uretprobe_hijack_return_addr' >"$tree/System.map"

# once NAME CMD...: runs CMD, appends "cpu wall rss_kb" to $tmp/NAME.times
# and keeps its output in $tmp/NAME.out.
once() {
	name=$1
	shift
	start=$(date +%s%N)
	if ! /usr/bin/time -f '%U %S %M' -o "$tmp/t" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
		echo "$name failed: $*" >&2
		cat "$tmp/$name.err" >&2
		exit 1
	fi
	end=$(date +%s%N)
	# time(1) counts wall time in centiseconds; date gives nanoseconds.
	awk -v ns=$((end - start)) '{printf "%.3f %.4f %d\n", $1+$2, ns/1e9, $3}' "$tmp/t" >>"$tmp/$name.times"
}

# median NAME COLUMN: the median of a column of $tmp/NAME.times.
median() {
	sort -n -k "$2" "$tmp/$1.times" | awk -v c="$2" '{v[NR]=$c} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'
}

# shellcheck disable=SC2086
"$tmp/wtf" $wtfargs -L "$spec" >/dev/null
echo "spec:  $spec"
if [ "${WHYTHEFAIL_CACHE:-}" = off ]; then
	echo "cache: off"
elif [ -n "${COLD:-}" ]; then
	echo "cache: cold (emptied before every whythefail run)"
else
	echo "cache: on (filled by a run before the timed ones)"
fi
echo "load:  $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) on $(nproc) CPUs; $runs runs each, medians"
i=0
while [ "$i" -lt "$runs" ]; do
	# shellcheck disable=SC2086 # wtfargs is a list
	[ -z "${BASELINE:-}" ] || once base "$tmp/base" $wtfargs -L "$spec"
	# shellcheck disable=SC2086
	if [ -n "${COLD:-}" ]; then
		rm -rf "$tmp/cache"
		export WHYTHEFAIL_CACHE_DIR="$tmp/cache"
	fi
	# shellcheck disable=SC2086
	once wtf "$tmp/wtf" $wtfargs -L "$spec"
	once stap stap -r "${stapr:-$tree}" -L "$spec"
	i=$((i + 1))
done
for n in $names; do
	eval "${n}_cpu=\$(median $n 1) ${n}_wall=\$(median $n 2) ${n}_rss=\$(median $n 3)"
done
# row LABEL NAME: the medians of NAME and, but for stap, stap's over them.
row() {
	eval "cpu=\$${2}_cpu wall=\$${2}_wall rss=\$${2}_rss"
	printf '%-15s %8.2f %8.4f %12d %6d\n' "$1" "$cpu" "$wall" "$rss" "$(wc -l <"$tmp/$2.out")"
	[ "$2" = stap ] || echo "$stap_cpu $cpu $stap_wall $wall $stap_rss $rss" | awk '{
		printf "%-15s %7.2fx %7.2fx %11.2fx\n", "  stap/that", ($2 > 0 ? $1/$2 : 0), ($4 > 0 ? $3/$4 : 0), ($6 > 0 ? $5/$6 : 0) }'
}
printf '%-15s %8s %8s %12s %6s\n' "" "CPU s" "wall s" "peak RSS KB" "rows"
[ -z "${BASELINE:-}" ] || row "at $BASELINE" base
row "whythefail -L" wtf
row "stap -L" stap
if cmp -s "$tmp/wtf.out" "$tmp/stap.out"; then
	echo "output: identical"
else
	echo "output: DIFFERENT"
	diff "$tmp/stap.out" "$tmp/wtf.out" | head -20
	exit 1
fi
