package tracer_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/tracer"
)

// TestMain lets the test binary serve as the -c command's gate, and gives
// the run a build-id cache of its own.
func TestMain(m *testing.M) {
	tracer.MaybeGate()
	os.Exit(fixture.WithPrivateCache(m.Run))
}

// whythefail is the command as a process of its own: signal tests need it.
func whythefail(t *testing.T) string { return fixture.Whythefail(t) }

// held lists the BPF programs and links whose file descriptors process
// pid holds, from /proc/PID/fdinfo.
func held(t *testing.T, pid int) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var ids []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			for _, key := range []string{"prog_id:", "link_id:"} {
				if v, ok := strings.CutPrefix(line, key); ok {
					ids = append(ids, strings.TrimSuffix(key, "_id:")+" "+strings.TrimSpace(v))
				}
			}
		}
	}
	return ids
}

// alive lists which of the programs and links still exist in the kernel.
func alive(t *testing.T, objs []string) []string {
	t.Helper()
	if _, err := exec.LookPath("bpftool"); err != nil {
		fixture.Missing(t, "bpftool is not installed (apt-get install bpftool)")
		return nil
	}
	var out []string
	for _, o := range objs {
		kind, id, _ := strings.Cut(o, " ")
		if exec.Command("bpftool", kind, "show", "id", id).Run() == nil {
			out = append(out, o)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// procStat reads the fields of /proc/PID/stat after the command name:
// the state first.
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+2:]), true
}

// zombie reports whether pid has exited and awaits reaping.
func zombie(pid int) bool {
	f, ok := procStat(pid)
	return ok && f[0] == "Z"
}

