package tracer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/whythefail/whythefail/backtrace"
	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/internal/timing"
	"github.com/whythefail/whythefail/report"
	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
)

// RunOptions choose the traced processes and the output.
type RunOptions struct {
	Command string // -c: run this through /bin/sh and trace it and its children
	PID     int    // -x: trace this process and its children
	JSON    bool
	// Source prints each statement's source text; Annotate prints, after
	// each trace, the function's source with the executed lines marked.
	Source   bool
	Annotate bool
	// Group chooses whether text traces are grouped by statement path
	// (--group, --no-group; by default only on a terminal).
	Group GroupMode
	// MaxRecords bounds the statements kept per invocation, RingBufSize
	// the ring buffer's bytes (a power-of-two number of pages); zero picks
	// the defaults.
	MaxRecords  int
	RingBufSize int
	// MaxTraces, when positive, stops tracing after that many committed
	// traces, as Ctrl-C does.
	MaxTraces int
	// Floor attaches empty programs at the same probes instead of
	// tracing, to measure what any uprobe tracer pays there.
	Floor bool
	// SingleUprobes attaches one uprobe per probe point even where the
	// kernel offers uprobe_multi links (see session.Options).
	SingleUprobes bool
	// Backtrace copies the user stack at each invocation's entry and
	// prints, after each trace's why: line, the chain of callers
	// unwound from it (package backtrace).
	Backtrace bool
	// Ready, if set, is told once the probes are attached.
	Ready  func()
	Stdin  io.Reader // the command's stdio (defaults: os.Stdin etc.)
	Stdout io.Writer
	Stderr io.Writer
	// Diag receives whythefail's own notes (variables that will print
	// ?); default Stderr. Notes says how many.
	Diag  io.Writer
	Notes Notes

	// terminal says the output is a terminal when Run writes to a
	// buffer first (RunFollow), for grouping.
	terminal bool
}

// gateEnv marks a whythefail process started as the -c command's gate: it
// waits until the probes are attached, then execs the command, so that the
// traced process keeps its pid and nothing it does before is missed.
const gateEnv = "WHYTHEFAIL_EXEC_GATE"

// MaybeGate turns the current process into the gate for a -c command when
// it was started as one; it returns only if it was not.
func MaybeGate() {
	cmd, ok := os.LookupEnv(gateEnv)
	if !ok {
		return
	}
	os.Unsetenv(gateEnv)
	gate := os.NewFile(3, "gate")
	buf := make([]byte, 1)
	n, _ := gate.Read(buf)
	gate.Close()
	if n != 1 || buf[0] != 'g' {
		os.Exit(127) // whythefail gave up before the probes were attached
	}
	err := syscall.Exec("/bin/sh", []string{"sh", "-c", cmd}, os.Environ())
	fmt.Fprintf(os.Stderr, "whythefail: running %q: %v\n", cmd, err)
	os.Exit(127)
}

// AbortStatus is what Run returns after a second interrupt: the shell's
// status for a process that SIGINT ended.
const AbortStatus = 128 + int(syscall.SIGINT)

