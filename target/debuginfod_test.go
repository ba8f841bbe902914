package target

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/debuginfod"
	"github.com/whythefail/whythefail/internal/debuginfodtest"
)

// TestDebuginfodEndToEnd strips a binary whose debug file is served only by
// a real debuginfod: Open must find the DWARF through it, and the
// symbols, offsets and CFI must still agree with the original binary.
func TestDebuginfodEndToEnd(t *testing.T) {
	dir := t.TempDir()
	orig := compile(t, dir, "gcc", "orig", "-g", "-O2")
	path := filepath.Join(dir, "prog")
	run(t, "cp", orig, path)
	serve := filepath.Join(dir, "serve")
	if err := os.Mkdir(serve, 0o755); err != nil {
		t.Fatal(err)
	}
	splitDebug(t, path, filepath.Join(serve, "prog.debug"), "--strip-all")
	id := readelfBuildID(t, path)

	// Offline (no client), the debug info is not found.
	off := mustOpen(t, path, noDebugDirs)
	if err := off.NeedDWARF(); !errors.Is(err, ErrNoDebugInfo) {
		t.Fatalf("without debuginfod: NeedDWARF() = %v, want ErrNoDebugInfo", err)
	}

	srv := debuginfodtest.Start(t, serve)
	srv.WaitFor(t, "/buildid/"+id+"/debuginfo")
	cache := t.TempDir()
	f := mustOpen(t, path, Options{DebugDirs: []string{}, Debuginfod: debuginfod.New([]string{srv.URL}, cache)})
	if want := filepath.Join(cache, id, "debuginfo"); f.DebugPath != want {
		t.Fatalf("DebugPath %q, want %q", f.DebugPath, want)
	}
	if err := f.NeedDWARF(); err != nil {
		t.Fatal(err)
	}
	if !hasFunction(t, f.DWARF(), "twice") {
		t.Errorf("DWARF has no subprogram twice")
	}
	checkAgainstBinutils(t, f, orig)
}

// dwzBuild is builds of the test program whose debug files dwz
// compressed together into a supplementary file.
type dwzBuild struct {
	paths  []string // the stripped binaries
	debugs []string // their debug files, compressed by dwz
	origs  []string // copies of the debug files from before dwz
	alt    string   // the supplementary file
}

// buildDWZ compiles the test program with debug flag g at each of opts
// (different build-ids, shared types), splits each binary's debug file to
// debugPath(binary), and runs dwz -m over them, writing the supplementary
// file to alt and recording it as recorded.
func buildDWZ(t *testing.T, dir, g string, opts []string, debugPath func(string) string, alt, recorded string) dwzBuild {
	t.Helper()
	needTool(t, "dwz")
	b := dwzBuild{alt: alt}
	for _, opt := range opts {
		p := compile(t, dir, "gcc", "prog"+opt, g, opt)
		d := debugPath(p)
		if err := os.MkdirAll(filepath.Dir(d), 0o755); err != nil {
			t.Fatal(err)
		}
		splitDebug(t, p, d, "--strip-all")
		orig := filepath.Join(dir, "orig"+opt+".debug")
		run(t, "cp", d, orig)
		b.paths, b.debugs, b.origs = append(b.paths, p), append(b.debugs, d), append(b.origs, orig)
	}
	run(t, "dwz", append([]string{"-m", alt, "-M", recorded}, b.debugs...)...)
	return b
}

// TestDebuginfodDWZ serves, from a real debuginfod only, the debug files of
// two binaries that dwz compressed together and their supplementary file,
// whose recorded path does not exist here: Open must fetch both.
func TestDebuginfodDWZ(t *testing.T) {
	needTool(t, "dwz")
	dir := t.TempDir()
	serve := filepath.Join(dir, "serve")
	if err := os.Mkdir(serve, 0o755); err != nil {
		t.Fatal(err)
	}
	b := buildDWZ(t, dir, "-g", []string{"-O0", "-O2"}, func(p string) string { return filepath.Join(serve, filepath.Base(p)+".debug") },
		filepath.Join(serve, "common.debug"), "/nonexistent/common.debug")
	paths, origs := b.paths, b.origs
	id, altID := readelfBuildID(t, paths[1]), readelfBuildID(t, b.alt)

	srv := debuginfodtest.Start(t, serve)
	srv.WaitFor(t, "/buildid/"+altID+"/debuginfo")
	cache := t.TempDir()
	f := mustOpen(t, paths[1], Options{DebugDirs: []string{}, Debuginfod: debuginfod.New([]string{srv.URL}, cache)})
	if want := filepath.Join(cache, id, "debuginfo"); f.DebugPath != want {
		t.Errorf("DebugPath %q, want %q", f.DebugPath, want)
	}
	if want := filepath.Join(cache, altID, "debuginfo"); f.AltPath != want {
		t.Errorf("AltPath %q, want %q", f.AltPath, want)
	}
	sameDWARF(t, f, origs[1])
}

