package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/whythefail/whythefail/debuginfod"
)

// ErrNotFound means the source file is nowhere to be found.
var ErrNotFound = errors.New("source file not found")

// Substitution rewrites source paths starting with Old to start with New,
// as gdb's "set substitute-path OLD NEW" does: for sources built in one
// place (a build server's /build/pkg-1.0) and kept in another.
type Substitution struct {
	Old, New string
}

// ParseSubstitution parses a --source-path argument, OLD=NEW. Both sides
// must be non-empty; trailing slashes are dropped so that "/a/" and "/a"
// mean the same directory.
func ParseSubstitution(s string) (*Substitution, error) {
	old, new, ok := strings.Cut(s, "=")
	if !ok {
		return nil, fmt.Errorf("--source-path %q: want OLD=NEW, for example /build/src=/home/me/src", s)
	}
	old, new = trimSlash(old), trimSlash(new)
	if old == "" || new == "" {
		return nil, fmt.Errorf("--source-path %q: OLD and NEW must both be directories, for example /build/src=/home/me/src", s)
	}
	return &Substitution{Old: old, New: new}, nil
}

// trimSlash drops trailing slashes but keeps a lone "/".
func trimSlash(p string) string {
	for len(p) > 1 && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	return p
}

// Apply rewrites path when Old is a prefix of it on component boundaries
// ("/build/src" matches "/build/src/a.c" but not "/build/srcx/a.c"). Both
// are compared cleaned, so that the relative directories some builds
// record match as typed: Old "./posix" matches "posix/x.c", and Old "."
// matches every relative path that stays below it (Debian's glibc records
// ./posix and ../sysdeps/posix/getaddrinfo.c, relative to its source tree).
func (s Substitution) Apply(path string) (string, bool) {
	old := filepath.Clean(trimSlash(s.Old))
	p := filepath.Clean(path)
	new := trimSlash(s.New)
	switch {
	case p == old:
		return new, true
	case old == "/" && strings.HasPrefix(p, "/"):
		return under(new, p[1:]), true
	case old == "." && !filepath.IsAbs(p) && p != ".." && !strings.HasPrefix(p, "../"):
		return under(new, p), true
	case strings.HasPrefix(p, old+"/"):
		return under(new, p[len(old)+1:]), true
	}
	return "", false
}

// under is the relative path rel under dir.
func under(dir, rel string) string {
	if dir == "/" {
		return "/" + rel
	}
	return dir + "/" + rel
}

// Options say where else to look for source files.
type Options struct {
	// Substitutions are tried in order; every one that matches is tried.
	Substitutions []Substitution
	// Debuginfod, when not nil, is asked for the file by build-id last.
	Debuginfod *debuginfod.Client
	// Context bounds the debuginfod lookup; nil means no bound beyond the
	// client's own timeouts.
	Context context.Context
}

// Find returns a readable path holding the source file that a line table
// names as file in a unit compiled in compDir (DW_AT_comp_dir), for the
// binary with buildID. The error is one line listing where it looked.
func Find(compDir, file string, buildID []byte, opts Options) (string, error) {
	if file == "" {
		return "", fmt.Errorf("%w: the line table names no file", ErrNotFound)
	}
	recorded := file
	if !filepath.IsAbs(file) && compDir != "" {
		recorded = filepath.Join(compDir, file)
	}
	tried := []string{recorded}
	if isFile(recorded) {
		return recorded, nil
	}
	// Each rule is tried on what the debug info records: the joined path,
	// the compile directory (then joined with the file), and the file
	// name itself.
	for _, s := range opts.Substitutions {
		var cands []string
		if p, ok := s.Apply(recorded); ok {
			cands = append(cands, p)
		}
		if !filepath.IsAbs(file) && compDir != "" {
			if d, ok := s.Apply(compDir); ok {
				cands = append(cands, filepath.Join(d, file))
			}
		}
		if file != recorded {
			if p, ok := s.Apply(file); ok {
				cands = append(cands, p)
			}
		}
		for _, p := range cands {
			if slices.Contains(tried, p) {
				continue
			}
			tried = append(tried, p)
			if isFile(p) {
				return p, nil
			}
		}
	}
	var dErr error
	if q, ok := debuginfodPath(compDir, recorded); ok && opts.Debuginfod != nil && len(buildID) > 0 {
		ctx := opts.Context
		if ctx == nil {
			ctx = context.Background()
		}
		p, err := opts.Debuginfod.Source(ctx, buildID, q)
		if err == nil {
			return p, nil
		}
		dErr = err
	}
	msg := fmt.Sprintf("%s: %v (", recorded, ErrNotFound)
	if !filepath.IsAbs(recorded) {
		// A relative record names no place: show what it was made of.
		msg += fmt.Sprintf("recorded as %s in compile directory %s; ", file, compDir)
	}
	msg += "looked at " + strings.Join(tried, ", ")
	if dErr != nil {
		msg += "; " + dErr.Error()
	}
	msg += "): use --source-path OLD=NEW to say where the sources are"
	if !filepath.IsAbs(recorded) {
		msg += " (the path is relative: --source-path .=DIR looks for it under DIR)"
	}
	if opts.Debuginfod == nil && filepath.IsAbs(recorded) {
		// debuginfod serves sources by the absolute path the debug
		// info records; a relative one (Debian's kernel and modules
		// record kernel/events/core.c in compile directory
		// debian/build/build_amd64_none_amd64) names none it could
		// serve.
		msg += ", or set DEBUGINFOD_URLS"
	}
	return "", &notFoundError{msg: msg, debuginfod: dErr}
}

// debuginfodPath is the path debuginfod is asked for a source file by:
// the path the debug info records, joined with the compile directory, as
// elfutils' debuginfod server indexes a unit's files (comp_dir + "/" +
// name, canonicalised), which is what its clients must ask for. An
// absolute path is asked as it is: /buildid/ID/source/ABSPATH. A relative
// compile directory (Debian's kernel and modules record
// debian/build/build_amd64_none_amd64) makes the joined path relative too;
// the protocol puts a "/" before every source path, so it is asked as
// /buildid/ID/source/JOINED, which a server that indexed the joined path
// serves. (elfutils 0.188's server records such a path without the "/",
// and so answers 404 to every request for it: checked with debuginfod -F
// here; debuginfod-find refuses a relative path outright.) Like that
// server, a file with no compile directory, or one that climbs above it
// (../x), is not asked for: it names nothing a server could have indexed.
func debuginfodPath(compDir, recorded string) (string, bool) {
	switch {
	case filepath.IsAbs(recorded):
		return recorded, true
	case compDir == "" || recorded == ".." || strings.HasPrefix(recorded, "../"):
		return "", false
	}
	return "/" + recorded, true
}

// notFoundError is Find's failure: it matches ErrNotFound and the
// debuginfod error it includes.
type notFoundError struct {
	msg        string
	debuginfod error
}

func (e *notFoundError) Error() string { return e.msg }

func (e *notFoundError) Unwrap() []error {
	if e.debuginfod != nil {
		return []error{ErrNotFound, e.debuginfod}
	}
	return []error{ErrNotFound}
}

// isFile reports whether p is a regular file (following symlinks).
func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// String prints the rule as --source-path takes it.
func (s Substitution) String() string { return s.Old + "=" + s.New }
