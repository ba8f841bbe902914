package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/internal/timing"
	"github.com/whythefail/whythefail/target"
)

// Plan is what to trace in one function of one binary: the generator's
// description of the function (bpfgen.Spec) and where to attach it. The
// Spec's run limits (TraceAll, MaxRecords, MaxInvocations, RingBufSize,
// MaxTargets) come from Options and its kernel facts (Multi, FaultIn,
// Errno's TaskFSBase) from the running kernel: Start sets them, whatever
// the Plan holds. Errno, when errno() is used, says where the traced
// processes keep errno.
type Plan struct {
	bpfgen.Spec
	Binary string // path of the executable or shared library
	// Attach is how the target is probed (target.Binary's Attach): the
	// kind of probe placed in its code. Spec.Space is the memory its
	// variables are read from. The zero values mean uprobes and user space.
	Attach target.AttachKind

	// For kprobes (Attach is target.AttachKprobe): Spec.EntrySymbol is
	// the traced function's symbol, where the entry kprobe and the
	// return probe go (EntryOffset is then unused); each statement's
	// kprobe goes to its Stmt.Symbol plus Stmt.FileOffset. Code holds,
	// for every symbol named, the code bytes from the symbol's start (at
	// least up to its last statement's instruction): Start decodes them
	// and refuses an offset that does not start an instruction.
	Code map[string][]byte
}

// Options say which processes to trace and size the buffers.
type Options struct {
	// PIDs are the processes (tgids) to trace; processes they fork later
	// are traced too. Ignored with TraceAll.
	PIDs []int
	// TraceAll traces every process that runs the binary.
	TraceAll bool

	// Limits, see bpfgen.Spec; zero picks the default.
	MaxRecords     int
	MaxInvocations int
	RingBufSize    int

	// TraceBuffer is the capacity of the Traces channel (default 64).
	TraceBuffer int

	// SingleUprobes attaches one uprobe per probe point even where the
	// kernel offers uprobe_multi links (which Start uses when a feature
	// probe finds them: they detach in one wait rather than one per
	// probe). For tests of the fallback, and kernels older than 6.6 take
	// this path anyway.
	SingleUprobes bool

	// NoFaultIn reads strings only from pages already in memory, as
	// when the kernel has no sleepable uprobe programs
	// (HaveSleepableUprobes); otherwise the session faults pages in
	// where the kernel can.
	NoFaultIn bool

	// KretprobeMaxActive bounds the calls of a kernel function the return
	// probe follows at once (kprobe targets); zero means
	// KretprobeMaxActive. Calls beyond it are counted in
	// Stats.ReturnMisses.
	KretprobeMaxActive int

	// NoFexit uses a kretprobe for a kernel function's return even
	// where the kernel attaches fexit programs to it (HaveFexit), for
	// tests of the fallback.
	NoFexit bool
}