// TestDebuginfodNotFound checks NeedDWARF's message when the configured
// servers do not have the debug file either.
func TestDebuginfodNotFound(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	dir := t.TempDir()
	path := compile(t, dir, "gcc", "prog", "-O2")
	id := readelfBuildID(t, path)
	f := mustOpen(t, path, Options{DebugDirs: []string{}, Debuginfod: debuginfod.New([]string{srv.URL}, t.TempDir())})
	want := fmt.Sprintf("no debug info for %s (build-id %s; rejected debuginfod: debuginfo for build-id %s not found on 1 server): no installed package owns it: rebuild it with -g",
		path, id, id)
	if err := f.NeedDWARF(); err == nil || err.Error() != want {
		t.Errorf("NeedDWARF() = %v\nwant %s", err, want)
	}
}

// TestDWZAltLink builds two binaries whose debug files dwz compresses
// into a shared supplementary file, and checks that Open finds that file
// wherever gdb would, reads the DWARF of both together, and explains
// when it is missing.
func TestDWZAltLink(t *testing.T) {
	needTool(t, "dwz")
	dir := t.TempDir()
	debugDir := filepath.Join(dir, "debug")
	b := buildDWZ(t, dir, "-g", []string{"-O0", "-O1"}, func(p string) string {
		id := readelfBuildID(t, p)
		return filepath.Join(debugDir, ".build-id", id[:2], id[2:]+".debug")
	}, filepath.Join(dir, "common.debug"), "common.debug")
	paths, debugs, origs, alt := b.paths, b.debugs, b.origs, b.alt
	altID := readelfBuildID(t, alt)

	// Not found: the name is relative to the debug file's directory, and
	// the build-id directory does not have it yet.
	missing := func(debug, server string) string {
		return fmt.Sprintf("no debug info: %s was compressed by dwz and its supplementary file common.debug (build-id %s) was not found: install the package that provides it (the -dbgsym package, under /usr/lib/debug/.dwz) or %s",
			debug, altID, server)
	}
	f := mustOpen(t, paths[0], Options{DebugDirs: []string{debugDir}})
	if err := f.NeedDWARF(); err == nil || err.Error() != missing(debugs[0], "set DEBUGINFOD_URLS") || !errors.Is(err, ErrNoDebugInfo) {
		t.Errorf("NeedDWARF() = %v\nwant %s", err, missing(debugs[0], "set DEBUGINFOD_URLS"))
	}
	if f.AltPath != "" || fmt.Sprintf("%x", f.AltBuildID) != altID {
		t.Errorf("AltPath %q AltBuildID %x, want none and %s", f.AltPath, f.AltBuildID, altID)
	}
	if _, err := f.DebugInfo(); err == nil || !strings.Contains(err.Error(), "supplementary file") {
		t.Errorf("DebugInfo() error %v, want the dwz message", err)
	}

	// A file by that name with another build-id is rejected, and said so.
	wrong := filepath.Join(filepath.Dir(debugs[0]), "common.debug")
	run(t, "cp", origs[1], wrong)
	f = mustOpen(t, paths[0], Options{DebugDirs: []string{debugDir}})
	want := strings.Replace(missing(debugs[0], "set DEBUGINFOD_URLS"), altID+")",
		fmt.Sprintf("%s; rejected %s (build-id %s))", altID, wrong, readelfBuildID(t, origs[1])), 1)
	if err := f.NeedDWARF(); err == nil || err.Error() != want {
		t.Errorf("NeedDWARF() = %v\nwant %s", err, want)
	}
	os.Remove(wrong)

	// Found by the recorded name, relative to the debug file.
	beside := filepath.Join(filepath.Dir(debugs[0]), "common.debug")
	run(t, "cp", alt, beside)
	f = mustOpen(t, paths[0], Options{DebugDirs: []string{debugDir}})
	if f.AltPath != beside {
		t.Errorf("AltPath %q, want %q", f.AltPath, beside)
	}
	sameDWARF(t, f, origs[0])
	os.Remove(beside)

	// Found by build-id under the debug dir.
	altByID := filepath.Join(debugDir, ".build-id", altID[:2], altID[2:]+".debug")
	if err := os.MkdirAll(filepath.Dir(altByID), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "cp", alt, altByID)
	f = mustOpen(t, paths[1], Options{DebugDirs: []string{debugDir}})
	if f.AltPath != altByID {
		t.Errorf("AltPath %q, want %q", f.AltPath, altByID)
	}
	sameDWARF(t, f, origs[1])

	// Found through debuginfod; and when the server lacks it, the message
	// says to add one that has it.
	os.Remove(altByID)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/buildid/"+altID+"/debuginfo" {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, alt)
	}))
	defer srv.Close()
	cache := t.TempDir()
	f = mustOpen(t, paths[1], Options{DebugDirs: []string{debugDir}, Debuginfod: debuginfod.New([]string{srv.URL}, cache)})
	if want := filepath.Join(cache, altID, "debuginfo"); f.AltPath != want {
		t.Errorf("AltPath %q, want %q", f.AltPath, want)
	}
	sameDWARF(t, f, origs[1])
	empty := httptest.NewServer(http.NotFoundHandler())
	defer empty.Close()
	f = mustOpen(t, paths[1], Options{DebugDirs: []string{debugDir}, Debuginfod: debuginfod.New([]string{empty.URL}, t.TempDir())})
	want = strings.Replace(missing(debugs[1], "add a debuginfod server that has it to DEBUGINFOD_URLS"), altID+")",
		fmt.Sprintf("%s; rejected debuginfod: debuginfo for build-id %s not found on 1 server)", altID, altID), 1)
	if err := f.NeedDWARF(); err == nil || err.Error() != want {
		t.Errorf("NeedDWARF() = %v\nwant %s", err, want)
	}
}

