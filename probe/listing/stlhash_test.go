package listing

import (
	"fmt"
	"math/rand"
	"os/exec"
	"path/filepath"
	"slices"
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
// bytes above 0x7f. The second half of the cases
// adds extra names with one range insert (update_symtab's aliases), which
// sizes the buckets for all of them at once.
func TestMultimapOrderMatchesLibstdcxx(t *testing.T) {
	fixture.NeedTool(t, "g++")
	bin := filepath.Join(t.TempDir(), "order")
	fixture.Run(t, "g++", "-O1", "-o", bin, filepath.Join("testdata", "stlhash", "order.cc"))
	rnd := rand.New(rand.NewSource(1))
	type tc struct{ n, extra int }
	var cases []tc
	for _, n := range []int{0, 1, 2, 12, 13, 14, 29, 30, 100, 541, 542, 3000, 12000} {
		cases = append(cases, tc{n, 0})
	}
	for _, c := range [][2]int{{1, 1}, {2, 4}, {7, 6}, {12, 1}, {13, 1}, {10, 19}, {20, 40}, {28, 1}, {29, 30}, {50, 9}, {100, 300}, {541, 1}, {600, 700}} {
		cases = append(cases, tc{c[0], c[1]})
	}
	for _, c := range cases {
		for _, pool := range []int{c.n + c.extra + 1, (c.n+c.extra)/3 + 1} {
			names := make([]string, c.n+c.extra)
			for i := range names {
				names[i] = randomName(rnd, pool)
			}
			input := names
			if c.extra > 0 {
				input = append(append(slices.Clone(names[:c.n]), "--"), names[c.n:]...)
			}
			cmd := exec.Command(bin)
			cmd.Stdin = strings.NewReader(strings.Join(input, "\n") + map[bool]string{true: "\n"}[len(input) > 0])
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
			m := newSTLMultimap(c.n)
			for i, k := range names[:c.n] {
				m.insert(k, i)
			}
			extra := newSTLMultimap(c.extra)
			for i, k := range names[c.n:] {
				extra.insert(k, c.n+i)
			}
			m.insertAll(extra)
			if got, want := fmt.Sprint("buckets ", len(m.buckets)), lines[len(lines)-1]; got != want {
				t.Errorf("%d+%d names from %d: %s, libstdc++ has %s", c.n, c.extra, pool, got, want)
			}
			if got := m.order(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%d+%d names from %d: order differs from libstdc++'s\n got %v\nwant %v", c.n, c.extra, pool, head(got), head(want))
			}
			if c.extra == 0 {
				if got := multimapOrder(names); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("multimapOrder of %d names from %d differs from libstdc++'s", c.n, pool)
				}
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

// TestSTLBucketCounts checks the bucket count tables against libstdc++'s
// _Prime_rehash_policy::_M_next_bkt.
func TestSTLBucketCounts(t *testing.T) {
	fixture.NeedTool(t, "g++")
	bin := filepath.Join(t.TempDir(), "chain")
	fixture.Run(t, "g++", "-O1", "-o", bin, filepath.Join("testdata", "stlhash", "chain.cc"))
	want := strings.Fields(fixture.Run(t, bin))
	var got []string
	for _, c := range stlFastBuckets {
		got = append(got, strconv.FormatUint(c, 10))
	}
	for _, c := range stlPrimes {
		got = append(got, strconv.FormatUint(c, 10))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("stlFastBuckets, stlPrimes = %v\nlibstdc++ has %v", got, want)
	}
}