// Stats are the session's counters, summed over CPUs: the one statistics
// type, which report prints as it is (report.Stats), JSON names included.
type Stats struct {
	Entries    uint64 `json:"entry"`     // invocations started (buffer created)
	ExitHit    uint64 `json:"exit_hit"`  // invocations whose condition held: committed
	ExitMiss   uint64 `json:"exit_miss"` // invocations whose condition failed: discarded
	Statements uint64 `json:"statement"` // statement records written
	// Losses, printed only when non-zero.
	RingbufDrops  uint64 `json:"dropped_traces"`       // committed invocations lost because the ring buffer was full
	Truncations   uint64 `json:"truncated_statements"` // statement hits lost because an invocation's buffer was full
	MissingBuffer uint64 `json:"orphan_statements"`    // return hits with no live invocation; statement hits on a thread whose invocation lost its buffer (user space) or with none (kernel)
	EntryDrops    uint64 `json:"dropped_entries"`      // invocations that could not get a buffer
	DecodeErrors  uint64 `json:"undecodable_traces"`   // ring buffer samples that did not decode
	// RingBytes is how many bytes were read from the ring buffer:
	// committed traces only, never discarded ones.
	RingBytes uint64 `json:"ring_buffer_bytes"`
	// ErrnoUnknown counts invocations where errno() was in use but could
	// not be found; a note reports it, not the statistics.
	ErrnoUnknown uint64 `json:"-"`

	// ReturnMisses are calls the kretprobe did not follow (kprobe
	// targets) while the entry probe was attached: no instance was free
	// (KretprobeMaxActive), so their invocations, if traced, never
	// closed. The kernel counts the calls of every task, traced or not,
	// up to when the entry probe is gone: an upper bound of the traced
	// invocations lost. ReturnMissesUnknown says the kernel gave
	// no count (see Session.returnMisses). ProgramMisses are probe hits
	// the kernel skipped because another BPF program was running on the
	// CPU (an interrupt during one of ours): they are lost too.
	ReturnMisses        uint64 `json:"missed_returns,omitempty"`
	ReturnMissesUnknown bool   `json:"-"`
	ProgramMisses       uint64 `json:"missed_probe_hits,omitempty"`
}

// Session is a live tracing session: programs loaded and attached, traces
// flowing.
type Session struct {
	coll   *ebpf.Collection
	multi  bool       // probes attached with uprobe_multi links
	fexit  bool       // the return probe is an fexit program (kernel targets)
	all    bool       // every process that runs the binary is traced (TraceAll)
	probes int        // uprobes attached: statements, entry and return
	maps   mapsCache  // /proc/PID/maps copies, for --backtrace
	mmaps  *mmapWatch // the mappings of -c and -x processes, for --backtrace

	linksMu sync.Mutex
	tracker []link.Link // the fork tracker's raw tracepoints
	links   []link.Link // uprobes in attach order: the entry probe last

	// The kretprobe of a kprobe session, and its missed count read when
	// the entry probe went (snapReturnMisses).
	ret        link.Link
	retSymbol  string
	retSnapped bool
	retMisses  uint64
	retMissErr error
	retBase    uint64 // missed count when the entry probe was attached
	retBaseErr error

	rd     *ringbuf.Reader
	traces chan Trace
	slots  map[uint32][]bpfgen.Slot // per statement id: where its variables sit in records

	warnings []bpfgen.Warning
	notes    []string // about the whole session (errno() unavailable)

	ringBytes, decodeErrs atomic.Uint64
	abandon               chan struct{} // closed when the context ends: stop delivering
	readerDone            chan struct{}
	closeOnce             sync.Once
	closeErr              error
	final                 atomic.Pointer[Stats] // counters as Close left them
	closing               atomic.Bool
}

// kernelFacts are what generation needs to know about the running kernel.
// Nothing else in a Spec depends on it.
type kernelFacts struct {
	multi   bool                  // uprobe_multi links: one program per chunk of statements, cookies
	fexit   bool                  // kernel targets: fexit for the return instead of a kretprobe
	faultIn bool                  // sleepable uprobe programs: strings fault their pages in
	errno   *bpfgen.ErrnoLocation // Plan.Errno with task_struct's fsbase offset, nil when unknown
}

// probeKernel finds the facts of the running kernel that p and o need:
// feature probes (uprobe_multi, sleepable programs) and, when errno() is
// used, the fsbase offset in task_struct. notes say what is unavailable.
func probeKernel(p Plan, o Options) (k kernelFacts, notes []string) {
	k.multi = p.Attach == target.AttachUprobe && !o.SingleUprobes && features.HaveBPFLinkUprobeMulti() == nil
	// Sleepable programs are for uprobes only.
	k.faultIn = p.Attach == target.AttachUprobe && !o.NoFaultIn && HaveSleepableUprobes() == nil
	// fexit for a kernel function's return where the kernel allows it:
	// nothing missed.
	k.fexit = p.Attach == target.AttachKprobe && !o.NoFexit && HaveFexit(p.EntrySymbol) == nil
	k.errno, notes = locateErrno(p.Errno)
	return k, notes
}