// TestDWZAltLinkToItself: a debug file whose .gnu_debugaltlink names its
// own build-id would have its DWARF merged with itself; it is refused.
func TestDWZAltLinkToItself(t *testing.T) {
	dir := t.TempDir()
	p := compile(t, dir, "gcc", "prog", "-g", "-O0")
	id := readelfBuildID(t, p)
	debug := filepath.Join(dir, "debug", ".build-id", id[:2], id[2:]+".debug")
	if err := os.MkdirAll(filepath.Dir(debug), 0o755); err != nil {
		t.Fatal(err)
	}
	splitDebug(t, p, debug, "--strip-all")
	raw, err := hex.DecodeString(id)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.bin")
	if err := os.WriteFile(link, append([]byte(filepath.Base(debug)+"\x00"), raw...), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "objcopy", "--add-section", ".gnu_debugaltlink="+link, debug)
	f := mustOpen(t, p, Options{DebugDirs: []string{filepath.Join(dir, "debug")}})
	want := "malformed debug info: " + debug + " names itself as its dwz supplementary file"
	if err := f.NeedDWARF(); err == nil || err.Error() != want || !errors.Is(err, ErrBadDebugInfo) {
		t.Errorf("NeedDWARF() = %v\nwant %s", err, want)
	}
}

// TestDWZDWARF2 reads dwz-compressed DWARF 2, where the offset-sized alt
// references sit in units whose DW_FORM_ref_addr is address-sized.
func TestDWZDWARF2(t *testing.T) {
	needTool(t, "dwz")
	dir := t.TempDir()
	alt := filepath.Join(dir, "common.debug")
	b := buildDWZ(t, dir, "-gdwarf-2", []string{"-O0", "-O2"}, func(p string) string { return p + ".debug" }, alt, alt)
	paths, debugs, origs := b.paths, b.debugs, b.origs
	if out := run(t, "readelf", "--debug-dump=info", debugs[1]); !strings.Contains(out, "Version:       2") || !strings.Contains(out, "DW_FORM_GNU_ref_alt") && !strings.Contains(out, "alt indirect") {
		t.Fatalf("dwz did not leave DWARF 2 units with alt references:\n%.2000s", out)
	}
	for i, p := range paths {
		// The debuglink CRC no longer matches after dwz: find the debug
		// file by build-id, as distributions install them.
		id := readelfBuildID(t, p)
		byID := filepath.Join(dir, "debug", ".build-id", id[:2], id[2:]+".debug")
		if err := os.MkdirAll(filepath.Dir(byID), 0o755); err != nil {
			t.Fatal(err)
		}
		run(t, "cp", debugs[i], byID)
		f := mustOpen(t, p, Options{DebugDirs: []string{filepath.Join(dir, "debug")}})
		if f.AltPath != alt {
			t.Errorf("AltPath %q, want %q", f.AltPath, alt)
		}
		sameDWARF(t, f, origs[i])
	}
}