// Run attaches the job's probes to the chosen processes, prints each
// committed trace as it arrives and the statistics at the end. It returns
// the -c command's exit status (0 otherwise).
//
// The first SIGINT, SIGTERM or SIGHUP (or ctx ending) detaches every probe,
// prints the traces already committed and the statistics. A second one, or
// one that comes once Run is finishing anyway (the -c command ended), stops
// the printing: Run returns AbortStatus as soon as the probes are detached,
// without the remaining traces or the statistics. One more gets the
// signal's default action; the kernel removes what is left as the process
// exits.
func (j *Job) Run(ctx context.Context, out io.Writer, o RunOptions) (status int, err error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	// abort ends with the second signal; the session stops delivering
	// then (it outlives ctx so that the first signal drains it).
	abortCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		for {
			select {
			case <-sigs:
				if ctx.Err() == nil {
					stop()
					continue
				}
				signal.Stop(sigs)
				abort()
			case <-abortCtx.Done():
			}
			return
		}
	}()

	if err := checkPrivileges(); err != nil {
		return 0, err
	}
	if j.Plan.Attach == target.AttachUprobe {
		if err := checkUprobes(); err != nil {
			return 0, err
		}
	} else if err := haveKprobes(); err != nil {
		return 0, noKprobes(err)
	}
	sopts := session.Options{MaxRecords: cmp.Or(o.MaxRecords, j.limits.MaxRecords), RingBufSize: cmp.Or(o.RingBufSize, j.limits.RingBufSize), SingleUprobes: o.SingleUprobes}
	var child *exec.Cmd
	var release *os.File
	var watch *exitWatch // -x
	switch {
	case o.Command != "":
		self, err := os.Executable()
		if err != nil {
			return 0, fmt.Errorf("finding whythefail's own executable to start %q: %w", o.Command, err)
		}
		r, w, err := os.Pipe()
		if err != nil {
			return 0, err
		}
		child = exec.Command(self)
		child.Env = append(os.Environ(), gateEnv+"="+o.Command)
		child.ExtraFiles = []*os.File{r}
		child.Stdin, child.Stdout, child.Stderr = orStd(o.Stdin, os.Stdin), orStdW(o.Stdout, os.Stdout), orStdW(o.Stderr, os.Stderr)
		if err := child.Start(); err != nil {
			r.Close()
			w.Close()
			return 0, fmt.Errorf("starting %q: %w", o.Command, err)
		}
		r.Close()
		release = w
		defer func() {
			if release != nil { // not released: the command must not run untraced
				release.Close()
				child.Wait()
			}
		}()
		sopts.PIDs = []int{child.Process.Pid}
		timing.Mark("gate process started")
	case o.PID != 0:
		w, err := watchExit(o.PID)
		if err != nil {
			return 0, fmt.Errorf("process %d: %v (is the pid right?)", o.PID, err)
		}
		defer w.close()
		watch = w
		sopts.PIDs = []int{o.PID}
	default:
		sopts.TraceAll = true
	}

	if o.Floor {
		status, err := j.runFloor(ctx, child, release)
		release = nil
		return status, err
	}
	// The session must not stop delivering on the first signal: Run
	// drains it after detaching, so every committed trace is printed or
	// counted. The second signal abandons the traces not yet printed.
	plan := j.Plan
	var unwinder *backtrace.Unwinder
	if o.Backtrace {
		if plan.Space != target.UserSpace {
			return 0, errors.New("--backtrace unwinds user stacks only: kernel targets are not supported yet")
		}
		plan.Stack = bpfgen.DefaultStack
		unwinder = backtrace.NewUnwinder(j.targetOpts)
		defer unwinder.Close()
	}
	sess, err := session.Start(abortCtx, plan, sopts)
	var fe *session.FexitError
	if errors.As(err, &fe) {
		// The kernel refused fexit at this function: a kretprobe.
		sopts.NoFexit = true
		sess, err = session.Start(abortCtx, plan, sopts)
		if err == nil && o.Notes == NotesVerbose {
			diag := o.Diag
			if diag == nil {
				diag = orStdW(o.Stderr, os.Stderr)
			}
			fmt.Fprintf(diag, "whythefail: note: the return probe is a kretprobe: %v\n", fe)
		}
	}
	if err != nil {
		var ae *session.AttachError
		if j.Plan.Attach == target.AttachKprobe && errors.As(err, &ae) && readFtraceFunctions() == nil {
			return 0, fmt.Errorf("%w (the kernel refused the kprobe: with tracefs mounted at /sys/kernel/tracing, whythefail names notrace functions, which kprobe events refuse, before attaching)", err)
		}
		return 0, explainStart(err)
	}
	if ctx.Err() != nil {
		// Interrupted while attaching: never start the command untraced.
		sess.Close()
		return 0, ctx.Err()
	}
	diag := o.Diag
	if diag == nil {
		diag = orStdW(o.Stderr, os.Stderr)
	}
	if o.Notes != NotesQuiet {
		for _, n := range sess.Notes() {
			fmt.Fprintf(diag, "whythefail: note: %s\n", n)
		}
	}
	for _, n := range j.variableNotes(sess.Warnings(), o.Notes) {
		fmt.Fprintf(diag, "whythefail: note: %s\n", n)
	}
	if o.Notes != NotesQuiet {
		fmt.Fprintf(diag, "whythefail: %d probes attached to %s (%s)\n", sess.Probes(), j.Plan.Binary, j.Header.Function)
	}

	newWriter := func(j *Job) traceWriter {
		if o.JSON {
			return &report.JSON{W: out, H: j.Header, Stmts: j.Stmts, Verdict: j.Verdict, Backtrace: unwinder, Follow: j.Follow, Origin: j.Origin}
		}
		t := &report.Text{W: out, H: j.Header, Stmts: j.Stmts, Source: o.Source, Annotate: o.Annotate, Verdict: j.Verdict, Backtrace: unwinder, Follow: j.Follow, Origin: j.Origin}
		if g := grouped(t, o.Group, out, o.terminal, func(n string) {
			if o.Notes != NotesQuiet {
				fmt.Fprintf(diag, "whythefail: note: %s\n", n)
			}
		}); g != nil {
			return g
		}
		return t
	}
	w := newWriter(j)
	limit := newTraceLimit(o.MaxTraces)
	// -x and system-wide --follow: the first failure that blames a call
	// places its callee's statements (swapOrigin).
	j.blamed = nil
	if j.Follow != nil && j.cfg.Follow && child == nil && j.cfg.Origin == nil {
		j.blamed = make(chan struct{})
	}
	printed := printTraces(abortCtx, j, sess, w, limit)

	if o.Ready != nil {
		o.Ready()
	}
	done := make(chan struct{})
	if child != nil {
		if _, err := release.Write([]byte{'g'}); err != nil {
			sess.Close()
			return 0, fmt.Errorf("starting %q: %w", o.Command, err)
		}
		release.Close()
		release = nil
		timing.Mark("command released")
		go func() {
			child.Wait()
			close(done)
		}()
	} else if watch != nil {
		stop := make(chan struct{})
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			watch.wait(done, stop)
		}()
		// The watch holds the pidfd: it ends before Run closes it.
		defer func() {
			close(stop)
			<-stopped
		}()
	}
	var prior session.Stats // of the sessions the origin's replaced
	var swapped *Job
	cur, curPlan, blamed := j, plan, j.blamed
