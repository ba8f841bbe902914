package target

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to Open and everything that reads the
// opened file. Invariants: no panic, and exactly one of the File and the
// error is nil. The seeds in testdata/fuzz/FuzzOpen are tiny static
// binaries with DWARF (gcc -g -O1 -nostdlib -static -Wl,-z,noseparate-code)
// and stripped, so mutations reach the section, note, symbol, DWARF and CFI
// readers rather than dying at the magic number. Run with
// -fuzzminimizetime 50x: minimising each new 7 KB input for the default 60s
// stalls the fuzzer at 0 execs/s (measured); with it, about 1000 execs/s.
func FuzzOpen(f *testing.F) {
	f.Add([]byte("\x7fELF"))
	f.Add([]byte("not an ELF file\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "bin")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		file, err := Open(path, noDebugDirs)
		if (file == nil) == (err == nil) {
			t.Fatalf("Open = %v, %v: want exactly one nil", file, err)
		}
		if err != nil {
			_ = err.Error()
			return
		}
		defer file.Close()
		// Exercise and format every reader so that printing is fuzzed too.
		out := fmt.Sprint(file.NeedDWARF(), file.BuildID, file.DebugPath)
		le, lerr := file.LibcErrno()
		de, dok := file.DebugEntry()
		se, serr := file.StaticErrno()
		out += fmt.Sprint(le, lerr, de, dok, se, serr, file.IsExecutable(), file.IsStatic())
		syms := file.Symbols()
		for i, s := range syms {
			if i == 32 {
				break
			}
			off, err := file.FileOffset(s.Value)
			code, cerr := file.Code(s.Value, int(min(s.Size, 64)))
			out += fmt.Sprint(s, off, err, code, cerr)
		}
		fdes, err := file.FrameEntries()
		if (fdes != nil) && err != nil {
			t.Fatalf("FrameEntries returned entries and error %v", err)
		}
		for i, fde := range fdes {
			if i == 32 {
				break
			}
			reg, off, err := file.CFA(fde.Begin())
			out += fmt.Sprint(reg, off, err)
			reg, off, err = file.CFA(fde.End() - 1)
			out += fmt.Sprint(reg, off, err)
		}
		_ = out
	})
}
