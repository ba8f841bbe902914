package debuginfo_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/whythefail/whythefail/debuginfo"
	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/probe"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/target"
)

// FuzzLoad feeds arbitrary bytes through the whole listing path: open the
// file as a target, index its DWARF, resolve function("*") and list it. No
// input may panic; Load returns data xor an error.
func FuzzLoad(f *testing.F) {
	for _, v := range []fixture.Variant{{Compiler: "gcc", Opt: "-O0"}, {Compiler: "clang", Opt: "-O2", PIE: true}} {
		b := fixture.Build(f, "recurse", v)
		data, err := os.ReadFile(b.Path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "bin")
		if err := os.WriteFile(path, data, 0o755); err != nil {
			t.Fatal(err)
		}
		bin, err := target.Open(path, target.Options{DebugDirs: []string{}})
		if err != nil {
			return
		}
		defer bin.Close()
		if bin.Debug != nil {
			d, err := debuginfo.Load(bin.DWARFSections())
			if (d == nil) == (err == nil) {
				t.Fatalf("Load = %v, %v: want exactly one of data and error", d, err)
			}
		}
		r, err := probe.NewResolver(bin)
		if err != nil {
			return
		}
		s, err := spec.Parse(`process("` + bin.Path + `").function("*")`)
		if err != nil {
			t.Fatal(err)
		}
		pts, err := r.Resolve(s)
		if err != nil && !errors.Is(err, probe.ErrNoMatch) && pts != nil {
			t.Fatalf("Resolve returned points and an error: %v", err)
		}
		probe.List(pts, true)
	})
}
