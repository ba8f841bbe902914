package tracer

// traceLimit implements --max-traces, the habit of ending a stap script
// with exit() after the first failure: once max traces are committed,
// reached is closed and Run stops the way it does on Ctrl-C (probes
// detached, statistics printed, a -c command left to go on untraced).
// Traces the kernel committed meanwhile are counted but not printed.
type traceLimit struct {
	max, n  int
	reached chan struct{} // nil, never ready, without a limit
}

func newTraceLimit(max int) *traceLimit {
	l := &traceLimit{max: max}
	if max > 0 {
		l.reached = make(chan struct{})
	}
	return l
}

// take reports whether the next trace is to be printed. Only the printing
// goroutine calls it.
func (l *traceLimit) take() bool {
	if l.max <= 0 {
		return true
	}
	if l.n >= l.max {
		return false
	}
	l.n++
	if l.n == l.max {
		close(l.reached)
	}
	return true
}

// done reports whether the limit was reached; call it once the printing
// goroutine has finished.
func (l *traceLimit) done() bool { return l.max > 0 && l.n >= l.max }
