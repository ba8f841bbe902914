package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/whythefail/whythefail/debuginfod"
)

// tree writes files (path relative to root → content) and returns root.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, text := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

var id = []byte{0xde, 0xad, 0xbe, 0xef}

func TestFind(t *testing.T) {
	root := tree(t, map[string]string{
		"build/src/a.c":   "a",
		"home/src/b.c":    "b",
		"other/src/b.c":   "other b",
		"home/srcx/c.c":   "c",
		"moved/x/y/abs.c": "abs",
	})
	sub := func(old, new string) Substitution {
		return Substitution{Old: filepath.Join(root, old), New: filepath.Join(root, new)}
	}
	for _, tc := range []struct {
		name          string
		compDir, file string
		subs          []Substitution
		want          string
	}{
		{"absolute file", "/nowhere", filepath.Join(root, "build/src/a.c"), nil, "build/src/a.c"},
		{"relative to comp dir", filepath.Join(root, "build"), "src/a.c", nil, "build/src/a.c"},
		{"substituted", filepath.Join(root, "gone/src"), "b.c", []Substitution{sub("gone", "home")}, "home/src/b.c"},
		{"first matching rule that has the file", filepath.Join(root, "gone/src"), "b.c",
			[]Substitution{sub("gone/src/zzz", "other/src"), sub("gone", "nothing"), sub("gone/src", "other/src"), sub("gone", "home")}, "other/src/b.c"},
		{"trailing slashes", filepath.Join(root, "gone/src"), "b.c", []Substitution{{filepath.Join(root, "gone") + "/", filepath.Join(root, "home") + "//"}}, "home/src/b.c"},
		{"whole path", "", filepath.Join(root, "x/abs.c"), []Substitution{sub("x/abs.c", "moved/x/y/abs.c")}, "moved/x/y/abs.c"},
		{"root rule", "/", "x/y/abs.c", []Substitution{{"/", filepath.Join(root, "moved")}}, "moved/x/y/abs.c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Find(tc.compDir, tc.file, id, Options{Substitutions: tc.subs})
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(root, tc.want); got != want {
				t.Errorf("Find = %s, want %s", got, want)
			}
		})
	}
}

func TestFindNotFound(t *testing.T) {
	root := tree(t, map[string]string{"home/srcx/c.c": "c"})
	// "/R/home/src" must not match "/R/home/srcx": prefixes are whole components.
	s := Substitution{Old: filepath.Join(root, "build"), New: filepath.Join(root, "home/src")}
	_, err := Find(filepath.Join(root, "build"), "x/c.c", id, Options{Substitutions: []Substitution{s, {Old: "/elsewhere", New: "/x"}}})
	want := fmt.Sprintf("%s/build/x/c.c: source file not found (looked at %s/build/x/c.c, %s/home/src/x/c.c): use --source-path OLD=NEW to say where the sources are, or set DEBUGINFOD_URLS", root, root, root)
	if err == nil || err.Error() != want || !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v\nwant %s", err, want)
	}
	if _, err := Find("/", "", id, Options{}); err == nil || err.Error() != "source file not found: the line table names no file" {
		t.Errorf("empty file name: %v", err)
	}
	if (Substitution{Old: root + "/home/src", New: "/n"}).String() == "" {
		t.Error("empty String")
	}
	if _, ok := (Substitution{Old: root + "/home/src", New: "/n"}).Apply(root + "/home/srcx/c.c"); ok {
		t.Errorf("%s/home/src matched %s/home/srcx/c.c", root, root)
	}
}