// spec is p's blueprint under o's limits and the kernel facts k.
func spec(p Plan, o Options, k kernelFacts) *bpfgen.Spec {
	s := p.Spec
	s.Multi, s.FaultIn, s.Errno, s.FexitReturn = k.multi, k.faultIn, k.errno, k.fexit
	s.TraceAll = o.TraceAll
	s.MaxRecords, s.MaxInvocations, s.RingBufSize, s.MaxTargets = o.MaxRecords, o.MaxInvocations, o.RingBufSize, 0
	return &s
}

// Check generates p's programs as Start would, without the kernel: every
// error of generation that does not depend on the kernel is returned, so
// that a preparation step reports it before privileges are needed. The
// kernel facts are taken at their largest (uprobe_multi where the target
// takes it, fault-in, errno() located at a placeholder offset): no error
// site of bpfgen.Generate depends on them but the offset's alignment,
// which only the kernel can get wrong. o.TraceAll is ignored (the target
// filter generates more). The error reads as Start's would.
func Check(p Plan, o Options) error {
	k := kernelFacts{multi: p.Attach == target.AttachUprobe && !o.SingleUprobes, faultIn: p.Attach == target.AttachUprobe && !o.NoFaultIn, errno: p.Errno}
	if p.Errno != nil && p.Errno.Mode != bpfgen.ErrnoUnknown {
		loc := *p.Errno
		loc.TaskFSBase = checkTaskFSBase
		k.errno = &loc
	}
	o.TraceAll = false
	if _, err := bpfgen.Generate(spec(p, o, k)); err != nil {
		return fmt.Errorf("generating BPF programs: %w", err)
	}
	return nil
}

// checkTaskFSBase stands for task_struct's fsbase offset in Check: any
// aligned offset generates the same instructions but for one immediate.
const checkTaskFSBase = 8

// Start generates, loads and attaches the programs for p. The returned
// session delivers traces until Close, or until ctx ends.
func Start(ctx context.Context, p Plan, o Options) (_ *Session, err error) {
	if !o.TraceAll && len(o.PIDs) == 0 {
		return nil, errors.New("no process to trace: give process ids or trace all processes")
	}
	kernel := p.Attach == target.AttachKprobe
	if kernel {
		if err := HaveKprobes(); err != nil {
			return nil, err
		}
		if err := checkKprobeSites(p); err != nil {
			return nil, err
		}
		if err := checkKprobeSymbols(p); err != nil {
			return nil, err
		}
	}
	k, errnoNote := probeKernel(p, o)
	multi, fexit := k.multi, k.fexit
	timing.Mark("feature probes (uprobe_multi, sleepable), errno offset")
	gen, err := bpfgen.Generate(spec(p, o, k))
	if err != nil {
		return nil, fmt.Errorf("generating BPF programs: %w", err)
	}
	timing.Mark("generating the BPF programs")
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("lifting the memlock limit: %w", err)
	}
	s := &Session{
		fexit:      fexit,
		multi:      multi,
		all:        o.TraceAll,
		warnings:   gen.Warnings,
		notes:      errnoNote,
		slots:      map[uint32][]bpfgen.Slot{},
		abandon:    make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	for _, st := range p.Stmts {
		s.slots[st.ID] = bpfgen.Slots(st.Vars)
	}
	coll, err := loadCollection(gen.Collection)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading BPF programs (verifier log: %+v): %w", ve, err)
		}
		return nil, fmt.Errorf("loading BPF programs: %w", err)
	}
	s.coll = coll
	timing.Mark("loading the BPF programs (verifier)")
	defer func() {
		if err != nil {
			s.detach()
			s.coll.Close()
			if s.mmaps != nil {
				s.mmaps.close()
			}
		}
	}()

	if !o.TraceAll {
		targets := coll.Maps[bpfgen.MapTargets]
		for _, pid := range o.PIDs {
			if err := targets.Put(uint32(pid), uint32(1)); err != nil {
				return nil, fmt.Errorf("adding process %d to the targets: %w", pid, err)
			}
		}
		// Exits first: a pending task must never exit unseen while
		// forks are followed.
		for _, tp := range []struct{ name, prog string }{{bpfgen.RawTPExit, bpfgen.ProgExit}, {bpfgen.RawTPFork, bpfgen.ProgFork}} {
			l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp.name, Program: coll.Programs[tp.prog]})
			if err != nil {
				return nil, fmt.Errorf("attaching the fork tracker to the raw tracepoint %s: %w", tp.name, err)
			}
			s.tracker = append(s.tracker, l)
		}
	}
	timing.Mark("fork tracker attached")
	if p.Stack > 0 && !o.TraceAll {
		if s.mmaps, err = watchMmaps(o.PIDs); err != nil {
			return nil, err
		}
	}
	if err := s.attach(p, o, gen); err != nil {
		return nil, err
	}
	timing.Mark("probes attached")

	s.rd, err = ringbuf.NewReader(coll.Maps[bpfgen.MapEvents])
	if err != nil {
		return nil, fmt.Errorf("opening the ring buffer: %w", err)
	}
	n := o.TraceBuffer
	if n <= 0 {
		n = 64
	}
	s.traces = make(chan Trace, n)
	go s.read()
	go func() {
		select {
		case <-ctx.Done():
			close(s.abandon)
			s.Close()
		case <-s.readerDone:
		}
	}()
	return s, nil
}

