package backtrace

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/go-delve/delve/pkg/dwarf/frame"

	"github.com/whythefail/whythefail/session"
	"github.com/whythefail/whythefail/target"
	"github.com/whythefail/whythefail/target/abi"
)

// MaxFrames bounds the frames of one backtrace (inlined frames included).
const MaxFrames = 64

// Frame is one caller, innermost first: frame 0 is the traced function at
// its entry.
type Frame struct {
	// PC is the run-time address: the traced function's entry for frame
	// 0, a return address for the others. Inlined frames share the PC of
	// the frame they are inlined in.
	PC       uint64
	Binary   string // the mapped file that holds PC
	Function string // "" when neither DWARF nor a symbol names it
	File     string // "" when the DWARF has no line for PC
	Line     int
	// Inlined says the function was inlined at this place: it has no
	// stack frame of its own; File and Line are where it was executing.
	Inlined bool
}

// Backtrace is the chain of callers of one invocation.
type Backtrace struct {
	Frames []Frame
	// Stop says why the unwinding ended before the outermost frame; ""
	// when it reached a frame that says it has no caller (its return
	// address undefined, or zero).
	Stop string
}

// Unwinder unwinds stack copies, opening each binary they pass through
// once (with the options the traced binary was opened with, so separate
// debug files are found the same way).
type Unwinder struct {
	opts target.Options

	mu    sync.Mutex
	files map[string]*opened
	// names caches symbolize's answers by binary and link-time address:
	// traces repeat their callers, and naming an address of glibc takes
	// milliseconds (a walk of its unit's DIEs and line table).
	names map[nameKey][]Frame
}

type nameKey struct {
	path string
	pc   uint64
}

type opened struct {
	f   *target.File
	err error
}

// NewUnwinder returns an unwinder that opens binaries with opts.
func NewUnwinder(opts target.Options) *Unwinder {
	return &Unwinder{opts: opts, files: map[string]*opened{}, names: map[nameKey][]Frame{}}
}

// Close closes the binaries opened.
func (u *Unwinder) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, o := range u.files {
		if o.f != nil {
			o.f.Close()
		}
	}
	u.files = map[string]*opened{}
	return nil
}

func (u *Unwinder) open(path string) (*target.File, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if o, ok := u.files[path]; ok {
		return o.f, o.err
	}
	f, err := target.Open(path, u.opts)
	u.files[path] = &opened{f, err}
	return f, err
}

// Unwind recovers the chain of callers from a stack copy. It never fails:
// what it could not recover is said in Stop.
func (u *Unwinder) Unwind(st *session.Stack) *Backtrace {
	bt := &Backtrace{}
	if st == nil {
		bt.Stop = "no stack was copied"
		return bt
	}
	if st.Maps == nil {
		bt.Stop = "the process's memory map could not be read (it had exited)"
		return bt
	}
	maps, err := ParseMaps(st.Maps)
	if err != nil {
		bt.Stop = err.Error()
		return bt
	}
	regs := make(map[uint64]uint64, len(st.Regs))
	for r, v := range st.Regs {
		regs[r] = v
	}
	sp0 := st.Regs[abi.RSP]
	read := func(addr uint64) (uint64, bool) {
		if addr < sp0 || addr-sp0 > uint64(len(st.Bytes)) || addr-sp0+8 > uint64(len(st.Bytes)) {
			return 0, false
		}
		return binary.LittleEndian.Uint64(st.Bytes[addr-sp0:]), true
	}
	pc := regs[abi.RIP]
	for depth := 0; ; depth++ {
		if len(bt.Frames) >= MaxFrames {
			bt.Stop = fmt.Sprintf("stopped after %d frames", MaxFrames)
			return bt
		}
		// A return address is the instruction after the call: the call
		// itself, one byte before, names the caller's line and rules.
		look := pc
		if depth > 0 {
			look = pc - 1
		}
		m, ok := find(maps, look)
		if !ok || !m.Exec || m.Path == "" || m.Path[0] != '/' {
			bt.Frames = append(bt.Frames, Frame{PC: pc})
			bt.Stop = fmt.Sprintf("no executable file is mapped at %#x", pc)
			return bt
		}
		f, err := u.open(m.Path)
		if err != nil {
			bt.Frames = append(bt.Frames, Frame{PC: pc, Binary: m.Path})
			bt.Stop = fmt.Sprintf("opening %s: %v", m.Path, err)
			return bt
		}
		link, ok := linkAddr(f.ELF, look-m.Start+m.Offset)
		if !ok {
			bt.Frames = append(bt.Frames, Frame{PC: pc, Binary: m.Path})
			bt.Stop = fmt.Sprintf("%#x is not in a loaded segment of %s", pc, m.Path)
			return bt
		}
		for _, fr := range u.name(f, m.Path, link) {
			fr.PC, fr.Binary = pc, m.Path
			bt.Frames = append(bt.Frames, fr)
		}
		ctx, err := f.FrameRules(link)
		if err != nil {
			bt.Stop = fmt.Sprintf("no call-frame information for %#x in %s", pc, m.Path)
			return bt
		}
		ra, stop := step(ctx, regs, read)
		if stop != "" {
			bt.Stop = stop
			return bt
		}
		if ra == 0 {
			return bt
		}
		pc = ra
	}
}

