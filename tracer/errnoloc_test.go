package tracer

import (
	"bytes"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/target"
)

// TestErrnoLocation picks how errno() is found from the traced binary
// alone: libc's own GOT slot, the program's DT_DEBUG and the system libc,
// or nothing (with a note) for another shared library.
func TestErrnoLocation(t *testing.T) {
	open := func(path string) *target.File {
		f, err := target.Open(path, target.Options{DebugDirs: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	libc := open("/lib/x86_64-linux-gnu/libc.so.6")
	le, err := libc.LibcErrno()
	if err != nil {
		t.Fatal(err)
	}

	loc, note, miss := errnoLocation(libc)
	if loc.Mode != bpfgen.ErrnoTracedLibc || loc.GOT != le.GOT || note != "" || miss == "" {
		t.Errorf("libc: %+v, %q, %q", loc, note, miss)
	}

	prog := open(fixture.Build(t, "errno", fixture.Default).Path)
	debug, _ := prog.DebugEntry()
	loc, note, miss = errnoLocation(prog)
	want := bpfgen.ErrnoLocation{Mode: bpfgen.ErrnoLinkMap, GOT: le.GOT, DebugEntry: debug, Dynamic: le.Dynamic, BuildID: le.BuildID, BuildIDAddr: le.BuildIDAddr}
	if loc.Mode != want.Mode || loc.GOT != want.GOT || loc.DebugEntry != want.DebugEntry || loc.Dynamic != want.Dynamic ||
		!bytes.Equal(loc.BuildID, want.BuildID) || loc.BuildIDAddr != want.BuildIDAddr || debug == 0 || note != "" ||
		!strings.HasPrefix(miss, "the process had not loaded /usr/lib/x86_64-linux-gnu/libc.so.6 (build-id ") {
		t.Errorf("program: %+v, %q, %q; want %+v", loc, note, miss, want)
	}

	lib := open(fixture.Build(t, "lib", fixture.Default).Path)
	loc, note, miss = errnoLocation(lib)
	if loc.Mode != bpfgen.ErrnoUnknown || miss != "" ||
		note != "errno() prints as ? and conditions on it are false: "+lib.Path+" is a shared library other than libc, and errno is found only from libc or the program itself (trace a function of the program, or of libc)" {
		t.Errorf("library: %+v, %q, %q", loc, note, miss)
	}
}
