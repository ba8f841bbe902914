#!/usr/bin/env bash
# bench/oneshot.sh: a one-shot question, answered by whythefail and by gdb.
# A small program calls glibc's getaddrinfo once with bad flags (it returns
# -1, EAI_BADFLAGS); measured in one run, alternating, RUNS times each
# (medians of wall seconds):
#   program   the program alone
#   gdb       gdb -batch breaking in getaddrinfo and running `finish` on the call
#   wtf       whythefail's whole run on it: start, resolve, attach, run,
#             detach, print (-c ./gai, condition $return == -1)
#   list      whythefail -L of getaddrinfo's statements (resolution alone)
# and the ratio whythefail/gdb. Every run's output is checked: gdb must
# stop in getaddrinfo and report -1 from `finish` (a uprobe that another
# tracer holds at that address hides gdb's breakpoint), whythefail must
# print the trace with $return: -1. Needs root, gcc, gdb and libc6-dbg.
#
#   bash bench/oneshot.sh [RUNS]
#
# Tracing follows the command with a raw tracepoint where the fork tracker
# allows it; on a tree where it still needs tracefs, run the script in a
# private mount namespace with tracefs mounted there (the script itself
# mounts nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/whythefail" ./cmd/whythefail
libc=/lib/x86_64-linux-gnu/libc.so.6
cat >"$work/gai.c" <<'EOF'
#include <netdb.h>
#include <stdio.h>
#include <string.h>

/* One getaddrinfo call with flags it rejects: returns -1 (EAI_BADFLAGS). */
int main(void)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_flags = 0x7fff;
	int rc = getaddrinfo("localhost", "80", &hints, &res);
	printf("getaddrinfo: %d (%s)\n", rc, gai_strerror(rc));
	return rc == EAI_BADFLAGS ? 0 : 1;
}
EOF
gcc -g -O2 -o "$work/gai" "$work/gai.c"
cd "$work"
export DEBUGINFOD_URLS=

# once NAME CHECK CMD...: runs CMD, fails unless its stdout and stderr
# together match the extended regular expression CHECK, and appends its
# wall seconds to NAME.times.
once() {
	local name=$1 check=$2 start end
	shift 2
	start=$(date +%s%N)
	if ! "$@" >"$name.out" 2>"$name.err"; then
		echo "$name failed: $*" >&2
		tail -5 "$name.err" >&2
		exit 1
	fi
	end=$(date +%s%N)
	if ! grep -Eq -- "$check" "$name.out" "$name.err"; then
		echo "$name: output does not match /$check/: $*" >&2
		head -20 "$name.out" "$name.err" >&2
		exit 1
	fi
	echo "$(( (end - start) / 1000 ))" | awk '{printf "%.4f\n", $1/1e6}' >>"$name.times"
}

# median NAME: the median of NAME.times.
median() {
	sort -n "$1.times" | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'
}

# gdbfinish runs gdb on ./gai; its status is that of the last command,
# so the output says whether it stopped and finished (once checks).
gdbfinish() {
	if ! gdb -nx -batch -ex 'break getaddrinfo' -ex run -ex finish --args ./gai; then
		echo "gdb did not stop in getaddrinfo (does a uprobe of another tracer sit at its entry?)" >&2
	fi
}

echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) on $(nproc) CPUs; $runs runs each, medians"
for ((i = 0; i < runs; i++)); do
	once program '^getaddrinfo: -1 ' ./gai
	once gdb '^Value returned is \$1 = -1$' gdbfinish
	once wtf 'function\(getaddrinfo\) \$return: -1$' \
		./whythefail "process(\"$libc\")" getaddrinfo '$return == -1' -c ./gai
	once list '\.statement\("getaddrinfo@' \
		./whythefail -L "process(\"$libc\").statement(\"getaddrinfo@*:*\")"
done
printf '%-48s %8s\n' "" "wall s"
printf '%-48s %8.3f\n' "program alone" "$(median program)"
printf '%-48s %8.3f\n' "gdb -batch: break getaddrinfo, run, finish" "$(median gdb)"
printf '%-48s %8.3f\n' "whythefail ... getaddrinfo '\$return == -1' -c" "$(median wtf)"
printf '%-48s %8.3f\n' "whythefail -L getaddrinfo's statements" "$(median list)"
awk -v w="$(median wtf)" -v g="$(median gdb)" 'BEGIN {printf "whythefail / gdb: %.2fx\n", w/g}'
echo "trace: $(grep -c '\$\$vars' wtf.out) statements, $(grep -c '^whythefail: note:' wtf.err) notes on stderr; -L: $(wc -l <list.out) rows"
