package session

import (
	"bufio"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNoneTraced: detach closes every link at once only when no traced
// process is left: not while a target runs, nor while a process a target
// started is alive (pending, having reached no probe), nor when every
// process is traced.
func TestNoneTraced(t *testing.T) {
	requireBPF(t)
	f := buildFixture(t, "gcc", "-O2")
	p := f.plan(t, false)

	all, err := Start(context.Background(), p, Options{TraceAll: true})
	if err != nil {
		t.Fatal(err)
	}
	if all.noneTraced() {
		t.Error("noneTraced with every process traced")
	}
	if err := all.Close(); err != nil {
		t.Fatal(err)
	}

	// The target starts a background sleep once the session is there,
	// says its pid and exits.
	sh := exec.Command("sh", "-c", `read x; sleep 60 & echo $!`)
	in, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	s, err := Start(context.Background(), p, Options{PIDs: []int{sh.Process.Pid}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.noneTraced() {
		t.Error("noneTraced while the target runs")
	}
	in.Write([]byte("go\n"))
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	sleep, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Wait(); err != nil {
		t.Fatal(err)
	}
	if s.noneTraced() {
		t.Error("noneTraced while a process the target started is alive")
	}
	if err := syscall.Kill(sleep, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The exit tracepoint forgets the pending task as it exits.
	for deadline := time.Now().Add(time.Minute); !s.noneTraced(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("noneTraced still false a minute after every traced process exited")
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
