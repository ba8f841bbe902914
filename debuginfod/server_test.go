package debuginfod

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/whythefail/whythefail/internal/debuginfodtest"
)

// TestRealServer fetches a debug file, an executable and a source file
// from Debian's debuginfod, checks that a second client finds them in the
// cache with the server gone, and that elfutils' own debuginfod-find
// leaves exactly the same cache behind.
func TestRealServer(t *testing.T) {
	fx := buildFixture(t)
	srv := debuginfodtest.Start(t, fx.serveDir)
	id := fmt.Sprintf("%x", fx.buildID)
	srv.WaitFor(t, "/buildid/"+id+"/debuginfo")

	cache := filepath.Join(t.TempDir(), "cache")
	c := New([]string{srv.URL}, cache)
	ctx := context.Background()
	missing := bytes.Repeat([]byte{0xab}, 20)

	got := map[string]string{}
	check := func(name, path string, err error, want, wantPath string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if path != wantPath {
			t.Errorf("%s: path %s, want %s", name, path, wantPath)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		wantData, err := os.ReadFile(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, wantData) {
			t.Errorf("%s: %s differs from %s", name, path, want)
		}
		got[name] = path
	}
	p, err := c.Debuginfo(ctx, fx.buildID)
	check("debuginfo", p, err, fx.debug, filepath.Join(cache, id, "debuginfo"))
	p, err = c.Executable(ctx, fx.buildID)
	check("executable", p, err, fx.binary, filepath.Join(cache, id, "executable"))
	p, err = c.Source(ctx, fx.buildID, fx.source)
	check("source", p, err, fx.source, filepath.Join(cache, id, "source"+strings.ReplaceAll(strings.ReplaceAll(fx.source, "#", "#_"), "/", "##")))
	if !strings.Contains(p, "##src #_1##prog.c") {
		t.Errorf("source cached as %s: want '/' escaped as ## and '#' as #_", p)
	}
	_, err = c.Debuginfo(ctx, missing)
	if want := fmt.Sprintf("debuginfod: debuginfo for build-id %x not found on 1 server", missing); err == nil || err.Error() != want || !errors.Is(err, ErrNotFound) {
		t.Errorf("missing build-id: %v, want %q", err, want)
	}

	// The same lookups with elfutils' client against the same server.
	needTool(t, "debuginfod-find")
	refCache := filepath.Join(t.TempDir(), "ref")
	for _, args := range [][]string{
		{"debuginfo", id}, {"executable", id}, {"source", id, fx.source}, {"debuginfo", fmt.Sprintf("%x", missing)},
	} {
		cmd := exec.Command("debuginfod-find", args...)
		cmd.Env = append(os.Environ(), "DEBUGINFOD_URLS="+srv.URL, "DEBUGINFOD_CACHE_PATH="+refCache, "DEBUGINFOD_PROGRESS=")
		out, err := cmd.CombinedOutput()
		if args[1] == id && err != nil {
			t.Fatalf("debuginfod-find %v: %v\n%s", args, err, out)
		}
	}
	if a, b := cacheListing(t, cache), cacheListing(t, refCache); !slices.Equal(a, b) {
		t.Errorf("cache differs from debuginfod-find's:\nours:\n%s\ndebuginfod-find:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}

	// With the server gone, a new client answers from the cache.
	srv.Stop()
	c2 := New([]string{srv.URL}, cache)
	for name, fetch := range map[string]func() (string, error){
		"debuginfo":  func() (string, error) { return c2.Debuginfo(ctx, fx.buildID) },
		"executable": func() (string, error) { return c2.Executable(ctx, fx.buildID) },
		"source":     func() (string, error) { return c2.Source(ctx, fx.buildID, fx.source) },
	} {
		p, err := fetch()
		if err != nil || p != got[name] {
			t.Errorf("%s from cache with the server stopped: %q, %v; want %s", name, p, err, got[name])
		}
	}
	_, err = c2.Debuginfo(ctx, missing)
	if err == nil || !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "cached miss") {
		t.Errorf("missing build-id with the server stopped: %v, want a cached miss", err)
	}
}

// TestRealServerMaxSize checks that DEBUGINFOD_MAXSIZE refuses a file the
// real server offers, with a message naming the limit, and caches nothing.
func TestRealServerMaxSize(t *testing.T) {
	fx := buildFixture(t)
	srv := debuginfodtest.Start(t, fx.serveDir)
	id := fmt.Sprintf("%x", fx.buildID)
	srv.WaitFor(t, "/buildid/"+id+"/debuginfo")
	cache := t.TempDir()
	c := New([]string{srv.URL}, cache)
	c.MaxSize = 100
	_, err := c.Debuginfo(context.Background(), fx.buildID)
	if err == nil || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Debuginfo with MaxSize 100: %v, want ErrTooLarge", err)
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "DEBUGINFOD_MAXSIZE=100") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q: want one line naming DEBUGINFOD_MAXSIZE=100", err)
	}
	if _, err := os.Stat(filepath.Join(cache, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused download left %s in the cache (%v)", filepath.Join(cache, id), err)
	}
	_ = time.Second
}
