#!/bin/sh
# listing.sh times `whythefail -L` against `stap -L` on the same probe
# point (default: every statement of glibc's getaddrinfo) in one run and
# prints user+sys CPU seconds, wall seconds, peak RSS and the ratio.
# Usage: bench/listing.sh [SPEC] [RUNS]
set -eu
spec=${1:-'process("/lib/x86_64-linux-gnu/libc.so.6").statement("getaddrinfo@*:*")'}
runs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/wtf" ./cmd/whythefail)
# stap needs a stand-in kernel build tree (docs/stap-listing.md, section 0).
tree=$tmp/tree
mkdir -p "$tree/include/config" "$tree/include/generated"
printf 'CONFIG_TRACEPOINTS=y\nCONFIG_ARCH_SUPPORTS_UPROBES=y\nCONFIG_UPROBES=y\n' >"$tree/.config"
: >"$tree/Module.symvers"
uname -r >"$tree/include/config/kernel.release"
printf '#define UTS_RELEASE "%s"\n' "$(uname -r)" >"$tree/include/generated/utsrelease.h"
echo 'ffffffff81001000 T arch_uretprobe_hijack_return_addr' >"$tree/System.map"

# measure NAME CMD...: best of $runs by CPU time; prints "cpu wall rss_kb".
measure() {
	best=""
	i=0
	while [ "$i" -lt "$runs" ]; do
		/usr/bin/time -f '%U %S %e %M' -o "$tmp/t" "$@" >"$tmp/out" 2>/dev/null
		line=$(awk '{printf "%.2f %.2f %d\n", $1+$2, $3, $4}' "$tmp/t")
		if [ -z "$best" ] || [ "$(echo "$line $best" | awk '{print ($1 < $4)}')" = 1 ]; then
			best=$line
		fi
		i=$((i + 1))
	done
	echo "$best"
}
w=$(measure "$tmp/wtf" -L "$spec")
wrows=$(wc -l <"$tmp/out")
s=$(measure stap -r "$tree" -L "$spec")
srows=$(wc -l <"$tmp/out")
echo "spec: $spec"
echo "$w" | awk -v r="$wrows" '{printf "whythefail -L: %5.2f s cpu %5.2f s wall %7d KB peak RSS (%d rows)\n", $1, $2, $3, r}'
echo "$s" | awk -v r="$srows" '{printf "stap -L:       %5.2f s cpu %5.2f s wall %7d KB peak RSS (%d rows)\n", $1, $2, $3, r}'
echo "$w $s" | awk '{ if ($1 > 0) printf "stap/whythefail CPU ratio: %.2fx\n", $4 / $1; else print "whythefail CPU below timer resolution" }'