// AttachError is a failure to place probes of one kind in the kernel, such
// as a kernel without uprobe events (ENOENT). It reads as the error it
// wraps; callers tell it from other failures with errors.As.
type AttachError struct {
	Kind target.AttachKind
	Err  error
}

func (e *AttachError) Error() string { return e.Err.Error() }
func (e *AttachError) Unwrap() error { return e.Err }

// attach places the probes, of the kind the target takes (Plan.Attach).
func (s *Session) attach(p Plan, o Options, gen *bpfgen.Generated) error {
	switch p.Attach {
	case target.AttachUprobe:
		if err := s.attachUprobes(p, gen); err != nil {
			return &AttachError{Kind: p.Attach, Err: err}
		}
		return nil
	case target.AttachKprobe:
		if err := s.attachKprobes(p, o, gen); err != nil {
			return &AttachError{Kind: p.Attach, Err: err}
		}
		return nil
	default:
		return fmt.Errorf("attaching %s probes is not supported", p.Attach)
	}
}

// attachUprobes places the uprobes. The return probe goes first and the
// entry probe last, so that every invocation that gets a buffer also gets
// its statements and return; detach removes them in the reverse order.
func (s *Session) attachUprobes(p Plan, gen *bpfgen.Generated) error {
	ex, err := link.OpenExecutable(p.Binary)
	if err != nil {
		return fmt.Errorf("opening %s for uprobes: %w", p.Binary, err)
	}
	// Statements in other files (Stmt.Binary: --follow's probes in
	// shared libraries) are attached in theirs.
	exes := map[string]*link.Executable{"": ex}
	exOf := func(st *bpfgen.Stmt) (*link.Executable, string, error) {
		if e, ok := exes[st.Binary]; ok {
			return e, binName(p, st), nil
		}
		e, err := link.OpenExecutable(st.Binary)
		if err != nil {
			return nil, st.Binary, fmt.Errorf("opening %s for uprobes: %w", st.Binary, err)
		}
		exes[st.Binary] = e
		return e, st.Binary, nil
	}
	prog := s.coll.Programs
	if s.multi {
		one := &link.UprobeMultiOptions{Addresses: []uint64{p.EntryOffset}}
		l, err := ex.UretprobeMulti(nil, prog[bpfgen.ProgReturn], one)
		if err != nil {
			return fmt.Errorf("attaching the return probe at %s offset %#x: %w", p.Binary, p.EntryOffset, err)
		}
		s.links = append(s.links, l)
		s.probes++
		// One link per statements program and file, with the
		// statement's index as the cookie.
		type group struct{ name, bin string }
		var groups []group
		offs, cookies := map[group][]uint64{}, map[group][]uint64{}
		for i, name := range gen.StmtPrograms {
			if name == "" {
				continue
			}
			g := group{name, p.Stmts[i].Binary}
			if offs[g] == nil {
				groups = append(groups, g)
			}
			offs[g] = append(offs[g], p.Stmts[i].FileOffset)
			cookies[g] = append(cookies[g], uint64(i))
		}
		for _, g := range groups {
			e, bin, err := exOf(&bpfgen.Stmt{Binary: g.bin})
			if err != nil {
				return err
			}
			l, err := e.UprobeMulti(nil, prog[g.name], &link.UprobeMultiOptions{Addresses: offs[g], Cookies: cookies[g]})
			if err != nil {
				return fmt.Errorf("attaching %d statement probes in %s: %w", len(offs[g]), bin, err)
			}
			s.links = append(s.links, l)
			s.probes += len(offs[g])
		}
		l, err = ex.UprobeMulti(nil, prog[bpfgen.ProgEntry], one)
		if err != nil {
			return fmt.Errorf("attaching the entry probe at %s offset %#x: %w", p.Binary, p.EntryOffset, err)
		}
		s.links = append(s.links, l)
		s.probes++
		return nil
	}
	l, err := ex.Uretprobe("", prog[bpfgen.ProgReturn], &link.UprobeOptions{Address: p.EntryOffset})
	if err != nil {
		return fmt.Errorf("attaching the return probe at %s offset %#x: %w", p.Binary, p.EntryOffset, err)
	}
	s.links = append(s.links, l)
	s.probes++
	for i, name := range gen.StmtPrograms {
		if name == "" {
			continue
		}
		st := p.Stmts[i]
		e, bin, err := exOf(&st)
		if err != nil {
			return err
		}
		l, err := e.Uprobe("", prog[name], &link.UprobeOptions{Address: st.FileOffset})
		if err != nil {
			return fmt.Errorf("attaching statement %d at %s offset %#x: %w", st.ID, bin, st.FileOffset, err)
		}
		s.links = append(s.links, l)
		s.probes++
	}
	l, err = ex.Uprobe("", prog[bpfgen.ProgEntry], &link.UprobeOptions{Address: p.EntryOffset})
	if err != nil {
		return fmt.Errorf("attaching the entry probe at %s offset %#x: %w", p.Binary, p.EntryOffset, err)
	}
	s.links = append(s.links, l)
	s.probes++
	return nil
}

