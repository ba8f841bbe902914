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
	"syscall"
	"testing"
	"time"

	"github.com/whythefail/whythefail/internal/fixture"
)

// Timeout bounds one stap run; listing a small fixture takes about 0.3 s.
const Timeout = 5 * time.Minute

// stubMarker names the file that marks a build tree as one of our stand-ins,
// so a tree left behind by a killed test is still removed by the next run.
const stubMarker = ".whythefail-stap-stub"

// stubConfig enables what stap checks before it allows process probes.
const stubConfig = "CONFIG_UPROBES=y\nCONFIG_UPROBE_EVENTS=y\nCONFIG_TRACEPOINTS=y\nCONFIG_ARCH_SUPPORTS_UPROBES=y\n"

// modulesDir is /lib/modules, a variable so tests could point elsewhere.
var modulesDir = "/lib/modules"

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

// List runs `stap -L spec` and returns its output rows in stap's order. The
// error carries stap's diagnostics; when nothing matches, stap fails with
// "semantic error: no match".
func List(t testing.TB, spec string) ([]string, error) {
	t.Helper()
	if err := Available(); err != nil {
		return nil, err
	}
	unlock, err := lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	remove, err := ensureBuildTree()
	if err != nil {
		return nil, err
	}
	defer remove()

	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "stap", "-L", spec)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	t.Logf("stap -L %s: %d bytes in %v", spec, stdout.Len(), time.Since(start).Round(time.Millisecond))
	if err != nil {
		diag := diagnostics(stderr.String())
		if diag == "" && ctx.Err() == nil {
			// stap -L exits 1 without a word when nothing matches.
			diag = "no probe point matches"
		}
		return nil, fmt.Errorf("running stap -L %s: %w: %s", spec, err, diag)
	}
	var rows []string
	for _, l := range strings.Split(stdout.String(), "\n") {
		if l = strings.TrimRight(l, " "); l != "" {
			rows = append(rows, l)
		}
	}
	return rows, nil
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

// lock takes an exclusive lock shared by every test process.
func lock() (unlock func(), err error) {
	path := filepath.Join(os.TempDir(), "whythefail-stap.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("opening stap lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing releases the flock
}

// ensureBuildTree makes /lib/modules/RELEASE/build exist and returns the
// function that undoes what it did (nothing when the tree is a real one).
func ensureBuildTree() (remove func(), err error) {
	rel, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return nil, fmt.Errorf("reading kernel release: %w", err)
	}
	release := strings.TrimSpace(string(rel))
	build := filepath.Join(modulesDir, release, "build")
	marker := filepath.Join(build, stubMarker)

	// top is the highest directory we create, and what we remove.
	var top string
	if data, err := os.ReadFile(marker); err == nil {
		top = string(data) // a stand-in left by a killed run: ours to remove
	} else if _, err := os.Stat(build); err == nil {
		return func() {}, nil // a real build tree: leave it alone
	} else {
		for _, d := range []string{modulesDir, filepath.Join(modulesDir, release), build} {
			if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
				top = d
				break
			}
		}
		if top == "" {
			top = build
		}
	}
	remove = func() {
		// Only ever remove a directory below /lib/modules that we made.
		if top == modulesDir || strings.HasPrefix(top, modulesDir+"/") {
			os.RemoveAll(top)
		}
	}
	files := map[string]string{
		stubMarker:                       top,
		".config":                        stubConfig,
		"Module.symvers":                 "",
		"include/generated/utsrelease.h": fmt.Sprintf("#define UTS_RELEASE %q\n", release),
	}
	for name, content := range files {
		p := filepath.Join(build, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			remove()
			return nil, fmt.Errorf("creating stand-in kernel build tree for stap (needs root): %w", err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			remove()
			return nil, fmt.Errorf("creating stand-in kernel build tree for stap: %w", err)
		}
	}
	return remove, nil
}
