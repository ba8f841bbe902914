package probe

import (
	"testing"

	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/target"
)

// BenchmarkListOneFunction is `whythefail -L` on every statement of
// glibc's getaddrinfo (libc6-dbg): open, index, resolve, list, with the
// user's build-id cache as it is (the first run fills it).
func BenchmarkListOneFunction(b *testing.B) {
	s, err := spec.Parse(`process("` + libc + `").statement("getaddrinfo@*:*")`)
	if err != nil {
		b.Fatal(err)
	}
	b.Setenv("WHYTHEFAIL_CACHE", "")
	for b.Loop() {
		f, err := target.Open(libc, target.Options{})
		if err != nil || f.Debug == nil {
			b.Skipf("glibc debug info unavailable (install libc6-dbg): %v", err)
		}
		r := NewLazyResolver(f)
		pts, err := r.List(s)
		if err != nil {
			b.Fatal(err)
		}
		if len(List(pts, true)) == 0 {
			b.Fatal("no rows")
		}
		f.Close()
	}
}
