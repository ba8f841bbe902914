package debuginfod

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress shows one status line for a download that takes longer than a
// delay, redrawn with "\r" about once a second, and a last line when it
// ends. Quick downloads print nothing, so that normal runs stay quiet.
type progress struct {
	w     io.Writer
	what  artifact
	start time.Time

	mu      sync.Mutex
	servers map[string]*counter // bytes so far per server
	lastLen int                 // length of the last line drawn, to blank it
	shown   bool
	stop    chan struct{}
	done    chan struct{}
}

// counter is one server's download state.
type counter struct {
	n, size int64
}

// newProgress starts the timer; with a nil writer it does nothing.
func newProgress(w io.Writer, delay time.Duration, what artifact) *progress {
	p := &progress{w: w, what: what, start: time.Now(), servers: map[string]*counter{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if w == nil {
		close(p.done)
		return p
	}
	go p.run(delay)
	return p
}

func (p *progress) run(delay time.Duration) {
	defer close(p.done)
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.draw()
			t.Reset(time.Second)
		}
	}
}

// reader counts the bytes read from one server's body.
func (p *progress) reader(server string, size int64, r io.Reader) io.Reader {
	c := &counter{size: size}
	p.mu.Lock()
	p.servers[server] = c
	p.mu.Unlock()
	return &countingReader{p: p, c: c, r: r}
}

type countingReader struct {
	p *progress
	c *counter
	r io.Reader
}

func (cr *countingReader) Read(b []byte) (int, error) {
	n, err := cr.r.Read(b)
	cr.p.mu.Lock()
	cr.c.n += int64(n)
	cr.p.mu.Unlock()
	return n, err
}

// leaderLocked returns the server that has delivered the most so far.
func (p *progress) leaderLocked() (string, *counter) {
	var best string
	var bc *counter
	for s, c := range p.servers {
		if bc == nil || c.n > bc.n || (c.n == bc.n && s < best) {
			best, bc = s, c
		}
	}
	return best, bc
}

// draw redraws the status line.
func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("debuginfod: downloading %s", p.what)
	if s, c := p.leaderLocked(); c == nil {
		line += ": waiting for the servers to answer"
	} else {
		line += fmt.Sprintf(" from %s: %s", s, byteCount(c.n))
		if c.size > 0 {
			line += " of " + byteCount(c.size)
		}
	}
	p.writeLocked(line)
	p.shown = true
}

func (p *progress) writeLocked(line string) {
	pad := ""
	if n := p.lastLen - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	p.lastLen = len(line)
}

// finish stops the timer and, if anything was shown, ends the line with
// the outcome.
func (p *progress) finish(ok bool) {
	if p.w == nil {
		return
	}
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.shown {
		return
	}
	took := time.Since(p.start).Round(100 * time.Millisecond)
	if ok {
		_, c := p.leaderLocked()
		p.writeLocked(fmt.Sprintf("debuginfod: downloaded %s: %s in %s", p.what, byteCount(c.n), took))
	} else {
		p.writeLocked(fmt.Sprintf("debuginfod: downloading %s failed after %s", p.what, took))
	}
	fmt.Fprintln(p.w)
}

// byteCount formats n bytes for people.
func byteCount(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}
