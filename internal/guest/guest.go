package guest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/whythefail/whythefail/internal/fixture"
)

// EnvInside is set to 1 in the environment of every case run in the guest.
const EnvInside = "WHYTHEFAIL_GUEST"

// DefaultCache is where .ci/kernel prepares the guest.
const DefaultCache = "/var/cache/whythefail/guest"

// Memory is the guest's memory size, as qemu's -m takes it.
const Memory = "3G"

// DefaultTimeout bounds a boot whose Config has no Timeout.
const DefaultTimeout = 5 * time.Minute

// Inside reports whether this process runs in the guest (a case's
// environment has WHYTHEFAIL_GUEST=1).
func Inside() bool { return os.Getenv(EnvInside) == "1" }

// Kernel is a prepared guest: Debian's kernel image and the initramfs
// .ci/kernel built for it.
type Kernel struct {
	Release   string // uname -r of the guest, e.g. 6.1.0-57-amd64
	Vmlinuz   string // the compressed kernel image qemu boots
	Initramfs string // the busybox initramfs (newc cpio)
	Qemu      string // path of qemu-system-x86_64
}

// Find locates the guest that .ci/kernel prepared, and qemu. Its error
// says what is missing and how to prepare it.
func Find() (*Kernel, error) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, fmt.Errorf("qemu-system-x86_64 is not installed (run .ci/kernel as root): %w", err)
	}
	cache := os.Getenv("WHYTHEFAIL_GUEST_CACHE")
	if cache == "" {
		cache = DefaultCache
	}
	cur, err := os.ReadFile(filepath.Join(cache, "current"))
	if err != nil {
		return nil, fmt.Errorf("no guest kernel prepared (run .ci/kernel as root): %w", err)
	}
	rel := strings.TrimSpace(string(cur))
	k := &Kernel{
		Release:   rel,
		Vmlinuz:   filepath.Join(cache, rel, "vmlinuz"),
		Initramfs: filepath.Join(cache, rel, "initramfs.cpio"),
		Qemu:      qemu,
	}
	for _, f := range []string{k.Vmlinuz, k.Initramfs} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("guest kernel %s is incomplete (run .ci/kernel as root): %w", rel, err)
		}
	}
	return k, nil
}

// Require returns the prepared guest, or skips the test saying why (fails
// it under CI=true). It also needs root: qemu's 9p server runs with
// security_model=none, as root, so the guest can write the shares.
func Require(t testing.TB) *Kernel {
	t.Helper()
	fixture.RequireRoot(t)
	k, err := Find()
	if err != nil {
		fixture.Missing(t, "%v", err)
	}
	return k
}

// Case is one script run in the guest.
type Case struct {
	Name   string // for messages
	Script string // run by busybox sh, in /host when a share is given
}

// Result is what a case printed (stdout and stderr together) and its exit
// status.
type Result struct {
	Name   string
	Output string
	Status int
}

// Config is one boot.
type Config struct {
	Share   string        // host directory mounted at /host in the guest, read-write; "" for none
	Cases   []Case        // run in order, each in its own sh
	Timeout time.Duration // for the whole boot; DefaultTimeout if 0
	// Icount runs the guest with qemu's -icount shift=0,sleep=off: its
	// clock advances one nanosecond per instruction executed (and jumps
	// over idle time), so the guest's elapsed time counts instructions,
	// whatever the host's load. For benchmarks.
	Icount bool
}

// Boot is what one run measured and saw.
type Boot struct {
	Results []Result
	Console string        // the serial console: kernel messages and /init's own
	Elapsed time.Duration // from starting qemu to its exit
}

