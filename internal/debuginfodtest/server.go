// Package debuginfodtest runs Debian's real debuginfod server for tests.
//
// debuginfod 0.188 has no option to bind to one address: it listens on
// every interface. To keep the server off the network, it runs in a
// network namespace of its own (whose only interface is loopback), and the
// test reaches it through a reverse proxy listening on 127.0.0.1 in the
// test's namespace; the proxy dials into the server's namespace from a
// goroutine locked to a thread that joined it. The proxy also counts the
// requests, so tests can check that a lookup did not reach the server.
package debuginfodtest

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// port is where debuginfod listens inside its private namespace; nothing
// else lives there, so any port is free.
const port = 8002

// Server is a running debuginfod reachable at URL.
type Server struct {
	// URL is the loopback proxy in front of the server.
	URL string

	cmd      *exec.Cmd
	proxy    *httptest.Server
	requests atomic.Int64
	log      *os.File
	stopOnce sync.Once
}

// need skips the test, or fails it under CI=true, when something the real
// server needs is missing.
func need(t testing.TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("debuginfod server test cannot run under CI=true: %s", why)
	}
	t.Skipf("skipping: %s", why)
}

// Start runs `debuginfod -F` over dirs and returns once it answers. The
// server is stopped when the test ends.
func Start(t testing.TB, dirs ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("debuginfod")
	need(t, err == nil, "the debuginfod server is not installed (Debian package debuginfod)")
	tmp := t.TempDir()
	logf, err := os.Create(filepath.Join(tmp, "debuginfod.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", fmt.Sprint(port), "-d", filepath.Join(tmp, "db.sqlite"),
		"-t", "0", "-g", "0", "-c", "1", "-v"}
	for _, d := range dirs {
		args = append(args, "-F", d)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// No Pdeathsig: it fires when the forking thread exits, and
	// inNamespace discards threads.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	err = cmd.Start()
	need(t, err == nil, fmt.Sprintf("cannot start debuginfod in a private network namespace (needs root): %v", err))
	s := &Server{cmd: cmd, log: logf}
	t.Cleanup(s.Stop)

	nsPath := fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
	ns, err := os.Open(nsPath)
	if err != nil {
		t.Fatalf("opening the server's network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	if err := inNamespace(ns, bringLoopbackUp); err != nil {
		t.Fatalf("bringing up loopback in the server's namespace: %v", err)
	}
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var c net.Conn
		err := inNamespace(ns, func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
			return err
		})
		return c, err
	}
	target, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", port))
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{DialContext: dial, DisableKeepAlives: true}
	rp.ErrorLog = log.New(io.Discard, "", 0) // 502s while the server starts are expected
	s.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		rp.ServeHTTP(w, r)
	}))
	s.URL = s.proxy.URL
	return s
}

// inNamespace runs fn on a thread that joined the network namespace ns.
// The thread is never returned to the scheduler: the goroutine exits
// locked, which makes the runtime discard the thread.
func inNamespace(ns *os.File, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// bringLoopbackUp sets IFF_UP on lo in the current thread's namespace: a
// new namespace starts with it down.
func bringLoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// WaitFor polls path (for example /buildid/ID/debuginfo) until the server
// answers 200: debuginfod answers 404 until its scan has indexed a file.
func (s *Server) WaitFor(t testing.TB, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			logText, _ := os.ReadFile(s.log.Name())
			t.Fatalf("debuginfod did not serve %s within 30s (last: %v %v); its log:\n%s", path, resp, err, logText)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Requests returns how many requests reached the proxy so far.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Stop kills the server and closes the proxy; later requests to URL are
// refused. It is safe to call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.proxy.Close()
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.log.Close()
	})
}