func TestFindDebuginfod(t *testing.T) {
	var asked atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Store(r.URL.EscapedPath())
		if r.URL.Path == "/buildid/deadbeef/source/build/pkg/src/main.c" {
			fmt.Fprint(w, "int main(void)\n{\n\treturn 0;\n}\n")
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	cache := t.TempDir()
	opts := Options{Debuginfod: debuginfod.New([]string{srv.URL}, cache), Context: context.Background()}
	got, err := Find("/build/pkg", "src/main.c", id, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, "deadbeef", "source##build##pkg##src##main.c"); got != want {
		t.Errorf("Find = %s, want %s", got, want)
	}
	var l Lines
	if s, ok := l.Line(got, 3); !ok || s != "\treturn 0;" {
		t.Errorf("line 3 = %q, %v", s, ok)
	}

	_, err = Find("/build/pkg", "src/gone.c", id, opts)
	want := "/build/pkg/src/gone.c: source file not found (looked at /build/pkg/src/gone.c; debuginfod: source /build/pkg/src/gone.c of build-id deadbeef not found on 1 server): use --source-path OLD=NEW to say where the sources are"
	if err == nil || err.Error() != want || !errors.Is(err, ErrNotFound) || !errors.Is(err, debuginfod.ErrNotFound) {
		t.Errorf("got %v\nwant %s", err, want)
	}
	// Without a build-id, for a relative path without a compile
	// directory, or one that climbs above it, debuginfod is not asked.
	asked.Store("")
	Find("", "rel.c", id, opts)
	Find("/build/pkg", "src/x.c", nil, opts)
	Find("build", "../../x.c", id, opts)
	if a := asked.Load(); a != "" {
		t.Errorf("debuginfod asked for %v", a)
	}
	// A relative compile directory: the file joined with it, as elfutils'
	// server indexes it, after the protocol's "/".
	Find("debian/build/b", "./kernel/../kernel/k.c", id, opts)
	if a, want := asked.Load(), "/buildid/deadbeef/source/debian/build/b/kernel/k.c"; a != want {
		t.Errorf("debuginfod asked for %v, want %s", a, want)
	}
}

func TestLines(t *testing.T) {
	root := tree(t, map[string]string{
		"unix.c":   "one\ntwo\n\nfour\n",
		"dos.c":    "one\r\ntwo\r\n",
		"nonl.c":   "one\ntwo",
		"empty.c":  "",
		"tabs.c":   "\tx = 1;  \n",
		"binary.c": "a\x00b\n",
	})
	var l Lines
	var got []string
	for _, q := range []struct {
		file string
		n    int
	}{
		{"unix.c", 1}, {"unix.c", 3}, {"unix.c", 4}, {"unix.c", 5}, {"unix.c", 0},
		{"dos.c", 2}, {"nonl.c", 2}, {"empty.c", 1}, {"tabs.c", 1}, {"binary.c", 1}, {"missing.c", 1},
	} {
		s, ok := l.Line(filepath.Join(root, q.file), q.n)
		got = append(got, fmt.Sprintf("%s:%d %q %v", q.file, q.n, s, ok))
	}
	want := []string{
		`unix.c:1 "one" true`, `unix.c:3 "" true`, `unix.c:4 "four" true`, `unix.c:5 "" false`, `unix.c:0 "" false`,
		`dos.c:2 "two" true`, `nonl.c:2 "two" true`, `empty.c:1 "" false`, `tabs.c:1 "\tx = 1;  " true`,
		`binary.c:1 "a\x00b" true`, `missing.c:1 "" false`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The file is read once: later changes are not seen.
	p := filepath.Join(root, "unix.c")
	os.WriteFile(p, []byte("changed\n"), 0o644)
	if s, _ := l.Line(p, 1); s != "one" {
		t.Errorf("after a change, line 1 = %q: want the cached text", s)
	}
}

func TestParseSubstitution(t *testing.T) {
	for in, want := range map[string]string{
		"/build/src=/home/me/src": "/build/src=/home/me/src",
		"/a/=/b/":                 "/a=/b",
		"/=/sysroot":              "/=/sysroot",
		"a=b=c":                   "a=b=c",
		"/a":                      `error: --source-path "/a": want OLD=NEW, for example /build/src=/home/me/src`,
		"=/b":                     `error: --source-path "=/b": OLD and NEW must both be directories, for example /build/src=/home/me/src`,
		"/a=":                     `error: --source-path "/a=": OLD and NEW must both be directories, for example /build/src=/home/me/src`,
	} {
		s, err := ParseSubstitution(in)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			got = s.String()
		}
		if got != want {
			t.Errorf("ParseSubstitution(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzParseSubstitution: result nil <=> error non-nil, and a parsed rule
// prints back to something that parses to the same rule and matches its
// own Old.
func FuzzParseSubstitution(f *testing.F) {
	f.Add("/build/src=/home/me/src")
	f.Add("/=/x")
	f.Add("==")
	f.Add(".=/src/glibc")
	f.Add("./posix/=/x")
	f.Add("../a=b")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSubstitution(in)
		if (s == nil) == (err == nil) {
			t.Fatalf("ParseSubstitution(%q) = %v, %v: want exactly one nil", in, s, err)
		}
		if err != nil {
			return
		}
		again, err := ParseSubstitution(s.String())
		if err != nil || *again != *s {
			t.Fatalf("round trip of %q: %v, %v", s.String(), again, err)
		}
		// Paths are compared cleaned, relative ones too: every rule
		// applies to its own Old, giving its New.
		if got, ok := s.Apply(s.Old); !ok || got != trimSlash(s.New) {
			t.Fatalf("%v applied to its own Old: %q, %v", s, got, ok)
		}
	})
}

// TestFindRelativeRecords: Debian's glibc records its compile directory
// relative to the source tree (./posix) and the file relative to that
// (../sysdeps/posix/getaddrinfo.c). A rule matches the joined path, the
// compile directory or the file name as recorded.
func TestFindRelativeRecords(t *testing.T) {
	root := tree(t, map[string]string{"glibc/sysdeps/posix/getaddrinfo.c": "gai"})
	const compDir, file = "./posix", "../sysdeps/posix/getaddrinfo.c"
	want := filepath.Join(root, "glibc/sysdeps/posix/getaddrinfo.c")
	for _, rule := range []string{
		".=" + root + "/glibc",                           // the joined path, sysdeps/posix/getaddrinfo.c
		"./=" + root + "/glibc/",                         // the same, with slashes
		"./posix=" + root + "/glibc/posix",               // the compile directory
		"posix=" + root + "/glibc/posix",                 // the same, cleaned
		"../sysdeps=" + root + "/glibc/sysdeps",          // the file name
		"sysdeps/posix=" + root + "/glibc/sysdeps/posix", // part of the joined path
	} {
		s, err := ParseSubstitution(rule)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Find(compDir, file, id, Options{Substitutions: []Substitution{*s}})
		if err != nil || got != want {
			t.Errorf("--source-path %s: %q, %v; want %s", rule, got, err, want)
		}
	}
	// Not found: the note says what was recorded and every path tried.
	s := Substitution{Old: ".", New: root + "/nothing"}
	_, err := Find(compDir, file, id, Options{Substitutions: []Substitution{s}})
	wantErr := fmt.Sprintf("sysdeps/posix/getaddrinfo.c: source file not found (recorded as ../sysdeps/posix/getaddrinfo.c in compile directory ./posix; looked at sysdeps/posix/getaddrinfo.c, %[1]s/nothing/sysdeps/posix/getaddrinfo.c): use --source-path OLD=NEW to say where the sources are (the path is relative: --source-path .=DIR looks for it under DIR)", root)
	if err == nil || err.Error() != wantErr {
		t.Errorf("got %v\nwant %s", err, wantErr)
	}
	// "." holds relative paths that stay below it, nothing else.
	for path, ok := range map[string]bool{"a/b.c": true, "./a": true, ".": true, "../a": false, "..": false, "/a": false} {
		if _, got := (Substitution{Old: ".", New: "/n"}).Apply(path); got != ok {
			t.Errorf(". applies to %q: %v, want %v", path, got, ok)
		}
	}
}
