package tracer

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// exitWatch tells when the process that -x names ends. It holds a pidfd,
// which becomes readable once the process has exited, whether or not its
// parent has reaped it (polling kill(pid, 0) would wait for the reaping,
// and a parent that never reaps would keep whythefail tracing a zombie),
// and which no later process can take the pid of.
type exitWatch struct {
	pid   int
	pidfd int // -1 when pidfd_open is not available (Linux < 5.3)
}

// watchExit opens the watch on pid; a process that does not exist is an
// error.
func watchExit(pid int) (*exitWatch, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	switch {
	case err == nil:
		return &exitWatch{pid: pid, pidfd: fd}, nil
	case errors.Is(err, syscall.ESRCH):
		return nil, err
	}
	// No pidfds: fall back on kill(pid, 0) and the process state.
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return nil, err
	}
	return &exitWatch{pid: pid, pidfd: -1}, nil
}

// wait closes done when the process has exited, or returns without
// closing it once stop is closed.
func (w *exitWatch) wait(done chan<- struct{}, stop <-chan struct{}) {
	for {
		if w.exited() {
			close(done)
			return
		}
		select {
		case <-stop:
			return
		default:
		}
		if w.pidfd < 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// exited reports whether the process has exited; with a pidfd it waits up
// to 100 ms for that.
func (w *exitWatch) exited() bool {
	if w.pidfd >= 0 {
		fds := []unix.PollFd{{Fd: int32(w.pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		return err == nil && n > 0 && fds[0].Revents != 0
	}
	if err := syscall.Kill(w.pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	return zombie(w.pid)
}

// zombie reports whether /proc says pid has exited but is not reaped.
func zombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name, which is in parentheses and
	// may itself contain them.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// close releases the pidfd.
func (w *exitWatch) close() {
	if w.pidfd >= 0 {
		unix.Close(w.pidfd)
		w.pidfd = -1
	}
}