// binName is the file a statement's uprobe goes to.
func binName(p Plan, st *bpfgen.Stmt) string {
	if st.Binary != "" {
		return st.Binary
	}
	return p.Binary
}

// Probes is the number of uprobes attached: one per statement probe point,
// plus the entry and the return probe.
func (s *Session) Probes() int { return s.probes }

// Multi reports whether the uprobes are in uprobe_multi links, which detach
// in one wait each; otherwise each single uprobe waits for the kernel on
// its own (tens of milliseconds each).
func (s *Session) Multi() bool { return s.multi }

// Warnings lists the variables that will print as unavailable, and why.
func (s *Session) Warnings() []bpfgen.Warning { return s.warnings }

// Notes are what the user should know about the whole session, such as
// errno() being unavailable and why.
func (s *Session) Notes() []string { return s.notes }

// locateErrno completes the plan's errno location with the thread
// pointer's offset in this kernel's task_struct; when that cannot be
// found, errno() is unavailable and the note says why.
func locateErrno(x *bpfgen.ErrnoLocation) (*bpfgen.ErrnoLocation, []string) {
	if x == nil || x.Mode == bpfgen.ErrnoUnknown {
		return x, nil
	}
	off, err := TaskFSBaseOffset()
	if err != nil {
		return nil, []string{fmt.Sprintf("errno() prints as ? and conditions on it are false: the thread pointer cannot be read in this kernel: %v", err)}
	}
	loc := *x
	loc.TaskFSBase = off
	return &loc, nil
}

