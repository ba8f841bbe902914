package tracer

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestExitWatch checks both ways of noticing that a -x process ended,
// with a pidfd and without (kernels before 5.3): an exited process that
// its parent has not reaped counts as ended, and a missing one is an
// error up front.
func TestExitWatch(t *testing.T) {
	for _, pidfd := range []bool{true, false} {
		name := "pidfd"
		if !pidfd {
			name = "proc"
		}
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command("sleep", "1000")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Kill()
				cmd.Wait()
			}()
			w, err := watchExit(cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			defer w.close()
			if !pidfd {
				w.close() // as if pidfd_open had failed
			}
			if w.exited() {
				t.Fatal("a running process counts as exited")
			}
			done, stop := make(chan struct{}), make(chan struct{})
			go w.wait(done, stop)
			cmd.Process.Signal(syscall.SIGKILL) // not reaped: a zombie
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				close(stop)
				t.Fatal("the exit of an unreaped process was not noticed")
			}
		})
	}
	if _, err := watchExit(1 << 30); err == nil {
		t.Error("watchExit of a pid that cannot exist: no error")
	}
}
