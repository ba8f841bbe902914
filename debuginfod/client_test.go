package debuginfod

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/whythefail/whythefail/internal/elfnote"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer answers every request with handler and counts them.
func countingServer(t *testing.T, handler http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

var testID = []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0}

func TestCachedMiss(t *testing.T) {
	srv, n := countingServer(t, http.NotFound)
	cache := t.TempDir()
	c := New([]string{srv.URL}, cache)
	ctx := context.Background()
	_, err := c.Debuginfo(ctx, testID)
	if want := "debuginfod: debuginfo for build-id 123456789abcdef0 not found on 1 server"; err == nil || err.Error() != want {
		t.Fatalf("first lookup: %v, want %q", err, want)
	}
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("first lookup: %v does not match ErrNotFound", err)
	}
	miss := filepath.Join(cache, "123456789abcdef0", "debuginfo")
	if st, err := os.Stat(miss); err != nil || st.Size() != 0 {
		t.Fatalf("no empty miss file at %s: %v", miss, err)
	}
	_, err = c.Debuginfo(ctx, testID)
	if err == nil || !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "cached miss, retried after 10m0s; delete "+miss+" to retry now") {
		t.Errorf("second lookup: %v, want a cached miss", err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("server asked %d times, want 1: the miss should have been cached", got)
	}
	if data, err := os.ReadFile(filepath.Join(cache, "cache_miss_s")); err != nil || string(data) != "600" {
		t.Errorf("cache_miss_s = %q, %v; want \"600\" as elfutils writes it", data, err)
	}
	// An expired miss asks again.
	old := time.Now().Add(-601 * time.Second)
	if err := os.Chtimes(miss, old, old); err != nil {
		t.Fatal(err)
	}
	c.Debuginfo(ctx, testID)
	if got := n.Load(); got != 2 {
		t.Errorf("server asked %d times after the miss expired, want 2", got)
	}
	// A user-edited cache_miss_s is honoured.
	if err := os.WriteFile(filepath.Join(cache, "cache_miss_s"), []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	c.Debuginfo(ctx, testID)
	if got := n.Load(); got != 3 {
		t.Errorf("server asked %d times with cache_miss_s 0, want 3", got)
	}
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUnreachable(t *testing.T) {
	addr := closedPort(t)
	cache := t.TempDir()
	c := New([]string{"http://" + addr}, cache)
	_, err := c.Debuginfo(context.Background(), testID)
	want := fmt.Sprintf("debuginfod: debuginfo for build-id 123456789abcdef0: http://%s: unreachable (dial tcp %s: connect: connection refused)", addr, addr)
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if errors.Is(err, ErrNotFound) {
		t.Errorf("an unreachable server must not count as not found")
	}
	if _, err := os.Stat(filepath.Join(cache, "123456789abcdef0")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an unreachable server left a cache entry (%v): a miss must only be cached when servers said 404", err)
	}
}

func TestNotFoundOnSeveralServers(t *testing.T) {
	a, _ := countingServer(t, http.NotFound)
	b, _ := countingServer(t, http.NotFound)
	c := New([]string{a.URL, b.URL + "/", a.URL}, t.TempDir())
	_, err := c.Executable(context.Background(), testID)
	if want := "debuginfod: executable for build-id 123456789abcdef0 not found on 2 servers"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestWrongBuildID(t *testing.T) {
	fx := buildFixture(t)
	debug, err := os.ReadFile(fx.debug)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write(debug) })
	cache := t.TempDir()
	c := New([]string{srv.URL}, cache)
	_, err = c.Debuginfo(context.Background(), testID)
	want := fmt.Sprintf("debuginfod: debuginfo for build-id 123456789abcdef0: %s: wrong build-id: sent a debuginfo with build-id %x instead of 123456789abcdef0; discarded", srv.URL, fx.buildID)
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrBuildIDMismatch) {
		t.Errorf("%v does not match ErrBuildIDMismatch", err)
	}
	if l := cacheListing(t, cache); len(l) != 1 || !strings.HasPrefix(l[0], "cache_clean_interval_s ") {
		t.Errorf("cache after a rejected download: %q, want only the settings file", l)
	}
	// The right build-id is accepted from the same bytes.
	if _, err := c.Debuginfo(context.Background(), fx.buildID); err != nil {
		t.Errorf("with the right build-id: %v", err)
	}
}

