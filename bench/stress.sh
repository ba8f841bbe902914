#!/usr/bin/env bash
# bench/stress.sh: no harm under load. Runs testdata/src/stress.c (CALLS calls
# of a traced function, default 10 million; one in a million fails) untraced
# and traced, and checks that the output and exit status are identical and
# that the statistics account for every call.
#
#   bash bench/stress.sh [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-10000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/whythefail" ./cmd/whythefail
gcc -g -O2 -o "$work/stress" testdata/src/stress.c

t0=$(date +%s.%N)
"$work/stress" "$calls" > "$work/untraced.out"; ustatus=$?
t1=$(date +%s.%N)
"$work/whythefail" "process(\"$work/stress\")" step '$return == -EAGAIN' -c "$work/stress $calls > $work/traced.out" > "$work/traces" 2> "$work/stderr" && tstatus=0 || tstatus=$?
t2=$(date +%s.%N)

echo "untraced: $(cat "$work/untraced.out") (status $ustatus) in $(echo "$t1 - $t0" | bc) s"
echo "traced:   $(cat "$work/traced.out") (status $tstatus) in $(echo "$t2 - $t1" | bc) s"
sed -n '/^statistics:/,$p' "$work/traces"
fail=0
cmp -s "$work/untraced.out" "$work/traced.out" || { echo "FAIL: output differs"; fail=1; }
[ "$ustatus" = "$tstatus" ] || { echo "FAIL: exit status differs"; fail=1; }
entries=$(sed -n 's/^entry count: //p' "$work/traces")
hit=$(sed -n 's/^exit-hit count: //p' "$work/traces")
miss=$(sed -n 's/^exit-miss count: //p' "$work/traces")
traces=$(grep -c ' function(step) \$return: ' "$work/traces" || true)
[ "$entries" = "$calls" ] || { echo "FAIL: $entries entries for $calls calls"; fail=1; }
[ $((hit + miss)) = "$entries" ] || { echo "FAIL: exit-hit + exit-miss != entries"; fail=1; }
[ "$traces" = "$hit" ] || { echo "FAIL: $traces traces printed, exit-hit $hit"; fail=1; }
[ "$hit" = $((calls / 1000000)) ] || { echo "FAIL: exit-hit $hit"; fail=1; }
[ $fail = 0 ] && echo "PASS: identical output and status, every call accounted for"
exit $fail
