# bench/lib.sh: the timing harness that bench/follow.sh and
# bench/placement.sh share. Source it from the repository's root, after
# `set -euo pipefail`. It gives:
#   $work   a temporary directory, removed on exit
#   $wtf    whythefail, built there
#   $libc   glibc's path; $work/gai N does N numeric getaddrinfo lookups
#           (getaddrinfo's own code, no name service)
#   $T      the /usr/bin/time prefix that writes a run's wall time and CPU
#           seconds to $work/t
#   measure, least, per (below)
# Each run reports the traced program's own wall time and CPU seconds
# (user + system: where the kernel handles its uprobe traps and runs the
# BPF programs), written by /usr/bin/time to $work/t; whythefail's
# start-up and detaching are outside both. On a shared machine CPU time
# varies far less than wall time.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/whythefail" ./cmd/whythefail
wtf="$work/whythefail"
cat >"$work/gai.c" <<'C'
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* N numeric lookups: getaddrinfo's own code, no name service. */
int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
	struct addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	for (long i = 0; i < n; i++) {
		struct addrinfo *res = NULL;
		if (getaddrinfo("127.0.0.1", "80", &hints, &res) != 0)
			return 1;
		freeaddrinfo(res);
	}
	return 0;
}
C
gcc -O2 -o "$work/gai" "$work/gai.c"
libc=/lib/x86_64-linux-gnu/libc.so.6

measure() { # "wall cpu" of one run of "$@"
	"$@" >/dev/null 2>&1 || true
	awk -F, '{ print $1, $2 + $3 }' "$work/t"
}
least() { # least wall and least CPU of the "wall cpu" lines in file $1
	awk 'NR == 1 || $1 < w { w = $1 } NR == 1 || $2 < c { c = $2 } END { print w, c }' "$1"
}
per() { # "wall cpu" µs per call from files $1 (N calls) and $2 (one call)
	paste -d' ' <(least "$1") <(least "$2") |
		awk -v n="$3" '{ printf "%f %f\n", ($1 - $3) * 1e6 / (n - 1), ($2 - $4) * 1e6 / (n - 1) }'
}
T="/usr/bin/time -f %e,%U,%S -o $work/t"