// name is symbolize, cached.
func (u *Unwinder) name(f *target.File, path string, pc uint64) []Frame {
	k := nameKey{path, pc}
	u.mu.Lock()
	fr, ok := u.names[k]
	u.mu.Unlock()
	if ok {
		return fr
	}
	fr = symbolize(f, pc)
	u.mu.Lock()
	u.names[k] = fr
	u.mu.Unlock()
	return fr
}

// step computes the caller's registers from the rules at the current pc,
// in place, and returns the return address; stop says why not ("" with a
// zero return address: the outermost frame).
func step(ctx *frame.FrameContext, regs map[uint64]uint64, read func(uint64) (uint64, bool)) (ra uint64, stop string) {
	if ctx.CFA.Rule != frame.RuleCFA {
		return 0, "the canonical frame address is a DWARF expression here (not evaluated)"
	}
	base, ok := regs[ctx.CFA.Reg]
	if !ok {
		return 0, fmt.Sprintf("the canonical frame address needs register %d, not recovered", ctx.CFA.Reg)
	}
	cfa := base + uint64(ctx.CFA.Offset)
	rule, ok := ctx.Regs[ctx.RetAddrReg]
	if !ok || rule.Rule == frame.RuleUndefined {
		return 0, "" // no caller
	}
	if rule.Rule != frame.RuleOffset {
		return 0, fmt.Sprintf("the return address's rule (%d) is not a stack slot", rule.Rule)
	}
	ra, ok = read(cfa + uint64(rule.Offset))
	if !ok {
		return 0, "end of the copied stack"
	}
	next := map[uint64]uint64{abi.RSP: cfa}
	for r, v := range regs {
		if r == abi.RSP || r == abi.RIP {
			continue
		}
		rule, ok := ctx.Regs[r]
		if !ok {
			next[r] = v // callee-saved and untouched
			continue
		}
		switch rule.Rule {
		case frame.RuleSameVal:
			next[r] = v
		case frame.RuleOffset:
			if x, ok := read(cfa + uint64(rule.Offset)); ok {
				next[r] = x
			}
		case frame.RuleValOffset:
			next[r] = cfa + uint64(rule.Offset)
		case frame.RuleRegister:
			if x, ok := regs[rule.Reg]; ok {
				next[r] = x
			}
		}
		// Other rules leave the register unknown: a later rule that
		// needs it stops the unwinding.
	}
	clear(regs)
	for r, v := range next {
		regs[r] = v
	}
	return ra, ""
}

// linkAddr turns a file offset into the link-time address of the loadable
// segment that maps it.
func linkAddr(f *elf.File, off uint64) (uint64, bool) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && off >= p.Off && off < p.Off+p.Filesz {
			return p.Vaddr + off - p.Off, true
		}
	}
	return 0, false
}