wait:
	for {
		select {
		case <-done:
		case <-ctx.Done():
		case <-limit.reached: // --max-traces: stop as on Ctrl-C
		case <-blamed:
			// The first failure blamed a call, or, its calls
			// followed since, a failure came from below it.
			blamed = nil
			b := cur.blame
			if cur.cfg.Origin != nil {
				b = cur.deeper
			}
			next, err := cur.swapOrigin(abortCtx, *b, curPlan, sopts, sess, printed, diag, o.Notes)
			if err != nil {
				return 0, err
			}
			if next != nil {
				prior = addStats(prior, next.prior)
				sess, w, curPlan = next.sess, newWriter(next.job), next.plan
				if next.job != cur {
					swapped, cur, blamed = next.job, next.job, next.job.blamed
				}
				printed = printTraces(abortCtx, next.job, sess, w, limit)
			}
			continue wait
		}
		break
	}
	j.cut = ctx.Err() != nil || limit.done()
	stop() // finishing: a signal from now on aborts
	timing.Mark("command ran (or interrupted)")
	derr := detach(sess, diag)
	timing.Mark("probes detached")
	cerr := errors.Join(derr, sess.Close())
	timing.Mark("session closed")
	// Not waiting for the printer after a second signal: it may be
	// blocked on a full pipe (a pager), which is why the user pressed
	// Ctrl-C again.
	select {
	case <-printed:
	case <-abortCtx.Done():
	}
	if abortCtx.Err() != nil {
		fmt.Fprintln(diag, "whythefail: interrupted while finishing: probes detached; the remaining traces and the statistics are not printed")
		return AbortStatus, cerr
	}
	st, _ := sess.Stats()
	st = addStats(prior, st)
	if swapped != nil && swapped.recurred == 0 && swapped.Origin != nil {
		fmt.Fprintf(diag, "whythefail: the failure did not recur once %s's statements were placed: no trace shows them\n", swapped.Origin.Function)
	}
	if st.ErrnoUnknown > 0 && j.errnoMiss != "" && o.Notes != NotesQuiet {
		fmt.Fprintf(diag, "whythefail: note: errno() was not found in %d invocation(s), where it printed ? and conditions on it were false: %s\n", st.ErrnoUnknown, j.errnoMiss)
	}
	if o.Notes != NotesQuiet {
		for _, n := range kernelMissNotes(j, st, sess.ReturnProbe()) {
			fmt.Fprintf(diag, "whythefail: note: %s\n", n)
		}
	}
	w.Stats(st)
	untraced := ""
	if child != nil {
		select {
		case <-done:
			status = exitStatus(child)
		default:
			// Interrupted: the command goes on untraced, as with stap -c.
			untraced = "; the command goes on untraced"
		}
	}
	if limit.done() && o.Notes != NotesQuiet {
		fmt.Fprintf(diag, "whythefail: note: stopped after %s (--max-traces): probes detached%s\n", plural(o.MaxTraces, "trace", "traces"), untraced)
	}
	return status, cerr
}