// Traces delivers committed traces. It is closed after Close has delivered
// what was left in the ring buffer, so keep receiving until then.
func (s *Session) Traces() <-chan Trace { return s.traces }

// read decodes ring buffer samples until the reader is closed or drained.
func (s *Session) read() {
	defer close(s.readerDone)
	defer close(s.traces)
	var rec ringbuf.Record
	for {
		if err := s.rd.ReadInto(&rec); err != nil {
			if errors.Is(err, ringbuf.ErrFlushed) && !s.closing.Load() {
				continue
			}
			// Closed, or drained after Close flushed it.
			return
		}
		s.ringBytes.Add(uint64(len(rec.RawSample)))
		if len(rec.RawSample) == bpfgen.AnnounceSize {
			s.maps.read(uint32(binary.LittleEndian.Uint64(rec.RawSample)))
			continue
		}
		t, err := DecodeSlots(rec.RawSample, s.slots)
		if err != nil {
			s.decodeErrs.Add(1)
			continue
		}
		if t.Stack != nil {
			t.Stack.Maps = s.mapsOf(t.PID)
		}
		select {
		case s.traces <- *t:
		case <-s.abandon:
			return
		}
	}
}

// Stats reads the counters. After Close it returns their final values.
func (s *Session) Stats() (Stats, error) {
	if f := s.final.Load(); f != nil {
		st := *f
		st.RingBytes = s.ringBytes.Load()
		return st, nil
	}
	progMisses, err := s.programMisses()
	if err != nil {
		return Stats{}, err
	}
	s.linksMu.Lock()
	retMisses, retErr := s.retMisses, s.retMissErr
	if s.ret != nil && !s.retSnapped {
		retMisses, retErr = s.newReturnMisses()
	}
	s.linksMu.Unlock()
	var sum [bpfgen.NumStats]uint64
	m := s.coll.Maps[bpfgen.MapStats]
	for i := range sum {
		var per []uint64
		if err := m.Lookup(uint32(i), &per); err != nil {
			return Stats{}, fmt.Errorf("reading counter %v: %w", bpfgen.Stat(i), err)
		}
		for _, v := range per {
			sum[i] += v
		}
	}
	return Stats{
		Entries:       sum[bpfgen.StatEntries],
		ExitHit:       sum[bpfgen.StatExitHit],
		ExitMiss:      sum[bpfgen.StatExitMiss],
		Statements:    sum[bpfgen.StatStatements],
		RingbufDrops:  sum[bpfgen.StatRingbufDrops],
		Truncations:   sum[bpfgen.StatTruncations],
		MissingBuffer: sum[bpfgen.StatMissingBuffer],
		EntryDrops:    sum[bpfgen.StatEntryDrops],
		ErrnoUnknown:  sum[bpfgen.StatErrnoUnknown],
		RingBytes:     s.ringBytes.Load(),
		DecodeErrors:  s.decodeErrs.Load(),

		ReturnMisses:        retMisses,
		ReturnMissesUnknown: retErr != nil,
		ProgramMisses:       progMisses,
	}, nil
}

// Detach removes every probe; nothing is traced afterwards. Close does it
// too: calling Detach first lets the caller see how long the kernel takes.
func (s *Session) Detach() error { return s.detach() }

// detachWorkers bounds the links closed at once. The kernel waits for
// a grace period in each close; concurrent closes share much of the wait
// (measured here: 114 single uprobes close in 6.7 s with 8 workers, 11 s one
// by one; two uprobe_multi links in 16-28 ms instead of 56-72 ms).
const detachWorkers = 16