// cpuTicks reads a process's user+system CPU ticks, to see it still runs.
func cpuTicks(pid int) (int64, bool) {
	f, ok := procStat(pid)
	if !ok {
		return 0, false
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k, true
}

// TestExitDetaches checks that whythefail leaves nothing attached and the
// target running, however it ends: SIGINT, SIGTERM, SIGKILL, or the -x
// process ending, reaped by its parent or left a zombie.
func TestExitDetaches(t *testing.T) {
	fixture.RequireBPF(t)
	wtf := whythefail(t)
	demo := fixture.Build(t, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O2", PIE: true})
	t.Run("command-exit", func(t *testing.T) {
		// -c: whythefail ends with the command; nothing stays attached.
		var out, errb syncBuffer
		cmd := exec.Command(wtf, fmt.Sprintf("process(%q)", demo.Path), "load_config", "1", "-c", fmt.Sprintf("%q 20000 >/dev/null", demo.Path))
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		waitFor(t, "the first trace", func() bool { return strings.Contains(out.String(), "function(load_config)") })
		objs := held(t, cmd.Process.Pid)
		if len(objs) == 0 {
			t.Fatalf("whythefail holds no BPF objects while tracing")
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("whythefail: %v; stderr: %s", err, errb.String())
			}
		case <-time.After(5 * time.Minute):
			cmd.Process.Kill()
			t.Fatal("whythefail did not end with its command")
		}
		if !strings.Contains(out.String(), "\nstatistics:\nentry count: 20000\n") {
			t.Errorf("statistics do not count the command's 20000 calls")
		}
		waitFor(t, "the probes to be gone", func() bool { return len(alive(t, objs)) == 0 })
	})
	for _, how := range []string{"SIGINT", "SIGTERM", "SIGKILL", "target-exit", "target-zombie"} {
		t.Run(how, func(t *testing.T) {
			target := exec.Command(demo.Path, "2000000000")
			if err := target.Start(); err != nil {
				t.Fatal(err)
			}
			// The test is the target's parent: for target-zombie it reaps
			// the target only after whythefail has ended.
			var targetDone chan error
			reap := func() {
				if targetDone == nil {
					targetDone = make(chan error, 1)
					go func() { targetDone <- target.Wait() }()
				}
			}
			if how != "target-zombie" {
				reap()
			}
			defer func() {
				target.Process.Kill()
				reap()
				<-targetDone
			}()
			var out, errb syncBuffer
			cmd := exec.Command(wtf, fmt.Sprintf("process(%q)", demo.Path), "load_config", "1", "-x", strconv.Itoa(target.Process.Pid))
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			waitFor(t, "the first trace", func() bool { return strings.Contains(out.String(), "function(load_config)") })
			objs := held(t, cmd.Process.Pid)
			links := 0
			for _, o := range objs {
				if strings.HasPrefix(o, "link ") {
					links++
				}
			}
			if links == 0 {
				t.Fatalf("whythefail holds no BPF links while tracing (%v)", objs)
			}
			switch how {
			case "SIGINT":
				cmd.Process.Signal(syscall.SIGINT)
			case "SIGTERM":
				cmd.Process.Signal(syscall.SIGTERM)
			case "SIGKILL":
				cmd.Process.Kill()
			case "target-exit", "target-zombie":
				target.Process.Kill()
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("whythefail did not exit after %s; stderr: %s", how, errb.String())
			}
			if how != "SIGKILL" {
				if err != nil {
					t.Errorf("whythefail exited with %v after %s; stderr: %s", err, how, errb.String())
				}
				if !strings.Contains(out.String(), "\nstatistics:\nentry count: ") {
					t.Errorf("no statistics printed after %s", how)
				}
			}
			// The kernel frees them once the last descriptor is gone; give
			// it a moment after SIGKILL.
			waitFor(t, "the probes to be gone", func() bool { return len(alive(t, objs)) == 0 })
			if how == "target-zombie" && !zombie(target.Process.Pid) {
				t.Errorf("target %d is not a zombie after whythefail ended: the test did not test that", target.Process.Pid)
			}
			if strings.HasPrefix(how, "target-") {
				return
			}
			// The target goes on, untraced and unharmed.
			t0, ok := cpuTicks(target.Process.Pid)
			if !ok {
				t.Fatalf("target died after whythefail's %s", how)
			}
			waitFor(t, "the target to keep running", func() bool {
				t1, ok := cpuTicks(target.Process.Pid)
				return !ok || t1 > t0
			})
			select {
			case err := <-targetDone:
				t.Fatalf("target ended after whythefail's %s: %v", how, err)
			default:
			}
		})
	}
}

// TestNoHarm runs each fixture untraced and traced (every invocation
// committed) and compares their output and exit status.
func TestNoHarm(t *testing.T) {
	fixture.RequireBPF(t)
	wtf := whythefail(t)
	cases := []struct{ name, fn string }{
		{"demo", "load_config"},
		{"recurse", "parse_group"},
		{"threads", "check_item"},
		{"inline", "validate"},
		{"libmain", "main"},
		{"cxx", "main"},
	}
	for _, v := range []fixture.Variant{
		{Compiler: "gcc", Opt: "-O0", PIE: true},
		{Compiler: "clang", Opt: "-O2", PIE: false},
	} {
		for _, c := range cases {
			t.Run(v.String()+"/"+c.name, func(t *testing.T) {
				b := fixture.Build(t, c.name, v)
				untraced := exec.Command(b.Path)
				want, werr := untraced.Output()
				dir := t.TempDir()
				outFile := filepath.Join(dir, "out")
				traced := exec.Command(wtf, fmt.Sprintf("process(%q)", b.Path), c.fn, "1", "-c", fmt.Sprintf("%q > %q", b.Path, outFile))
				var stdout, stderr bytes.Buffer
				traced.Stdout, traced.Stderr = &stdout, &stderr
				terr := traced.Run()
				got, _ := os.ReadFile(outFile)
				if !bytes.Equal(got, want) {
					t.Errorf("output differs when traced:\n%s", fixture.Diff(string(want), string(got)))
				}
				if code(werr) != code(terr) {
					t.Errorf("exit status %d untraced, %d traced; stderr: %s", code(werr), code(terr), stderr.String())
				}
				if !strings.Contains(stdout.String(), "function("+c.fn+")") {
					t.Errorf("no trace of %s printed; stderr: %s", c.fn, stderr.String())
				}
			})
		}
	}
}

func code(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

var statRE = regexp.MustCompile(`(?m)^([a-z-]+(?: \([a-z ]+\))?) count: (\d+)$`)

func stats(out string) map[string]int {
	m := map[string]int{}
	for _, s := range statRE.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(s[2])
		m[s[1]] = n
	}
	return m
}

// TestAccountingUnderPressure commits every invocation into a ring buffer
// too small to hold them: whatever is lost is counted, and what is printed
// plus what was dropped is exactly what was committed.
func TestAccountingUnderPressure(t *testing.T) {
	fixture.RequireBPF(t)
	wtf := whythefail(t)
	b := fixture.Build(t, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O0", PIE: true})
	const calls = 3000
	cmd := exec.Command(wtf, "--ringbuf-size", "16K", fmt.Sprintf("process(%q)", b.Path), "load_config", "1", "-c", fmt.Sprintf("%q %d >/dev/null", b.Path, calls))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v; stderr: %s", err, stderr.String())
	}
	s := stats(string(out))
	printed := strings.Count(string(out), " function(load_config) $return: ")
	dropped := s["dropped-trace (ring buffer full)"]
	if s["entry"] != calls || s["exit-hit"] != calls || s["exit-miss"] != 0 {
		t.Errorf("statistics %v, want %d entries, all exit-hit", s, calls)
	}
	if printed+dropped != s["exit-hit"] {
		t.Errorf("printed %d + dropped %d != exit-hit %d", printed, dropped, s["exit-hit"])
	}
	if dropped == 0 {
		t.Logf("the 16K ring buffer never filled (%d traces printed): the reader kept up", printed)
	}
	stmtLines := strings.Count(string(out), " $$vars: ")
	if dropped == 0 && stmtLines != s["statement"] {
		t.Errorf("printed %d statement lines, statement count %d", stmtLines, s["statement"])
	}
}
