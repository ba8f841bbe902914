package tracer_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/tracer"
)

// TestInterrupt traces every process running the demo (no -c or -x) and
// interrupts whythefail: once, it detaches, prints what was committed and
// the statistics, and exits 0; twice, while it is stuck printing to a pipe
// nobody reads (a pager left waiting), it exits with status 130 without
// printing more. With -c, once the command has ended, one interrupt stops
// the printing. Whatever happens, nothing it attached is left in the kernel.
func TestInterrupt(t *testing.T) {
	fixture.RequireBPF(t)
	wtf := whythefail(t)
	demo := fixture.Build(t, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O2", PIE: true})
	target := exec.Command(demo.Path, "2000000000")
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		target.Process.Kill()
		target.Wait()
	}()

	// start runs whythefail on every load_config call, with extra
	// arguments, its stdout into w.
	start := func(t *testing.T, w io.Writer, extra ...string) (*exec.Cmd, *syncBuffer, chan error) {
		var errb syncBuffer
		// --no-verdict: the probes are then exactly the statements' and
		// the entry's (see probes).
		cmd := exec.Command(wtf, append([]string{"--no-verdict", fmt.Sprintf("process(%q)", demo.Path), "load_config", "1"}, extra...)...)
		cmd.Stdout, cmd.Stderr = w, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		return cmd, &errb, done
	}
	wait := func(t *testing.T, cmd *exec.Cmd, done chan error, errb *syncBuffer) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("whythefail did not exit; stderr: %s", errb.String())
			return nil
		}
	}
	attached := fmt.Sprintf("whythefail: %d probes attached to %s (load_config)\n", probes(t, demo.Path), demo.Path)

	t.Run("once", func(t *testing.T) {
		var out syncBuffer
		cmd, errb, done := start(t, &out)
		waitFor(t, "the first trace", func() bool { return strings.Contains(out.String(), "function(load_config)") })
		objs := held(t, cmd.Process.Pid)
		cmd.Process.Signal(syscall.SIGINT)
		if err := wait(t, cmd, done, errb); err != nil {
			t.Errorf("whythefail exited with %v after SIGINT; stderr: %s", err, errb.String())
		}
		if !strings.Contains(out.String(), "\nstatistics:\nentry count: ") {
			t.Error("no statistics printed after SIGINT")
		}
		if got := withoutNotes(errb.String()); got != attached {
			t.Errorf("stderr %q, want %q", got, attached)
		}
		// The kernel frees programs a moment after their last
		// descriptor is closed.
		waitFor(t, "the probes and programs to be gone", func() bool { return len(alive(t, objs)) == 0 })
	})

	t.Run("twice", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		// A small pipe, never read: whythefail soon blocks writing
		// traces to it.
		if _, err := unix.FcntlInt(r.Fd(), unix.F_SETPIPE_SZ, 4096); err != nil {
			t.Fatalf("shrinking the pipe: %v", err)
		}
		cmd, errb, done := start(t, w)
		w.Close()
		waitFor(t, "whythefail to block writing to its full stdout", func() bool { return blockedWritingStdout(cmd.Process.Pid) })
		objs := held(t, cmd.Process.Pid)
		var links []string
		for _, o := range objs {
			if strings.HasPrefix(o, "link ") {
				links = append(links, o)
			}
		}
		if len(links) == 0 {
			t.Fatalf("whythefail holds no BPF links while tracing (%v)", objs)
		}
		cmd.Process.Signal(syscall.SIGINT)
		// The first signal detaches the probes, then whythefail blocks
		// printing the traces committed before.
		waitFor(t, "the probes to be detached", func() bool { return len(alive(t, links)) == 0 })
		select {
		case err := <-done:
			t.Fatalf("whythefail ended (%v) although its output pipe was full; stderr: %s", err, errb.String())
		default:
		}
		cmd.Process.Signal(syscall.SIGINT)
		err = wait(t, cmd, done, errb)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tracer.AbortStatus {
			t.Errorf("whythefail exited with %v after a second SIGINT, want exit status %d; stderr: %s", err, tracer.AbortStatus, errb.String())
		}
		want := attached + "whythefail: interrupted while finishing: probes detached; the remaining traces and the statistics are not printed\n"
		if got := withoutNotes(errb.String()); got != want {
			t.Errorf("stderr %q, want %q", got, want)
		}
		waitFor(t, "the probes and programs to be gone", func() bool { return len(alive(t, objs)) == 0 })
	})

	t.Run("once-finishing", func(t *testing.T) {
		// The -c command has ended and whythefail is stuck printing
		// what it committed: one SIGINT is enough to stop it.
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := unix.FcntlInt(r.Fd(), unix.F_SETPIPE_SZ, 4096); err != nil {
			t.Fatalf("shrinking the pipe: %v", err)
		}
		// 3,000 loads: the command must still run when whythefail's
		// objects are listed below; with 300 it could end first, now
		// that placement makes a traced load cost 0.2x the naive
		// floor, and the wait for an object to go never ended.
		cmd, errb, done := start(t, w, "-c", fmt.Sprintf("%q 3000 >/dev/null", demo.Path))
		w.Close()
		waitFor(t, "whythefail to block writing to its full stdout", func() bool { return blockedWritingStdout(cmd.Process.Pid) })
		objs := held(t, cmd.Process.Pid)
		waitFor(t, "the command to end and the probes to be detached", func() bool { return len(alive(t, objs)) < len(objs) && !hasChildren(cmd.Process.Pid) })
		cmd.Process.Signal(syscall.SIGINT)
		err = wait(t, cmd, done, errb)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tracer.AbortStatus {
			t.Errorf("whythefail exited with %v after SIGINT, want exit status %d; stderr: %s", err, tracer.AbortStatus, errb.String())
		}
		want := attached + "whythefail: interrupted while finishing: probes detached; the remaining traces and the statistics are not printed\n"
		if got := withoutNotes(errb.String()); got != want {
			t.Errorf("stderr %q, want %q", got, want)
		}
		waitFor(t, "the probes and programs to be gone", func() bool { return len(alive(t, objs)) == 0 })
	})
}

