package debuginfod

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// artifact is one thing a server can be asked for.
type artifact struct {
	kind    string // "debuginfo", "executable" or "source"
	buildID []byte
	source  string // absolute source path, for kind "source"
}

// id is the build-id as servers and the cache spell it: lowercase hex.
func (a artifact) id() string { return hex.EncodeToString(a.buildID) }

// cacheName is the file name inside <cache>/<buildid>/.
func (a artifact) cacheName() string {
	if a.kind == "source" {
		return "source" + escapeCachePath(a.source)
	}
	return a.kind
}

// urlPath is the request path below a server's base URL.
func (a artifact) urlPath() string {
	p := "/buildid/" + a.id() + "/" + a.kind
	if a.kind == "source" {
		p += escapeURLPath(a.source)
	}
	return p
}

// String names the artifact in messages.
func (a artifact) String() string {
	if a.kind == "source" {
		return fmt.Sprintf("source %s of build-id %s", a.source, a.id())
	}
	return fmt.Sprintf("%s for build-id %s", a.kind, a.id())
}

// escapeCachePath turns an absolute source path into one file name the way
// elfutils 0.188 does: "/" becomes "##" and "#" becomes "#_", which keeps
// the mapping reversible. Dot segments are kept as they are, as elfutils
// 0.188 does (measured: "/a/./b" is cached as "##a##.##b").
func escapeCachePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '/':
			b.WriteString("##")
		case '#':
			b.WriteString("#_")
		default:
			b.WriteByte(p[i])
		}
	}
	return b.String()
}

// escapeURLPath percent-encodes every byte of each path component outside
// RFC 3986's unreserved set (ALPHA DIGIT - . _ ~), keeping the slashes,
// as elfutils does component by component with curl_easy_escape.
func escapeURLPath(p string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// initCache creates the cache root and the cache_clean_interval_s file
// elfutils' client writes into a new cache, so that both clients find the
// directory in the state they expect.
func (c *Client) initCache() error {
	if err := os.MkdirAll(c.CacheDir, 0o755); err != nil {
		return fmt.Errorf("debuginfod: creating cache: %w", err)
	}
	if _, err := ensureSetting(c.CacheDir, "cache_clean_interval_s", defaultCleanInterval); err != nil {
		return fmt.Errorf("debuginfod: creating cache: %w", err)
	}
	return nil
}

// missDuration returns how long a cached miss is trusted: cache_miss_s,
// which a user may have edited. Like elfutils 0.188, the file is created
// with the default only when a miss is first checked.
func (c *Client) missDuration() time.Duration {
	n, err := ensureSetting(c.CacheDir, "cache_miss_s", int64(DefaultCacheMiss/time.Second))
	if err != nil {
		return DefaultCacheMiss
	}
	return time.Duration(n) * time.Second
}

// ensureSetting reads a number from a cache settings file, writing def
// there (without a newline, as elfutils does) when the file is missing.
func ensureSetting(dir, name string, def int64) (int64, error) {
	p := filepath.Join(dir, name)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return def, writeAtomic(p, []byte(strconv.FormatInt(def, 10)), 0o644)
	}
	if err != nil {
		return def, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n < 0 {
		return def, nil
	}
	return n, nil
}

// writeAtomic writes data to a temporary file beside path and renames it
// into place, so that readers never see a partial file.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp, perm)); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// lookupCache reports a cached file (non-empty) or a still-valid cached
// miss (empty, younger than cache_miss_s). An expired miss is removed so
// that the servers are asked again.
func (c *Client) lookupCache(path string) (hit, miss bool, missAge, missFor time.Duration) {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return false, false, 0, 0
	}
	if st.Size() > 0 {
		return true, false, 0, 0
	}
	missFor = c.missDuration()
	age := time.Since(st.ModTime())
	if age <= missFor {
		return false, true, age, missFor
	}
	os.Remove(path)
	return false, false, 0, 0
}

// recordMiss leaves the empty file that marks a lookup every server
// answered with 404. O_EXCL keeps a concurrent successful download.
func recordMiss(path string) {
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
		f.Close()
	}
}
