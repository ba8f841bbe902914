package debuginfod

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors, wrapped by the one-line errors the Client returns.
var (
	// ErrNotConfigured means DEBUGINFOD_URLS names no server.
	ErrNotConfigured = errors.New("debuginfod is not configured (DEBUGINFOD_URLS is empty)")
	// ErrNotFound means every server answered 404, now or in a cached miss.
	ErrNotFound = errors.New("not found")
	// ErrTooLarge means a server offered a file larger than MaxSize.
	ErrTooLarge = errors.New("over DEBUGINFOD_MAXSIZE")
	// ErrBuildIDMismatch means a server sent an ELF file whose build-id is
	// not the one asked for; it is discarded, never cached.
	ErrBuildIDMismatch = errors.New("wrong build-id")
)

// Defaults match elfutils 0.188.
const (
	DefaultTimeout   = 90 * time.Second
	DefaultCacheMiss = 600 * time.Second
	// defaultCleanInterval is written to cache_clean_interval_s, as
	// elfutils does when it creates a cache, so that its client finds the
	// directory in the state it expects.
	defaultCleanInterval = 86400
)

// Client fetches files from debuginfod servers into an elfutils-compatible
// cache. The zero value is not usable: build one with New or NewFromEnv.
// A Client is safe for concurrent use.
type Client struct {
	// URLs are the servers' base URLs, asked in parallel.
	URLs []string
	// CacheDir is the cache root (DEBUGINFOD_CACHE_PATH).
	CacheDir string
	// Timeout bounds how long a server may take to connect and send its
	// response headers (DEBUGINFOD_TIMEOUT); elfutils skips a server that
	// does not start answering within it.
	Timeout time.Duration
	// MaxSize refuses files larger than this many bytes; 0 means no limit
	// (DEBUGINFOD_MAXSIZE).
	MaxSize int64
	// Progress receives a progress line for downloads that last longer
	// than ProgressDelay; nil means silence. NewFromEnv sets os.Stderr.
	Progress io.Writer
	// ProgressDelay is how long a download runs before progress is shown,
	// so that quick downloads stay silent.
	ProgressDelay time.Duration
	// HTTP does the requests; nil means a client built from Timeout.
	HTTP *http.Client
}

// New returns a Client for the given servers and cache directory, with
// elfutils' default timeout and no size limit and no progress output.
func New(urls []string, cacheDir string) *Client {
	return &Client{
		URLs:          dedup(urls),
		CacheDir:      cacheDir,
		Timeout:       DefaultTimeout,
		ProgressDelay: time.Second,
	}
}

// NewFromEnv builds a Client from the environment variables elfutils reads.
// When DEBUGINFOD_URLS is empty or unset it returns a nil Client and
// ErrNotConfigured, so that callers stay offline unless asked otherwise.
func NewFromEnv() (*Client, error) {
	urls := strings.Fields(os.Getenv("DEBUGINFOD_URLS"))
	if len(urls) == 0 {
		return nil, ErrNotConfigured
	}
	for _, u := range urls {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return nil, fmt.Errorf("DEBUGINFOD_URLS: %q is not an http:// or https:// URL", u)
		}
	}
	cache, err := cacheDirFromEnv()
	if err != nil {
		return nil, err
	}
	c := New(urls, cache)
	c.Progress = os.Stderr
	if s := os.Getenv("DEBUGINFOD_TIMEOUT"); s != "" {
		n, err := strconv.ParseUint(s, 10, 31)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("DEBUGINFOD_TIMEOUT=%q: want a positive whole number of seconds", s)
		}
		c.Timeout = time.Duration(n) * time.Second
	}
	if s := os.Getenv("DEBUGINFOD_MAXSIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("DEBUGINFOD_MAXSIZE=%q: want a number of bytes", s)
		}
		c.MaxSize = n
	}
	return c, nil
}

// cacheDirFromEnv picks the cache root as elfutils does.
func cacheDirFromEnv() (string, error) {
	if p := os.Getenv("DEBUGINFOD_CACHE_PATH"); p != "" {
		return p, nil
	}
	if p := os.Getenv("XDG_CACHE_HOME"); p != "" {
		return filepath.Join(p, "debuginfod_client"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the debuginfod cache: %w; set DEBUGINFOD_CACHE_PATH", err)
	}
	return filepath.Join(home, ".cache", "debuginfod_client"), nil
}

// dedup drops repeated and trailing-slash-only-different URLs, as elfutils
// asks each server once.
func dedup(urls []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, u := range urls {
		u = strings.TrimRight(u, "/")
		if u == "" || seen[u] {
			continue
		}
		seen[u] = true
		out = append(out, u)
	}
	return out
}

// httpClient returns the HTTP client, building one whose dial and header
// timeouts are Timeout when none was given. The body is not bounded by
// time: a large debug file may legitimately take minutes.
func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	t := c.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: t}).DialContext
	tr.ResponseHeaderTimeout = t
	tr.TLSHandshakeTimeout = t
	return &http.Client{Transport: tr}
}

// Debuginfo returns the path of the cached debug file (the DWARF-carrying
// ELF file) for buildID, downloading it if needed.
func (c *Client) Debuginfo(ctx context.Context, buildID []byte) (string, error) {
	return c.fetch(ctx, artifact{kind: "debuginfo", buildID: buildID})
}

// Executable returns the path of the cached executable or shared library
// for buildID, downloading it if needed.
func (c *Client) Executable(ctx context.Context, buildID []byte) (string, error) {
	return c.fetch(ctx, artifact{kind: "executable", buildID: buildID})
}

// Source returns the path of the cached source file recorded in the DWARF
// of buildID under absPath (the compilation directory joined with the file
// name), downloading it if needed.
func (c *Client) Source(ctx context.Context, buildID []byte, absPath string) (string, error) {
	if !strings.HasPrefix(absPath, "/") {
		return "", fmt.Errorf("debuginfod: source path %q is not absolute", absPath)
	}
	return c.fetch(ctx, artifact{kind: "source", buildID: buildID, source: absPath})
}