func TestMaxSize(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1000)
	withLength, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	chunked, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		// Flushing before the end makes the reply chunked, without a length.
		w.Write(body[:10])
		w.(http.Flusher).Flush()
		w.Write(body[10:])
	})
	for _, tc := range []struct {
		srv  *httptest.Server
		want string
	}{
		{withLength, "1000 bytes, over DEBUGINFOD_MAXSIZE=999"},
		{chunked, "more than 999 bytes, over DEBUGINFOD_MAXSIZE=999"},
	} {
		cache := t.TempDir()
		c := New([]string{tc.srv.URL}, cache)
		c.MaxSize = 999
		_, err := c.Source(context.Background(), testID, "/src/a.c")
		want := fmt.Sprintf("debuginfod: source /src/a.c of build-id 123456789abcdef0: %s: %s", tc.srv.URL, tc.want)
		if err == nil || err.Error() != want || !errors.Is(err, ErrTooLarge) {
			t.Errorf("got %v\nwant %s", err, want)
		}
		c.MaxSize = 1000
		if _, err := c.Source(context.Background(), testID, "/src/a.c"); err != nil {
			t.Errorf("at exactly DEBUGINFOD_MAXSIZE: %v", err)
		}
	}
}

func TestParallelFastestWins(t *testing.T) {
	slowCancelled := make(chan bool, 1)
	var slowStarted atomic.Bool
	slow, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		slowStarted.Store(true)
		select {
		case <-r.Context().Done():
			slowCancelled <- true
		case <-time.After(10 * time.Second):
			slowCancelled <- false
			w.Write([]byte("slow"))
		}
	})
	fast, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.EscapedPath() != "/buildid/123456789abcdef0/source/usr/src/my%20dir/a%23b%2Bc.c" {
			t.Errorf("request path %s", r.URL.EscapedPath())
		}
		w.Write([]byte("fast"))
	})
	cache := t.TempDir()
	c := New([]string{slow.URL, fast.URL}, cache)
	start := time.Now()
	p, err := c.Source(context.Background(), testID, "/usr/src/my dir/a#b+c.c")
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s: the slow server was waited for", took)
	}
	if want := filepath.Join(cache, "123456789abcdef0", "source##usr##src##my dir##a#_b+c.c"); p != want {
		t.Errorf("path %s, want %s", p, want)
	}
	if data, _ := os.ReadFile(p); string(data) != "fast" {
		t.Errorf("content %q, want the fast server's", data)
	}
	select {
	case cancelled := <-slowCancelled:
		if !cancelled {
			t.Errorf("the slow server's request was not cancelled")
		}
	case <-time.After(5 * time.Second):
		// The request may have been cancelled before it reached the
		// slow server at all (a loaded machine): nothing to wait for.
		if slowStarted.Load() {
			t.Errorf("the slow server's request was not cancelled within 5s")
		}
	}
}

func TestTimeout(t *testing.T) {
	hang, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	c := New([]string{hang.URL}, t.TempDir())
	c.Timeout = 200 * time.Millisecond
	_, err := c.Debuginfo(context.Background(), testID)
	want := fmt.Sprintf("debuginfod: debuginfo for build-id 123456789abcdef0: %s: unreachable (net/http: timeout awaiting response headers)", hang.URL)
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestProgress(t *testing.T) {
	trickle, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "4")
		for _, b := range "abcd" {
			w.Write([]byte{byte(b)})
			w.(http.Flusher).Flush()
			time.Sleep(150 * time.Millisecond)
		}
	})
	var out bytes.Buffer
	c := New([]string{trickle.URL}, t.TempDir())
	c.Progress = &out
	c.ProgressDelay = 100 * time.Millisecond
	if _, err := c.Source(context.Background(), testID, "/a.c"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\r")
	if len(lines) < 3 || lines[0] != "" {
		t.Fatalf("progress output %q: want a status line and a final line", out.String())
	}
	first := "debuginfod: downloading source /a.c of build-id 123456789abcdef0 from " + trickle.URL + ": "
	// Under load the first redraw may come before any headers arrived;
	// one of the redraws must name the server and the size.
	found := false
	for _, l := range lines[1 : len(lines)-1] {
		if strings.HasPrefix(l, first) && strings.Contains(l, " of 4 B") {
			found = true
		}
	}
	if !found {
		t.Errorf("status lines %q: none with prefix %q and the size", lines[1:len(lines)-1], first)
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "debuginfod: downloaded source /a.c of build-id 123456789abcdef0: 4 B in ") || !strings.HasSuffix(last, "\n") {
		t.Errorf("last line %q", last)
	}

	// A quick download is silent, and so is a cache hit.
	fast, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) })
	out.Reset()
	c = New([]string{fast.URL}, t.TempDir())
	c.Progress = &out
	for range 2 {
		if _, err := c.Source(context.Background(), testID, "/a.c"); err != nil {
			t.Fatal(err)
		}
	}
	if out.Len() != 0 {
		t.Errorf("quick download printed %q", out.String())
	}
}

