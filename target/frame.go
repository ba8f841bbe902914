package target

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/go-delve/delve/pkg/dwarf/frame"
)

// ptrSize is the size of an address on x86-64, the only supported machine.
const ptrSize = 8

// FrameEntries returns the call-frame information of the binary: the FDEs
// of its .eh_frame and of the debug file's .debug_frame, merged and sorted
// by start address so that FDEForPC's binary search works (Delve's parser
// returns them in section order). Addresses are link-time addresses. The
// result is computed once and shared; callers must not modify it.
func (f *File) FrameEntries() (frame.FrameDescriptionEntries, error) {
	f.frameOnce.Do(func() {
		f.fdes, f.frameErr = f.parseFrames()
	})
	return f.fdes, f.frameErr
}

func (f *File) parseFrames() (frame.FrameDescriptionEntries, error) {
	var all frame.FrameDescriptionEntries
	// .eh_frame is loaded memory, so only the binary has its contents; its
	// pc-relative pointers are decoded against the section's address.
	if s := f.ELF.Section(".eh_frame"); s != nil && s.Type != elf.SHT_NOBITS && s.Addr != 0 {
		fdes, err := parseFrameSection(s, s.Addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		all = append(all, fdes...)
	}
	dbg, dbgPath := f.Debug, f.DebugPath
	if dbg == nil {
		dbg, dbgPath = f.ELF, f.Path
	}
	if s := dbg.Section(".debug_frame"); s != nil && s.Type != elf.SHT_NOBITS {
		fdes, err := parseFrameSection(s, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dbgPath, err)
		}
		all = append(all, fdes...)
	}
	// Where .eh_frame and .debug_frame describe the same range, keep the
	// first (the .eh_frame one, which is what the unwinder at run time uses).
	sort.SliceStable(all, func(i, j int) bool { return all[i].Begin() < all[j].Begin() })
	out := all[:0]
	for i, fde := range all {
		if i > 0 && fde.Begin() == all[i-1].Begin() && fde.End() == all[i-1].End() {
			continue
		}
		out = append(out, fde)
	}
	return out, nil
}

// parseFrameSection parses .eh_frame (ehFrameAddr != 0) or .debug_frame
// with Delve's parser, turning its panics into errors. Addresses stay
// link-time addresses (static base 0).
func parseFrameSection(s *elf.Section, ehFrameAddr uint64) (fdes frame.FrameDescriptionEntries, err error) {
	data, err := safeSectionData(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDebugInfo, err)
	}
	return parseFrameData(data, s.Name, ehFrameAddr)
}

// parseFrameData is parseFrameSection for the bytes of the section named
// name.
func parseFrameData(data []byte, name string, ehFrameAddr uint64) (fdes frame.FrameDescriptionEntries, err error) {
	defer func() {
		if p := recover(); p != nil {
			fdes, err = nil, fmt.Errorf("%w: parsing %s: %v", ErrBadDebugInfo, name, p)
		}
	}()
	fdes, err = frame.Parse(data, binary.LittleEndian, 0, ptrSize, ehFrameAddr)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing %s: %v", ErrBadDebugInfo, name, err)
	}
	for _, fde := range fdes {
		if fde.CIE == nil {
			return nil, fmt.Errorf("%w: parsing %s: FDE at %#x without CIE", ErrBadDebugInfo, name, fde.Begin())
		}
	}
	return fdes, nil
}

// CFA returns the rule for the canonical frame address at link-time address
// pc as a DWARF register number and an offset (CFA = reg + off). Frame-base
// relative variable locations become register-relative reads with it. An
// error is returned when no FDE covers pc or the rule is a DWARF expression.
func (f *File) CFA(pc uint64) (reg uint64, off int64, err error) {
	fdes, err := f.FrameEntries()
	if err != nil {
		return 0, 0, err
	}
	return cfaFrom(fdes, pc, f.Path)
}

// cfaFrom is CFA over fdes, sorted by start address, of the file at path.
func cfaFrom(fdes frame.FrameDescriptionEntries, pc uint64, path string) (reg uint64, off int64, err error) {
	fde, err := fdes.FDEForPC(pc)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: no call-frame information for %#x", path, pc)
	}
	ctx, err := establishFrame(fde, pc)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: call-frame information for %#x: %w", path, pc, err)
	}
	if ctx.CFA.Rule != frame.RuleCFA {
		return 0, 0, fmt.Errorf("%s: CFA at %#x is not register+offset (rule %d)", path, pc, ctx.CFA.Rule)
	}
	return ctx.CFA.Reg, ctx.CFA.Offset, nil
}

// FrameRules returns the call-frame rules in effect at link-time address
// pc (the CFA and where each register of the caller was saved), for
// unwinding; an error when no FDE covers pc.
func (f *File) FrameRules(pc uint64) (*frame.FrameContext, error) {
	fdes, err := f.FrameEntries()
	if err != nil {
		return nil, err
	}
	fde, err := fdes.FDEForPC(pc)
	if err != nil {
		return nil, fmt.Errorf("%s: no call-frame information for %#x", f.Path, pc)
	}
	ctx, err := establishFrame(fde, pc)
	if err != nil {
		return nil, fmt.Errorf("%s: call-frame information for %#x: %w", f.Path, pc, err)
	}
	return ctx, nil
}

// establishFrame runs the FDE's CFA program up to pc; Delve's interpreter
// panics on truncated instructions.
func establishFrame(fde *frame.FrameDescriptionEntry, pc uint64) (ctx *frame.FrameContext, err error) {
	defer func() {
		if p := recover(); p != nil {
			ctx, err = nil, fmt.Errorf("%w: %v", ErrBadDebugInfo, p)
		}
	}()
	ctx, err = fde.EstablishFrame(pc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDebugInfo, err)
	}
	return ctx, nil
}
