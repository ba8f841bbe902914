package debuginfod

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// serverError is one server's failure; its text starts with the URL.
type serverError struct {
	url string
	err error
}

func (e *serverError) Error() string { return e.url + ": " + e.err.Error() }
func (e *serverError) Unwrap() error { return e.err }

// fetchError is the one-line error of a lookup that failed everywhere.
type fetchError struct {
	what    artifact
	servers []*serverError
}

func (e *fetchError) Error() string {
	allMissing := true
	for _, s := range e.servers {
		if !errors.Is(s.err, ErrNotFound) {
			allMissing = false
		}
	}
	if allMissing {
		n := len(e.servers)
		plural := "s"
		if n == 1 {
			plural = ""
		}
		return fmt.Sprintf("debuginfod: %s not found on %d server%s", e.what, n, plural)
	}
	msgs := make([]string, len(e.servers))
	for i, s := range e.servers {
		msgs[i] = s.Error()
	}
	return fmt.Sprintf("debuginfod: %s: %s", e.what, strings.Join(msgs, "; "))
}

// Unwrap exposes every server's cause, so that errors.Is finds
// ErrTooLarge or ErrBuildIDMismatch; ErrNotFound only matches when every
// server answered 404.
func (e *fetchError) Unwrap() []error {
	var errs []error
	missing := 0
	for _, s := range e.servers {
		if errors.Is(s.err, ErrNotFound) {
			missing++
			continue
		}
		errs = append(errs, s)
	}
	if missing == len(e.servers) {
		return []error{ErrNotFound}
	}
	return errs
}

// fetch returns the cached path of a, downloading it from the first server
// that delivers a good copy.
func (c *Client) fetch(ctx context.Context, a artifact) (string, error) {
	if c == nil || len(c.URLs) == 0 {
		return "", ErrNotConfigured
	}
	if len(a.buildID) == 0 {
		return "", fmt.Errorf("debuginfod: cannot look up %s without a build-id", a.kind)
	}
	if err := c.initCache(); err != nil {
		return "", err
	}
	dir := filepath.Join(c.CacheDir, a.id())
	target := filepath.Join(dir, a.cacheName())
	hit, miss, age, missFor := c.lookupCache(target)
	if hit {
		return target, nil
	}
	if miss {
		return "", fmt.Errorf("debuginfod: %s: %w on %d servers %s ago (cached miss, retried after %s; delete %s to retry now)",
			a, ErrNotFound, len(c.URLs), age.Round(time.Second), missFor, target)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("debuginfod: creating cache: %w", err)
	}

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	prog := newProgress(c.Progress, c.ProgressDelay, a)
	type result struct {
		tmp string
		err *serverError
	}
	results := make(chan result, len(c.URLs))
	hc := c.httpClient()
	for _, base := range c.URLs {
		go func() {
			tmp, err := c.download(ctx, hc, base, a, dir, prog)
			if err != nil {
				results <- result{err: &serverError{url: base, err: err}}
				return
			}
			results <- result{tmp: tmp}
		}()
	}
	var failed []*serverError
	winner := ""
	for range c.URLs {
		r := <-results
		switch {
		case r.err != nil:
			// Losers cancelled after the winner are not worth reporting.
			if winner == "" {
				failed = append(failed, r.err)
			}
		case winner == "":
			winner = r.tmp
			cancel() // the first good answer wins; stop the others
		default:
			os.Remove(r.tmp)
		}
	}
	prog.finish(winner != "")
	if winner != "" {
		if err := os.Rename(winner, target); err != nil {
			os.Remove(winner)
			return "", fmt.Errorf("debuginfod: storing %s in the cache: %w", a, err)
		}
		return target, nil
	}
	if err := parent.Err(); err != nil {
		os.Remove(dir)
		return "", fmt.Errorf("debuginfod: %s: %w", a, err)
	}
	fe := &fetchError{what: a, servers: failed}
	if errors.Is(fe, ErrNotFound) {
		recordMiss(target)
	} else {
		os.Remove(dir) // only succeeds when empty: nothing learned
	}
	return "", fe
}

// download fetches a from one server into a temporary file in dir and
// checks it; the caller renames the winner into place.
func (c *Client) download(ctx context.Context, hc *http.Client, base string, a artifact, dir string, prog *progress) (tmpPath string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+a.urlPath(), nil)
	if err != nil {
		return "", fmt.Errorf("bad URL: %w", err)
	}
	req.Header.Set("User-Agent", "whythefail-debuginfod-client")
	if c.MaxSize > 0 {
		// elfutils sends this so that servers can refuse early.
		req.Header.Set("X-DEBUGINFOD-MAXSIZE", strconv.FormatInt(c.MaxSize, 10))
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("unreachable (%w)", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", ErrNotFound
	case resp.StatusCode == http.StatusNotAcceptable && c.MaxSize > 0:
		return "", fmt.Errorf("refused by the server: %w=%d bytes", ErrTooLarge, c.MaxSize)
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("HTTP %s", resp.Status)
	}
	size := resp.ContentLength
	if s, err := strconv.ParseInt(resp.Header.Get("X-Debuginfod-Size"), 10, 64); err == nil && s > size {
		size = s
	}
	if c.MaxSize > 0 && size > c.MaxSize {
		return "", fmt.Errorf("%d bytes, %w=%d", size, ErrTooLarge, c.MaxSize)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+a.kind+"-*")
	if err != nil {
		return "", fmt.Errorf("creating a cache file: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	body := io.Reader(resp.Body)
	if c.MaxSize > 0 {
		body = io.LimitReader(body, c.MaxSize+1)
	}
	n, err := io.Copy(f, prog.reader(base, size, body))
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("download broke off after %d bytes: %w", n, err)
	}
	if c.MaxSize > 0 && n > c.MaxSize {
		return "", fmt.Errorf("more than %d bytes, %w=%d", c.MaxSize, ErrTooLarge, c.MaxSize)
	}
	if size >= 0 && n != size {
		return "", fmt.Errorf("download broke off after %d of %d bytes", n, size)
	}
	if a.kind != "source" {
		got, err := elfBuildID(f)
		if err != nil {
			return "", fmt.Errorf("sent a bad %s: %w", a.kind, err)
		}
		if !bytes.Equal(got, a.buildID) {
			return "", fmt.Errorf("%w: sent a %s with build-id %x instead of %s; discarded", ErrBuildIDMismatch, a.kind, got, a.id())
		}
	}
	if err := f.Chmod(0o400); err != nil {
		return "", fmt.Errorf("storing %s: %w", a, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("storing %s: %w", a, err)
	}
	keep = true
	return f.Name(), nil
}