func TestNewFromEnv(t *testing.T) {
	t.Setenv("DEBUGINFOD_URLS", "")
	if c, err := NewFromEnv(); c != nil || !errors.Is(err, ErrNotConfigured) {
		t.Errorf("no URLs: %v, %v; want nil, ErrNotConfigured", c, err)
	}
	var nilClient *Client
	if _, err := nilClient.Debuginfo(context.Background(), testID); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("nil client: %v, want ErrNotConfigured", err)
	}
	t.Setenv("DEBUGINFOD_URLS", " http://a:8002/  https://b  http://a:8002 ")
	t.Setenv("DEBUGINFOD_CACHE_PATH", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	t.Setenv("DEBUGINFOD_TIMEOUT", "5")
	t.Setenv("DEBUGINFOD_MAXSIZE", "1234")
	c, err := NewFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%v %v %v %v %v", c.URLs, c.CacheDir, c.Timeout, c.MaxSize, c.Progress == os.Stderr)
	if want := "[http://a:8002 https://b] /xdg/debuginfod_client 5s 1234 true"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	t.Setenv("DEBUGINFOD_CACHE_PATH", "/explicit")
	if c, _ := NewFromEnv(); c.CacheDir != "/explicit" {
		t.Errorf("CacheDir %s, want DEBUGINFOD_CACHE_PATH", c.CacheDir)
	}
	t.Setenv("DEBUGINFOD_CACHE_PATH", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if c, _ := NewFromEnv(); c.CacheDir != "/home/u/.cache/debuginfod_client" {
		t.Errorf("CacheDir %s, want ~/.cache/debuginfod_client", c.CacheDir)
	}
	for env, val := range map[string]string{"DEBUGINFOD_TIMEOUT": "soon", "DEBUGINFOD_MAXSIZE": "-1", "DEBUGINFOD_URLS": "ftp://x"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, val)
			if c, err := NewFromEnv(); c != nil || err == nil || !strings.Contains(err.Error(), env) {
				t.Errorf("%s=%s: %v, %v; want an error naming it", env, val, c, err)
			}
		})
	}
}

func TestEscaping(t *testing.T) {
	for _, tc := range []struct{ in, cache, url string }{
		{"/usr/src/a.c", "##usr##src##a.c", "/usr/src/a.c"},
		{"/a b/#x%y/./../c~-_.c", "##a b###_x%y##.##..##c~-_.c", "/a%20b/%23x%25y/./../c~-_.c"},
		{"/ü", "##ü", "/%C3%BC"},
	} {
		if got := escapeCachePath(tc.in); got != tc.cache {
			t.Errorf("escapeCachePath(%q) = %q, want %q", tc.in, got, tc.cache)
		}
		if got := escapeURLPath(tc.in); got != tc.url {
			t.Errorf("escapeURLPath(%q) = %q, want %q", tc.in, got, tc.url)
		}
	}
	if _, err := New([]string{"http://x"}, t.TempDir()).Source(context.Background(), testID, "rel/a.c"); err == nil || err.Error() != `debuginfod: source path "rel/a.c" is not absolute` {
		t.Errorf("relative source path: %v", err)
	}
}

// FuzzBuildID feeds arbitrary bytes to the build-id reader that checks
// downloads. Invariants: no panic; an error means no build-id.
func FuzzBuildID(f *testing.F) {
	f.Add([]byte("\x7fELF"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := elfBuildID(bytes.NewReader(data))
		if err != nil && id != nil {
			t.Fatalf("elfBuildID = %x, %v: a build-id with an error", id, err)
		}
		_ = elfnote.Find(data, binary.LittleEndian)
	})
}