// hasChildren reports whether process pid has child processes.
func hasChildren(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		if b, err := os.ReadFile(task); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return true
		}
	}
	return false
}

// probes is how many uprobes whythefail attaches for load_config in bin:
// one per statement offset -L lists, the entry and the return, the entry
// statement sharing the entry probe.
func probes(t *testing.T, bin string) int {
	t.Helper()
	out := fixture.Run(t, whythefail(t), "-v", "-L", fmt.Sprintf("process(%q).statement(\"load_config@*:*\")", bin))
	offs := map[uint64]bool{}
	var entry uint64 // the first row's is the function's entry
	for i, l := range strings.Split(strings.TrimSpace(out), "\n") {
		m := offsetRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("no offset in -v -L line %q", l)
		}
		off, err := strconv.ParseUint(m[1], 0, 64)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			entry = off
		}
		// A moved probe goes where placement says, relative to the
		// entry (statements placed on one jump share its probe); the
		// others at their offset.
		if mv := movedRE.FindStringSubmatch(l); mv != nil {
			rel, err := strconv.ParseUint(mv[1], 0, 64)
			if err != nil {
				t.Fatal(err)
			}
			off = entry + rel
		}
		offs[off] = true
	}
	return len(offs) + 1
}

var (
	offsetRE = regexp.MustCompile(` offset=(0x[0-9a-f]+) \*/$`)
	movedRE  = regexp.MustCompile(` placement: moved to \+(0x[0-9a-f]+) `)
)

// withoutNotes drops from whythefail's stderr its notes (variables that
// print ?) and the line saying that detaching takes over a second, which a
// loaded machine may cause.
func withoutNotes(stderr string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(stderr, "\n") {
		if !strings.HasPrefix(l, "whythefail: note: ") && !detachingRE.MatchString(l) {
			b.WriteString(l)
		}
	}
	return b.String()
}

// blockedWritingStdout reports whether a thread of process pid waits in
// write(1, ...) on a full pipe.
func blockedWritingStdout(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	for _, task := range tasks {
		sc, err1 := os.ReadFile(filepath.Join(task, "syscall"))
		wchan, err2 := os.ReadFile(filepath.Join(task, "wchan"))
		if err1 == nil && err2 == nil && strings.HasPrefix(string(sc), "1 0x1 ") && strings.Contains(string(wchan), "pipe_write") {
			return true
		}
	}
	return false
}
