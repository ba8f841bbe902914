package probe

import (
	"fmt"
	"math/rand"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// TestMultimapOrderMatchesLibstdcxx checks the hashtable model against the
// real libstdc++: testdata/stlhash/order.cc, built with g++, inserts the
// same names into the same container type and prints its iteration order.
// The name sets cross every growth step up to 20753 buckets and hold
// repeated names (overloads, a function's abstract and concrete DIEs) and
// bytes above 0x7f (hashed as signed chars).
func TestMultimapOrderMatchesLibstdcxx(t *testing.T) {
	fixture.NeedTool(t, "g++")
	bin := filepath.Join(t.TempDir(), "order")
	fixture.Run(t, "g++", "-O1", "-o", bin, filepath.Join("testdata", "stlhash", "order.cc"))
	rnd := rand.New(rand.NewSource(1))
	for _, n := range []int{0, 1, 2, 12, 13, 14, 29, 30, 100, 541, 542, 3000, 12000} {
		for _, pool := range []int{n + 1, n/3 + 1} {
			names := make([]string, n)
			for i := range names {
				names[i] = randomName(rnd, pool)
			}
			cmd := exec.Command(bin)
			cmd.Stdin = strings.NewReader(strings.Join(names, "\n") + map[bool]string{true: "\n"}[n > 0])
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", bin, err)
			}
			lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			var want []int
			for _, l := range lines[:len(lines)-1] {
				v, err := strconv.Atoi(l)
				if err != nil {
					t.Fatalf("%s printed %q", bin, l)
				}
				want = append(want, v)
			}
			m := newSTLMultimap(n)
			for _, k := range names {
				m.insert(k)
			}
			if got, want := fmt.Sprint("buckets ", len(m.buckets)), lines[len(lines)-1]; got != want {
				t.Errorf("%d names from %d: %s, libstdc++ has %s", n, pool, got, want)
			}
			if got := multimapOrder(names); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%d names from %d: order differs from libstdc++'s\n got %v\nwant %v", n, pool, head(got), head(want))
			}
		}
	}
}

// randomName returns one of pool identifier-like names, some with a byte
// above 0x7f.
func randomName(rnd *rand.Rand, pool int) string {
	i := rnd.Intn(pool)
	r := rand.New(rand.NewSource(int64(i)))
	b := []byte("fn_")
	for j := r.Intn(12); j >= 0; j-- {
		c := byte('a' + r.Intn(26))
		if r.Intn(40) == 0 {
			c = byte(0x80 + r.Intn(0x80))
		}
		b = append(b, c)
	}
	return string(b) + strconv.Itoa(i)
}

func head(v []int) []int {
	if len(v) > 40 {
		return v[:40]
	}
	return v
}

// TestSTLBucketCounts checks the growth table against libstdc++'s
// _Prime_rehash_policy.
func TestSTLBucketCounts(t *testing.T) {
	fixture.NeedTool(t, "g++")
	bin := filepath.Join(t.TempDir(), "chain")
	fixture.Run(t, "g++", "-O1", "-o", bin, filepath.Join("testdata", "stlhash", "chain.cc"))
	out := strings.Fields(fixture.Run(t, bin))
	var got []string
	for _, c := range stlBucketCounts {
		got = append(got, strconv.FormatUint(c, 10))
	}
	if len(out) < len(got) || strings.Join(out[:len(got)], " ") != strings.Join(got, " ") {
		t.Errorf("stlBucketCounts = %v\nlibstdc++ grows through %v", got, out)
	}
}