// sameDWARF checks that f's DWARF, read together with its supplementary
// file, says what the debug file at orig said before dwz compressed it:
// every function with code has the same name, declaration line and
// parameters, with the same types, and no reference is left pointing into
// the supplementary file.
func sameDWARF(t *testing.T, f *File, orig string) {
	t.Helper()
	if err := f.NeedDWARF(); err != nil {
		t.Fatalf("NeedDWARF() = %v", err)
	}
	dw, err := f.DebugInfo()
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(orig)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	want, err := ef.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	got := functionSummary(t, dw)
	if w := functionSummary(t, want); strings.Join(got, "\n") != strings.Join(w, "\n") || len(w) == 0 {
		t.Errorf("functions after dwz:\n%s\nbefore:\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
	}
}

// functionSummary describes each subprogram with code: address, name and
// declaration line (through abstract origins and specifications), and its
// parameters with their types. It fails on attributes left in dwz's forms.
func functionSummary(t *testing.T, dw *dwarf.Data) []string {
	t.Helper()
	entryAt := func(off dwarf.Offset) *dwarf.Entry {
		r := dw.Reader()
		r.Seek(off)
		e, err := r.Next()
		if err != nil || e == nil {
			t.Fatalf("no DIE at %#x: %v", off, err)
		}
		return e
	}
	attr := func(e *dwarf.Entry, a dwarf.Attr) any {
		for e != nil {
			if v := e.Val(a); v != nil {
				return v
			}
			next, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
			if !ok {
				if next, ok = e.Val(dwarf.AttrSpecification).(dwarf.Offset); !ok {
					return nil
				}
			}
			e = entryAt(next)
		}
		return nil
	}
	typeName := func(e *dwarf.Entry) string {
		off, ok := attr(e, dwarf.AttrType).(dwarf.Offset)
		if !ok {
			return "void"
		}
		ty, err := dw.Type(off)
		if err != nil {
			t.Fatalf("type at %#x: %v", off, err)
		}
		return ty.String()
	}
	var out []string
	r := dw.Reader()
	var cur *strings.Builder
	flush := func() {
		if cur != nil {
			out = append(out, cur.String())
			cur = nil
		}
	}
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			break
		}
		for _, fl := range e.Field {
			if fl.Class == dwarf.ClassReferenceAlt || fl.Class == dwarf.ClassStringAlt {
				t.Fatalf("DIE at %#x: %s still refers into the supplementary file", e.Offset, fl.Attr)
			}
		}
		switch e.Tag {
		case dwarf.TagSubprogram:
			flush()
			if pc, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
				cur = new(strings.Builder)
				fmt.Fprintf(cur, "%#x %v:%v returns %s;", pc, attr(e, dwarf.AttrName), attr(e, dwarf.AttrDeclLine), typeName(e))
			}
		case dwarf.TagFormalParameter, dwarf.TagVariable:
			if cur != nil && e.Val(dwarf.AttrLocation) != nil {
				fmt.Fprintf(cur, " %v:%s", attr(e, dwarf.AttrName), typeName(e))
			}
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit:
			flush()
		}
	}
	flush()
	return out
}
