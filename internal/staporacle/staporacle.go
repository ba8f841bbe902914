package staporacle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whythefail/whythefail/internal/fixture"
)

// Timeout bounds one stap run; listing a small fixture takes about 0.3 s.
const Timeout = 5 * time.Minute

// stubConfig enables what stap checks before it allows process probes.
const stubConfig = "CONFIG_UPROBES=y\nCONFIG_UPROBE_EVENTS=y\nCONFIG_TRACEPOINTS=y\nCONFIG_ARCH_SUPPORTS_UPROBES=y\n"

// stubSystemMap holds the one symbol stap looks for before it allows
// process(...).function(...).return probes.
const stubSystemMap = "ffffffff81001000 T arch_uretprobe_hijack_return_addr\n"

// ErrNoMatch is the error (wrapped) when stap lists nothing for a spec:
// stap -L then exits 1 without a word.
var ErrNoMatch = errors.New("no probe point matches")

// Available returns nil when stap can be run, or an error saying what to do.
func Available() error {
	if _, err := exec.LookPath("stap"); err != nil {
		return fmt.Errorf("stap not found: install systemtap (apt-get install systemtap): %w", err)
	}
	return nil
}

// Require skips the test when stap is unavailable, or fails it under CI=true.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		fixture.Missing(t, "%v", err)
	}
}

// Options adjust a stap run.
type Options struct {
	// DebugDirs are searched for separate debug files (by build-id and by
	// .gnu_debuglink name) before the system's /usr/lib/debug.
	DebugDirs []string
	// Release, when set, runs stap -r RELEASE against that installed
	// kernel (its headers, /lib/modules/RELEASE and its debug files under
	// /usr/lib/debug) instead of the stand-in build tree: for kernel and
	// module("NAME") specs.
	Release string
}

// List runs `stap -L spec` and returns its output rows in stap's order. The
// error carries stap's diagnostics; when nothing matches, stap fails
// without a word and the error wraps ErrNoMatch.
func List(t testing.TB, spec string) ([]string, error) {
	t.Helper()
	return ListWith(t, spec, Options{})
}

// ListWith is List with options. spec may be a comma-separated list of
// probe points, which stap lists together in one run (rows with the same
// text are merged, so callers should only combine points whose rows differ).
func ListWith(t testing.TB, spec string, o Options) ([]string, error) {
	t.Helper()
	out, err := run(spec, o)
	if err != nil {
		return nil, err
	}
	t.Logf("stap -L %s: %d bytes in %v", spec, len(out.stdout), out.took.Round(time.Millisecond))
	var rows []string
	for _, l := range strings.Split(out.stdout, "\n") {
		if l = strings.TrimRight(l, " "); l != "" {
			rows = append(rows, l)
		}
	}
	return rows, nil
}

type result struct {
	stdout string
	took   time.Duration
}

func run(spec string, o Options) (result, error) {
	if err := Available(); err != nil {
		return result{}, err
	}
	tree := o.Release
	if tree == "" {
		var err error
		if tree, err = buildTree(); err != nil {
			return result{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "stap", "-r", tree, "-L", spec)
	cmd.Env = append(os.Environ(), "SYSTEMTAP_DEBUGINFO_PATH="+debuginfoPath(o.DebugDirs), "DEBUGINFOD_URLS=")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		diag := diagnostics(stderr.String())
		if diag == "" && ctx.Err() == nil {
			// stap -L exits 1 without a word when nothing matches.
			return result{}, fmt.Errorf("running stap -L %s: %w: %w", spec, err, ErrNoMatch)
		}
		return result{}, fmt.Errorf("running stap -L %s: %w: %s", spec, err, diag)
	}
	return result{stdout.String(), took}, nil
}

// debuginfoPath builds elfutils' search path as stap reads it from
// SYSTEMTAP_DEBUGINFO_PATH: "+" checks CRCs, "" is the binary's directory,
// ".debug" its subdirectory, absolute entries are searched by build-id
// (DIR/.build-id/xx/rest.debug) and by debuglink name.
func debuginfoPath(dirs []string) string {
	parts := []string{"+", ".debug", "/usr/lib/debug"}
	parts = append(parts[:2], append(append([]string(nil), dirs...), parts[2:]...)...)
	return strings.Join(parts, ":")
}

// diagnostics drops stap's Debian-specific tip from its error output.
func diagnostics(stderr string) string {
	var keep []string
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Tip: ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "; ")
}

var treeOnce = sync.OnceValues(makeTree)

// buildTree returns the stand-in kernel build tree, creating it once per
// process.
func buildTree() (string, error) { return treeOnce() }

// makeTree writes the stand-in tree into a fresh private directory. It is
// left behind on exit (a few hundred bytes in the temporary directory)
// because test binaries have no hook that runs after the last test.
func makeTree() (string, error) {
	rel, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "", fmt.Errorf("reading kernel release: %w", err)
	}
	dir, err := os.MkdirTemp("", "whythefail-stap-tree-")
	if err != nil {
		return "", fmt.Errorf("creating stand-in kernel build tree for stap: %w", err)
	}
	if err := writeTree(dir, strings.TrimSpace(string(rel))); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// writeTree writes the files stap reads from a kernel build tree.
func writeTree(dir, release string) error {
	files := map[string]string{
		".config":                        stubConfig,
		"Module.symvers":                 "",
		"System.map":                     stubSystemMap,
		"include/config/kernel.release":  release + "\n",
		"include/generated/utsrelease.h": fmt.Sprintf("#define UTS_RELEASE %q\n", release),
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("creating stand-in kernel build tree for stap: %w", err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("creating stand-in kernel build tree for stap: %w", err)
		}
	}
	return nil
}