// detach removes the entry probe first, so that no invocation starts
// while the others go; then the statements and the return probe together;
// then the fork tracker. When no traced process is left (the -c command
// and everything it started have exited), no probe can fire for one, so
// the order cannot show and every link goes at once: one kernel wait
// instead of two.
func (s *Session) detach() error {
	s.linksMu.Lock()
	defer s.linksMu.Unlock()
	var errs []error
	closeAll := func(links []link.Link) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		next := make(chan link.Link)
		for range min(detachWorkers, len(links)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for l := range next {
					if err := l.Close(); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("detaching probe: %w", err))
						mu.Unlock()
					}
				}
			}()
		}
		for _, l := range links {
			next <- l
		}
		close(next)
		wg.Wait()
	}
	if len(s.links) > 0 && s.noneTraced() {
		s.snapReturnMisses()
		closeAll(append(s.links, s.tracker...))
		timing.Mark(fmt.Sprintf("every probe detached at once (%d links): no traced process is left", len(s.links)+len(s.tracker)))
		s.links, s.tracker = nil, nil
		return errors.Join(errs...)
	}
	if n := len(s.links); n > 0 {
		closeAll(s.links[n-1:])
		timing.Mark("entry probe detached")
		s.snapReturnMisses()
		closeAll(s.links[:n-1])
		timing.Mark(fmt.Sprintf("statement and return probes detached (%d links)", n-1))
	}
	if len(s.tracker) > 0 {
		closeAll(s.tracker)
		timing.Mark("fork tracker detached")
	}
	s.links, s.tracker = nil, nil
	return errors.Join(errs...)
}

// snapReturnMisses reads the kretprobe's missed count while it is still
// attached, once no invocation can start: what Stats reports afterwards.
// The caller holds linksMu.
func (s *Session) snapReturnMisses() {
	if s.ret == nil || s.retSnapped {
		return
	}
	s.retMisses, s.retMissErr = s.newReturnMisses()
	s.retSnapped = true
}

// noneTraced reports whether no traced process is alive, so that none
// can reach a probe: every target's tgid has exited (and been reaped),
// and no task a target created is pending, its tgid not yet a target.
// The targets are read again after the pending tasks, for a task promoted
// meanwhile. Anything uncertain (a map that cannot be read, a tgid reused
// by another process) answers false, which only costs time.
func (s *Session) noneTraced() bool {
	if s.all {
		return false
	}
	seen := map[uint32]bool{}
	newTargetAlive := func() (bool, bool) {
		var pid, v uint32
		added := false
		it := s.coll.Maps[bpfgen.MapTargets].Iterate()
		for it.Next(&pid, &v) {
			if seen[pid] {
				continue
			}
			seen[pid], added = true, true
			if err := unix.Kill(int(pid), 0); !errors.Is(err, unix.ESRCH) {
				return true, added
			}
		}
		return it.Err() != nil, added
	}
	if alive, _ := newTargetAlive(); alive {
		return false
	}
	var task uint64
	var v uint32
	it := s.coll.Maps[bpfgen.MapPending].Iterate()
	if it.Next(&task, &v) || it.Err() != nil {
		return false
	}
	alive, added := newTargetAlive()
	return !alive && !added
}

// Close detaches every probe, delivers the traces still in the ring buffer
// (so Close blocks while nobody receives from Traces, unless the context
// has ended), and frees the programs and maps. Stats keeps answering with
// the final counters.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		errs := []error{s.detach()}
		// Read what is left, then stop: after a flush the reader gets
		// the pending samples and then ErrFlushed.
		s.closing.Store(true)
		if err := s.rd.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("flushing the ring buffer: %w", err))
			s.rd.Close()
		}
		<-s.readerDone
		if s.mmaps != nil {
			s.mmaps.close()
		}
		st, err := s.Stats()
		errs = append(errs, err, s.rd.Close())
		s.final.Store(&st)
		s.coll.Close()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