// Run boots the guest once and runs cfg's cases in order. A case failing
// is a Result with a non-zero status; Run's error is for the boot itself
// (qemu failing, the timeout, a case whose status never came back) and
// carries the end of the console.
func (k *Kernel) Run(cfg Config) (*Boot, error) {
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctl, err := os.MkdirTemp("", "whythefail-guest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(ctl)
	if err := writeScripts(ctl, cfg.Cases); err != nil {
		return nil, err
	}
	args := []string{
		"-accel", "tcg", "-m", Memory, "-smp", "1",
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", k.Vmlinuz, "-initrd", k.Initramfs,
		// no_timer_check: under TCG on a loaded host the kernel's
		// check that the IO-APIC timer ticks can time out and panic
		// ("IO-APIC + timer doesn't work!"), seen here at load 11.
		"-append", "console=ttyS0 quiet panic=-1 no_timer_check",
		"-virtfs", "local,path=" + ctl + ",mount_tag=ctl,security_model=none",
	}
	if cfg.Icount {
		args = append(args, "-icount", "shift=0,sleep=off")
	}
	if cfg.Share != "" {
		share, err := filepath.Abs(cfg.Share)
		if err != nil {
			return nil, err
		}
		args = append(args, "-virtfs", "local,path="+share+",mount_tag=host,security_model=none")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.Qemu, args...)
	var console bytes.Buffer
	cmd.Stdout = &console
	cmd.Stderr = &console
	start := time.Now()
	runErr := cmd.Run()
	boot := &Boot{Console: console.String(), Elapsed: time.Since(start)}
	if ctx.Err() != nil {
		return boot, fmt.Errorf("guest did not power off within %v; console ends:\n%s", timeout, tail(boot.Console))
	}
	if runErr != nil {
		return boot, fmt.Errorf("qemu-system-x86_64: %v; console ends:\n%s", runErr, tail(boot.Console))
	}
	for i, c := range cfg.Cases {
		out, err := os.ReadFile(filepath.Join(ctl, fmt.Sprintf("case%d.out", i)))
		if err != nil {
			return boot, fmt.Errorf("guest case %q did not run (%v); console ends:\n%s", c.Name, err, tail(boot.Console))
		}
		st, err := os.ReadFile(filepath.Join(ctl, fmt.Sprintf("case%d.status", i)))
		if err != nil {
			return boot, fmt.Errorf("guest case %q did not finish (%v); its output:\n%s\nconsole ends:\n%s", c.Name, err, out, tail(boot.Console))
		}
		status, err := strconv.Atoi(strings.TrimSpace(string(st)))
		if err != nil {
			return boot, fmt.Errorf("guest case %q: bad status %q", c.Name, st)
		}
		boot.Results = append(boot.Results, Result{Name: c.Name, Output: string(out), Status: status})
	}
	return boot, nil
}

// writeScripts writes each case to ctl/caseN.sh, and run.sh (which /init
// runs) to run them in order, each one's output to caseN.out and its
// status to caseN.status, written last so that a status file means the case
// ended.
func writeScripts(ctl string, cases []Case) error {
	var run strings.Builder
	run.WriteString("export " + EnvInside + "=1\n")
	for i, c := range cases {
		name := fmt.Sprintf("case%d", i)
		if err := os.WriteFile(filepath.Join(ctl, name+".sh"), []byte(c.Script), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&run, "(cd /host 2>/dev/null; exec sh /ctl/%s.sh) >/ctl/%s.out 2>&1\n", name, name)
		fmt.Fprintf(&run, "echo $? >/ctl/%s.status\n", name)
	}
	return os.WriteFile(filepath.Join(ctl, "run.sh"), []byte(run.String()), 0o644)
}

// tail returns the last lines of a console log, for error messages.
func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// MustRun is Run for tests: it fails the test when the boot fails, and
// logs the boot's duration.
func (k *Kernel) MustRun(t testing.TB, cfg Config) []Result {
	t.Helper()
	boot, err := k.Run(cfg)
	if err != nil {
		t.Fatalf("guest %s: %v", k.Release, err)
	}
	t.Logf("guest %s: %d cases in %.1f s", k.Release, len(cfg.Cases), boot.Elapsed.Seconds())
	return boot.Results
}

// SourceDir is testdata/guest in the checkout: the C sources of the guest's
// programs.
func SourceDir() string {
	return filepath.Join(fixture.SourceDir(), "..", "guest")
}

// Program compiles testdata/guest/NAME.c with gcc -static -g -O0 into dir
// (the directory a test shares with the guest) and returns its path.
func Program(t testing.TB, dir, name string) string {
	t.Helper()
	fixture.NeedTool(t, "gcc")
	src := filepath.Join(SourceDir(), name+".c")
	out := filepath.Join(dir, name)
	cmd := exec.Command("gcc", "-static", "-g", "-O0", "-o", out, src)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc -static %s: %v\n%s", src, err, msg)
	}
	return out
}

// TestBinary builds the test binary of package pkg (an import path or a
// ./relative directory, as go test takes it) with CGO_ENABLED=0, so it is
// static and runs in the guest, into dir, and returns its path.
func TestBinary(t testing.TB, dir, pkg string) string {
	t.Helper()
	fixture.NeedTool(t, "go")
	out := filepath.Join(dir, filepath.Base(pkg)+".test")
	cmd := exec.Command("go", "test", "-c", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test -c %s: %v\n%s", pkg, err, msg)
	}
	return out
}