// detach removes the session's probes, saying so when the kernel takes
// more than a second over it.
func detach(sess *session.Session, diag io.Writer) error {
	slow := time.AfterFunc(time.Second, func() {
		if r := sess.ReturnProbe(); r == "fexit" || r == "kretprobe" {
			fmt.Fprintf(diag, "whythefail: detaching %d kprobes (taking over a second)...\n", sess.Probes())
		} else if sess.Multi() {
			fmt.Fprintf(diag, "whythefail: detaching %d probes (taking over a second)...\n", sess.Probes())
		} else {
			fmt.Fprintf(diag, "whythefail: detaching %d single uprobes, one kernel wait each...\n", sess.Probes())
		}
	})
	defer slow.Stop()
	return sess.Detach()
}

func orStd(r io.Reader, d *os.File) io.Reader {
	if r != nil {
		return r
	}
	return d
}

func orStdW(w io.Writer, d *os.File) io.Writer {
	if w != nil {
		return w
	}
	return d
}

// checkPrivileges says which capability is missing, before the kernel
// answers with a bare EPERM.
func checkPrivileges() error {
	if os.Geteuid() == 0 {
		return nil
	}
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	var eff uint64
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			eff, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	const capSysAdmin, capPerfmon, capBPF = 21, 38, 39
	has := func(c uint) bool { return eff&(1<<c) != 0 }
	var missing []string
	if !has(capBPF) && !has(capSysAdmin) {
		missing = append(missing, "CAP_BPF")
	}
	if !has(capPerfmon) && !has(capSysAdmin) {
		missing = append(missing, "CAP_PERFMON")
	}
	if len(missing) > 0 {
		return fmt.Errorf("tracing needs root, or the capabilities CAP_BPF and CAP_PERFMON; this process lacks %s (run it with sudo)", strings.Join(missing, " and "))
	}
	return nil
}

// UprobePMU is where the kernel lists its uprobe event source; a variable so
// that tests can point it at a kernel without one.
var UprobePMU = "/sys/bus/event_source/devices/uprobe"

// checkUprobes says plainly when the kernel cannot place uprobes at all.
func checkUprobes() error {
	if _, err := os.Stat(UprobePMU); err != nil {
		return fmt.Errorf("this kernel has no uprobe support (%s is missing): tracing user space needs a kernel built with CONFIG_UPROBES and CONFIG_UPROBE_EVENTS", UprobePMU)
	}
	return nil
}

// explainStart turns kernel refusals into advice.
func explainStart(err error) error {
	var ae *session.AttachError
	switch {
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w (tracing needs root, or CAP_BPF and CAP_PERFMON)", err)
	case errors.Is(err, os.ErrNotExist) && errors.As(err, &ae) && ae.Kind == target.AttachUprobe:
		return fmt.Errorf("%w (does this kernel have CONFIG_UPROBE_EVENTS?)", err)
	}
	return err
}

// runFloor attaches empty programs at the job's probes, releases the -c
// command and waits for it (or for a signal): a benchmark's floor.
func (j *Job) runFloor(ctx context.Context, child *exec.Cmd, release *os.File) (int, error) {
	f, err := session.AttachFloor(j.Plan)
	if err != nil {
		return 0, explainStart(err)
	}
	defer f.Close()
	if child == nil {
		<-ctx.Done()
		return 0, nil
	}
	if _, err := release.Write([]byte{'g'}); err != nil {
		return 0, err
	}
	release.Close()
	done := make(chan struct{})
	go func() { child.Wait(); close(done) }()
	select {
	case <-done:
		return exitStatus(child), nil
	case <-ctx.Done():
		return 0, nil
	}
}

// exitStatus is a finished command's status as a shell reports it:
// 128+N when signal N killed it.
func exitStatus(child *exec.Cmd) int {
	if ws, ok := child.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return child.ProcessState.ExitCode()
}
