package target

import (
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

// TestDebuginfodNotFound checks NeedDWARF's message when the configured
// servers do not have the debug file either.
func TestDebuginfodNotFound(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	dir := t.TempDir()
	path := compile(t, dir, "gcc", "prog", "-O2")
	id := readelfBuildID(t, path)
	f := mustOpen(t, path, Options{DebugDirs: []string{}, Debuginfod: debuginfod.New([]string{srv.URL}, t.TempDir())})
	want := fmt.Sprintf("no debug info for %s (build-id %s; rejected debuginfod: debuginfo for build-id %s not found on 1 server): install the distribution's debug package (e.g. prog-dbgsym; dpkg -S %s names the package) or add a debuginfod server that has it to DEBUGINFOD_URLS",
		path, id, id, path)
	if err := f.NeedDWARF(); err == nil || err.Error() != want {
		t.Errorf("NeedDWARF() = %v\nwant %s", err, want)
	}
}

// TestDWZAltLink builds two binaries whose debug files dwz compresses
// into a shared supplementary file, and checks that Open finds the
// supplementary file and NeedDWARF explains that it cannot be used yet.
func TestDWZAltLink(t *testing.T) {
	needTool(t, "dwz")
	dir := t.TempDir()
	debugDir := filepath.Join(dir, "debug")
	var paths, debugs []string
	// Different optimisation levels give different build-ids; the types
	// they share are what dwz moves into the supplementary file.
	for _, name := range []string{"-O0", "-O1"} {
		p := compile(t, dir, "gcc", "prog"+name, "-g", name)
		id := readelfBuildID(t, p)
		d := filepath.Join(debugDir, ".build-id", id[:2], id[2:]+".debug")
		if err := os.MkdirAll(filepath.Dir(d), 0o755); err != nil {
			t.Fatal(err)
		}
		splitDebug(t, p, d, "--strip-all")
		paths, debugs = append(paths, p), append(debugs, d)
	}
	alt := filepath.Join(dir, "common.debug")
	run(t, "dwz", append([]string{"-m", alt, "-M", "common.debug"}, debugs...)...)
	altID := readelfBuildID(t, alt)

	// Not found: the name is relative to the debug file's directory, and
	// the build-id directory does not have it yet.
	f := mustOpen(t, paths[0], Options{DebugDirs: []string{debugDir}})
	wantPrefix := func(debug string) string {
		return fmt.Sprintf("unsupported debug info: %s was compressed by dwz and refers to its supplementary file common.debug (build-id %s", debug, altID)
	}
	tail := "through DW_FORM_GNU_ref_alt/strp_alt, which whythefail cannot follow yet (Go's debug/dwarf does not resolve them): use debug info built without dwz"
	want := wantPrefix(debugs[0]) + ", not found) " + tail
	if err := f.NeedDWARF(); err == nil || err.Error() != want || !errors.Is(err, ErrUnsupportedDebugInfo) {
		t.Errorf("NeedDWARF() = %v\nwant %s", err, want)
	}
	if f.AltPath != "" || fmt.Sprintf("%x", f.AltBuildID) != altID {
		t.Errorf("AltPath %q AltBuildID %x, want none and %s", f.AltPath, f.AltBuildID, altID)
	}

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
	want = wantPrefix(debugs[1]) + ", found at " + altByID + ") " + tail
	if err := f.NeedDWARF(); err == nil || err.Error() != want {
		t.Errorf("NeedDWARF() = %v\nwant %s", err, want)
	}
	if _, err := f.DebugInfo(); err == nil || !strings.Contains(err.Error(), "dwz") {
		t.Errorf("DebugInfo() error %v, want the dwz message", err)
	}

	// Found through debuginfod.
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
}
