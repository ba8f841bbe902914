package debuginfo_test

import (
	"testing"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/target"
)

// BenchmarkLoadLibc indexes glibc's DWARF (libc6-dbg), the cost that
// dominates `whythefail -L` on it.
func BenchmarkLoadLibc(b *testing.B) {
	f, err := target.Open("/lib/x86_64-linux-gnu/libc.so.6", target.Options{})
	if err != nil || f.Debug == nil {
		b.Skipf("glibc debug info unavailable (install libc6-dbg): %v", err)
	}
	defer f.Close()
	for b.Loop() {
		if _, err := debuginfo.Load(f.DWARFSections()); err != nil {
			b.Fatal(err)
		}
	}
}
