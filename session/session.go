package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/whythefail/whythefail/bpfgen"
)

// Plan is what to trace in one function of one binary.
type Plan struct {
	Binary      string // path of the executable or shared library
	Entry       uint64 // file offset of the function's first instruction
	EntryPC     uint64 // its link-time address (globals in Cond are placed from it)
	RetSize     int    // size of the return type in bytes (0 for void)
	RetUnsigned bool   // zero-extend rather than sign-extend the return value
	Stmts       []bpfgen.Stmt
	Cond        bpfgen.Cond // nil: commit every invocation
	// Errno, when errno() is used, says where the traced processes keep
	// errno; Start adds the kernel's task_struct offset of the thread
	// pointer (TaskFSBase).
	Errno *bpfgen.ErrnoLocation
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
}

// Stats are the session's counters, summed over CPUs.
type Stats struct {
	Entries       uint64 // invocations started (buffer created)
	ExitHit       uint64 // invocations whose condition held: committed
	ExitMiss      uint64 // invocations whose condition failed: discarded
	Statements    uint64 // statement records written
	RingbufDrops  uint64 // committed invocations lost because the ring buffer was full
	Truncations   uint64 // statement hits lost because an invocation's buffer was full
	MissingBuffer uint64 // statement or return hits with no live invocation
	EntryDrops    uint64 // invocations that could not get a buffer
	ErrnoUnknown  uint64 // invocations where errno() was in use but could not be found

	RingBytes    uint64 // bytes read from the ring buffer
	DecodeErrors uint64 // ring buffer samples that did not decode
}

// Session is a live tracing session: programs loaded and attached, traces
// flowing.
type Session struct {
	coll   *ebpf.Collection
	links  []link.Link // in attach order; closed in reverse
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

// Start generates, loads and attaches the programs for p. The returned
// session delivers traces until Close, or until ctx ends.
func Start(ctx context.Context, p Plan, o Options) (_ *Session, err error) {
	if !o.TraceAll && len(o.PIDs) == 0 {
		return nil, errors.New("no process to trace: give process ids or trace all processes")
	}
	errno, errnoNote := locateErrno(p.Errno)
	spec := &bpfgen.Spec{
		EntryOffset:    p.Entry,
		EntryPC:        p.EntryPC,
		RetSize:        p.RetSize,
		RetUnsigned:    p.RetUnsigned,
		Stmts:          p.Stmts,
		Cond:           p.Cond,
		Errno:          errno,
		TraceAll:       o.TraceAll,
		MaxRecords:     o.MaxRecords,
		MaxInvocations: o.MaxInvocations,
		RingBufSize:    o.RingBufSize,
	}
	gen, err := bpfgen.Generate(spec)
	if err != nil {
		return nil, fmt.Errorf("generating BPF programs: %w", err)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("lifting the memlock limit: %w", err)
	}
	s := &Session{
		warnings:   gen.Warnings,
		notes:      errnoNote,
		slots:      map[uint32][]bpfgen.Slot{},
		abandon:    make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	for _, st := range p.Stmts {
		s.slots[st.ID] = bpfgen.Slots(st.Vars)
	}
	coll, err := ebpf.NewCollection(gen.Collection)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading BPF programs (verifier log: %+v): %w", ve, err)
		}
		return nil, fmt.Errorf("loading BPF programs: %w", err)
	}
	s.coll = coll
	defer func() {
		if err != nil {
			s.detach()
			s.coll.Close()
		}
	}()

	if !o.TraceAll {
		targets := coll.Maps[bpfgen.MapTargets]
		for _, pid := range o.PIDs {
			if err := targets.Put(uint32(pid), uint32(1)); err != nil {
				return nil, fmt.Errorf("adding process %d to the targets: %w", pid, err)
			}
		}
		l, err := link.Tracepoint("task", "task_newtask", coll.Programs[bpfgen.ProgFork], nil)
		if err != nil {
			return nil, fmt.Errorf("attaching the fork tracker to task/task_newtask: %w", err)
		}
		s.links = append(s.links, l)
	}

	ex, err := link.OpenExecutable(p.Binary)
	if err != nil {
		return nil, fmt.Errorf("opening %s for uprobes: %w", p.Binary, err)
	}
	// The return probe goes first and the entry probe last, so that every
	// invocation that gets a buffer also gets its statements and return.
	l, err := ex.Uretprobe("", coll.Programs[bpfgen.ProgReturn], &link.UprobeOptions{Address: p.Entry})
	if err != nil {
		return nil, fmt.Errorf("attaching the return probe at %s offset %#x: %w", p.Binary, p.Entry, err)
	}
	s.links = append(s.links, l)
	for i, name := range gen.StmtPrograms {
		if name == "" {
			continue
		}
		st := p.Stmts[i]
		l, err := ex.Uprobe("", coll.Programs[name], &link.UprobeOptions{Address: st.FileOffset})
		if err != nil {
			return nil, fmt.Errorf("attaching statement %d at %s offset %#x: %w", st.ID, p.Binary, st.FileOffset, err)
		}
		s.links = append(s.links, l)
	}
	l, err = ex.Uprobe("", coll.Programs[bpfgen.ProgEntry], &link.UprobeOptions{Address: p.Entry})
	if err != nil {
		return nil, fmt.Errorf("attaching the entry probe at %s offset %#x: %w", p.Binary, p.Entry, err)
	}
	s.links = append(s.links, l)

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
		t, err := DecodeSlots(rec.RawSample, s.slots)
		if err != nil {
			s.decodeErrs.Add(1)
			continue
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
	}, nil
}

// detach closes every link, newest first, so the entry probe goes before
// the statements and the return probe.
func (s *Session) detach() error {
	var errs []error
	for i := len(s.links) - 1; i >= 0; i-- {
		if err := s.links[i].Close(); err != nil {
			errs = append(errs, fmt.Errorf("detaching probe: %w", err))
		}
	}
	s.links = nil
	return errors.Join(errs...)
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
		st, err := s.Stats()
		errs = append(errs, err, s.rd.Close())
		s.final.Store(&st)
		s.coll.Close()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
