package tracer

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/whythefail/whythefail/debuginfod"
	fx "github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/probe"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/report"
	"github.com/whythefail/whythefail/target"
)

// kernelSourceC is the stand-in vmlinux's one unit, kernel/ksrc.c; one
// of its lines is, as far as the line table says (#line), line 3 of
// include/linux/ksrc.h (kernelSourceH), as an inlined header's would be:
// not a statement of ksrc_check (those are its own file's, as stap lists
// them), but a line the verdict may quote. The #line after it gives the
// lines that follow their own numbers.
const kernelSourceC = `int ksrc_check(int mask)
{
	int bad = mask & ~0xff;
#line 3 "include/linux/ksrc.h"
	bad >>= 8;
#line 7 "kernel/ksrc.c"
	if (bad)
		return -22;
	return 0;
}
int main(void) { return ksrc_check(1 << 9) == -22 ? 0 : 1; }
`

const kernelSourceH = `/* ksrc.h */

	bad >>= 8;
`

// ksrcFiles are the stand-in kernel's source files by the paths its
// line table names.
var ksrcFiles = map[string]string{"kernel/ksrc.c": kernelSourceC, "include/linux/ksrc.h": kernelSourceH}

// kernelSourceFixture compiles kernelSourceC as kernel/ksrc.c of a tree
// whose path the DWARF records as compDir (gcc -fdebug-prefix-map: nothing
// is at that path here), and places it as the vmlinux of release rel under
// a debug directory, where OpenKernel finds it; it returns the kernel.
func kernelSourceFixture(t *testing.T, compDir, rel string) *target.Kernel {
	t.Helper()
	fx.NeedTool(t, "gcc")
	tree := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tree, "kernel"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "kernel/ksrc.c"), []byte(kernelSourceC), 0o644); err != nil {
		t.Fatal(err)
	}
	debug := t.TempDir()
	vmlinux := filepath.Join(debug, "boot", "vmlinux-"+rel)
	if err := os.MkdirAll(filepath.Dir(vmlinux), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := fmt.Sprintf("cd %q && gcc -g -O0 -Wl,--build-id -fdebug-prefix-map=%s=%s -o %q kernel/ksrc.c", tree, tree, compDir, vmlinux)
	fx.Run(t, "sh", "-c", cmd)
	k, err := target.OpenKernel(context.Background(), target.KernelOptions{Release: rel, DebugDirs: []string{debug}, ModulesDir: filepath.Join(debug, "none"), SysDir: filepath.Join(debug, "none")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// kernelSourceJob is what Prepare has when it adds sources for a kernel
// function: the function, and its statements as resolved, with no text.
func kernelSourceJob(t *testing.T, k *target.Kernel, fn string) (*Job, *probe.Point) {
	t.Helper()
	r := probe.NewLazyResolver(k)
	fpts, err := r.Resolve(&spec.Spec{Target: spec.Kernel, Point: spec.Function, Func: fn, Suffix: spec.Call})
	if err != nil || len(fpts) != 1 || fpts[0].Func == nil {
		t.Fatalf("resolving %s: %v, %d points", fn, err, len(fpts))
	}
	f := fpts[0].Func
	spts, err := r.Resolve(&spec.Spec{Target: spec.Kernel, Point: spec.Statement, Func: f.Name, File: f.DeclFile, Lines: spec.Lines{Kind: spec.AnyLine}})
	if err != nil {
		t.Fatal(err)
	}
	job := &Job{Stmts: map[uint32]report.Stmt{}}
	for i, p := range spts {
		job.Stmts[uint32(i)] = report.Stmt{File: p.File, Line: p.Line}
	}
	return job, fpts[0]
}

// sourceServer is a debuginfod server holding, for build-id id, the
// files (path → text) at /buildid/ID/source/PATH; it records every path
// it is asked for.
func sourceServer(t *testing.T, id []byte, files map[string]string) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		if p, ok := strings.CutPrefix(r.URL.Path, fmt.Sprintf("/buildid/%x/source", id)); ok {
			if text, ok := files[p]; ok {
				fmt.Fprint(w, text)
				return
			}
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(asked)
	}
}

// checkKernelSource checks that addSource gave every statement of the
// job its line of kernel/ksrc.c, that the failing line (found by its text)
// is among them, and the function's listing: its lines from its
// declaration to its last statement's.
func checkKernelSource(t *testing.T, job *Job) {
	t.Helper()
	lines := func(file string) []string { return strings.Split(ksrcFiles[file], "\n") }
	at := func(file, text string) string {
		return fmt.Sprintf("%s:%d", file, slices.Index(lines(file), text)+1)
	}
	want := map[string]bool{at("kernel/ksrc.c", "\t\treturn -22;"): false}
	for id, st := range job.Stmts {
		src := lines(st.File)
		if st.File != "kernel/ksrc.c" || st.Line < 1 || st.Line > len(src) || !st.HasSource || st.Source != src[st.Line-1] {
			t.Errorf("statement %d (%s:%d): source %q (%v), want its line of %s", id, st.File, st.Line, st.Source, st.HasSource, st.File)
		}
		if _, ok := want[fmt.Sprintf("%s:%d", st.File, st.Line)]; ok {
			want[fmt.Sprintf("%s:%d", st.File, st.Line)] = true
		}
	}
	for w, seen := range want {
		if !seen {
			t.Errorf("no statement at %s among %v", w, job.Stmts)
		}
	}
	l, src := job.Header.Listing, lines("kernel/ksrc.c")
	if l == nil || len(l.Lines) == 0 || l.Lines[0].N != 1 || l.File != "kernel/ksrc.c" {
		t.Fatalf("listing %+v, want ksrc_check's lines of kernel/ksrc.c from line 1", l)
	}
	for _, sl := range l.Lines {
		if sl.Text != src[sl.N-1] {
			t.Errorf("listing line %d %q, want %q", sl.N, sl.Text, src[sl.N-1])
		}
	}
}

// TestKernelSourceDebuginfod: a kernel whose DWARF records absolute paths
// (Fedora's records /usr/src/debug/kernel-VER/linux-VER.ARCH, and its
// debuginfod serves the kernel's sources) gets --source's text from
// debuginfod, asked for /buildid/ID/source/ABSPATH with the vmlinux's
// build-id, through addSource (Prepare's lookup for every target), once
// per file; the verdict's lookup (sourceLines) then finds that one in the
// cache, and asks for the header's the same way.
// With a relative compile directory (Debian's records
// debian/build/build_amd64_none_amd64), the path asked for is the compile
// directory joined with the file, as elfutils' server indexes it.
func TestKernelSourceDebuginfod(t *testing.T) {
	for _, c := range []struct{ name, compDir string }{
		{"absolute", "/usr/src/debug/kernel-6.5.6/linux-6.5.6-300.fc39.x86_64"},
		{"relative", "debian/build/build_amd64_none_amd64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := kernelSourceFixture(t, c.compDir, "6.5.6-srctest")
			id, err := fx.BuildID(k.Path)
			if err != nil || len(id) == 0 {
				t.Fatalf("build-id of %s: %x, %v", k.Path, id, err)
			}
			served := map[string]string{}
			var wantAsked []string
			for _, f := range []string{"kernel/ksrc.c", "include/linux/ksrc.h"} {
				p := "/" + strings.TrimPrefix(c.compDir, "/") + "/" + f
				served[p] = ksrcFiles[f]
				wantAsked = append(wantAsked, fmt.Sprintf("/buildid/%x/source%s", id, p))
			}
			srv, asked := sourceServer(t, id, served)
			cfg := Config{Source: true, Debuginfod: debuginfod.New([]string{srv.URL}, t.TempDir())}
			job, pt := kernelSourceJob(t, k, "ksrc_check")
			if notes := addSource(job, pt.Func, buildID(k), cfg); len(notes) != 0 {
				t.Errorf("notes %q, want none", notes)
			}
			checkKernelSource(t, job)
			text := sourceLines(pt.Func, buildID(k), cfg)
			if got, ok := text("kernel/ksrc.c", 3); !ok || got != "\tint bad = mask & ~0xff;" {
				t.Errorf("sourceLines: kernel/ksrc.c:3 %q (%v)", got, ok)
			}
			if got, ok := text("include/linux/ksrc.h", 3); !ok || got != "\tbad >>= 8;" {
				t.Errorf("sourceLines: include/linux/ksrc.h:3 %q (%v)", got, ok)
			}
			if got := asked(); !slices.Equal(got, wantAsked) {
				t.Errorf("debuginfod asked for %q, want %q", got, wantAsked)
			}
		})
	}
}

// TestKernelSourceNotFound: a source that neither the compile directory
// nor a server has is one note, which says where it was looked for and
// to use --source-path; with --source-path .=TREE (an unpacked
// linux-source-X.Y) it is found under TREE by the path the unit records.
func TestKernelSourceNotFound(t *testing.T) {
	const compDir = "debian/build/build_amd64_none_amd64"
	k := kernelSourceFixture(t, compDir, "6.1.0-srctest")
	srv, asked := sourceServer(t, k.BuildID, nil)
	cfg := Config{Source: true, Debuginfod: debuginfod.New([]string{srv.URL}, t.TempDir())}
	job, pt := kernelSourceJob(t, k, "ksrc_check")
	notes := addSource(job, pt.Func, buildID(k), cfg)
	want := fmt.Sprintf("no source text for kernel/ksrc.c: %[1]s/kernel/ksrc.c: source file not found (recorded as kernel/ksrc.c in compile directory %[1]s; looked at %[1]s/kernel/ksrc.c; debuginfod: source /%[1]s/kernel/ksrc.c of build-id %[2]x not found on 1 server): use --source-path OLD=NEW to say where the sources are (the path is relative: --source-path .=DIR looks for it under DIR)", compDir, k.BuildID)
	if len(notes) != 1 || notes[0] != want {
		t.Errorf("notes %q\nwant [%q]", notes, want)
	}
	if len(asked()) != 1 {
		t.Errorf("debuginfod asked for %q, want the file once", asked())
	}
	for _, st := range job.Stmts {
		if st.HasSource {
			t.Errorf("statement %s:%d has source %q", st.File, st.Line, st.Source)
		}
	}

	tree := t.TempDir()
	for f, text := range ksrcFiles {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(tree, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tree, f), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	job, pt = kernelSourceJob(t, k, "ksrc_check")
	if notes := addSource(job, pt.Func, buildID(k), Config{Source: true, SourcePaths: []string{".=" + tree}}); len(notes) != 0 {
		t.Errorf("with --source-path .=%s: notes %q, want none", tree, notes)
	}
	checkKernelSource(t, job)
}
