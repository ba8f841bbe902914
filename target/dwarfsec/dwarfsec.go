// Package dwarfsec reads the DWARF sections of an ELF file. Packaged debug
// files compress their sections (Debian: zlib), and decompressing them is
// the largest single cost of indexing one; both target.Open (which checks
// that a debug file carries DWARF) and debuginfo.Load (which indexes it)
// need them, so target reads them once (Read) and hands the Sections on.
package dwarfsec

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/whythefail/whythefail/debuginfo/bidcache"
)

// Sections holds the decompressed DWARF sections of one ELF file and the
// dwarf.Data built from them (Data: built in the background, for what
// needs only the raw sections and the outline can start before it is). A nil slice means the section is absent or
// unreadable. Read may change the abbreviation offset in Info's unit
// headers to that of an earlier table with the same bytes, for dwarf.New
// (abbrevSharing): the DIEs decode the same.
type Sections struct {
	Order binary.ByteOrder

	// id and identity are what is derived from the sections is cached
	// under (Identity).
	id, identity []byte

	Info, Abbrev, Line, LineStr, Str, Addr, Ranges, Rnglists, StrOffsets []byte

	// ViaDebugElf is set when the dwarf.Data came from ef.DWARF
	// (relocatable objects, .zdebug sections, .debug_types): the raw
	// sections above may then lack relocations.
	ViaDebugElf bool

	abbrevCache abbrevs

	// dwarf.New runs while Read's caller goes on; Data waits for it (a
	// nil channel: built synchronously, or by hand). For sections read
	// from the cache, lazyData builds it when Data is first called.
	dwarfDone chan struct{}
	lazyData  *sync.Once
	dwarf     *dwarf.Data
	dwarfErr  error

	outlineOnce sync.Once
	outlineDone bool // Read built the outline
	outline     []OutlineDIE
	outlineErr  error

	// Location lists are large and only needed once variables are read
	// at an address: they are decompressed in the background, and Loc
	// and Loclists wait for them (a nil channel: Sections built by hand,
	// which have none).
	locDone      chan struct{}
	loc, loclist []byte
}

// Data returns the dwarf.Data built from the sections, waiting for it
// when it is still being built. Its error, which Read did not know about,
// matches ErrNoDWARF.
func (s *Sections) Data() (*dwarf.Data, error) {
	if s.lazyData != nil {
		s.lazyData.Do(func() { s.dwarf, s.dwarfErr = newData(s) })
	}
	if s.dwarfDone != nil {
		<-s.dwarfDone
	}
	return s.dwarf, s.dwarfErr
}

// Loc returns .debug_loc (DWARF 2-4 location lists).
func (s *Sections) Loc() []byte {
	if s.locDone != nil {
		<-s.locDone
	}
	return s.loc
}

// Loclists returns .debug_loclists (DWARF 5).
func (s *Sections) Loclists() []byte {
	if s.locDone != nil {
		<-s.locDone
	}
	return s.loclist
}

// ErrNoDWARF says the file carries no usable DWARF. Errors from Read
// match it with errors.Is.
var ErrNoDWARF = errors.New("no DWARF debug info")

// noDWARF is an error that matches ErrNoDWARF without repeating its text:
// callers add their own context ("malformed debug info: ...").
type noDWARF struct{ err error }

func (e noDWARF) Error() string        { return e.err.Error() }
func (e noDWARF) Unwrap() error        { return e.err }
func (e noDWARF) Is(target error) bool { return target == ErrNoDWARF }

// Source is an ELF file whose DWARF Read reads, with what Read needs to
// know about it besides its headers.
type Source struct {
	// ELF is the file's parsed headers.
	ELF *elf.File
	// Raw, when set, reads the file's bytes directly (the file ELF was
	// parsed from): zlib-compressed sections (Debian's debug packages)
	// are then inflated with klauspost/compress, about a quarter faster
	// than the standard library's inflater behind elf.Section.Open;
	// .debug_info is the longest step of loading a packaged debug file.
	// Without it sections are read through debug/elf.
	Raw io.ReaderAt
	// Alt, when set, is the dwz supplementary file that ELF's
	// .gnu_debugaltlink names, whose DWARF ELF's refers into. It must
	// stay open as long as the Sections are used. Its own Alt is ignored.
	Alt *Source
}

// Read decompresses src's DWARF sections, those needed up front in
// parallel, and builds the dwarf.Data from them; the caller keeps them for
// whoever needs them next. A file with a build-id whose DWARF is compressed is read from
// the build-id cache (bidcache) when it is there, and put there after it
// was read and found well formed. Malformed sections are reported as
// errors, never panics.
func Read(src Source) (*Sections, error) {
	if src.Alt != nil {
		// What is derived from a merged file is not cached: the
		// supplementary file would need to be part of the identity.
		return readWithAlt(src, *src.Alt)
	}
	s, err := readSingle(src)
	if s != nil {
		s.id, s.identity, _ = Identity(src.ELF)
	}
	return s, err
}

// Identity returns the build-id and identity under which what is derived
// from the sections is cached (bidcache): those of the file they were
// read from (the package's Identity). ok is false without a build-id, and
// for sections merged with a supplementary file.
func (s *Sections) Identity() (id, identity []byte, ok bool) {
	return s.id, s.identity, s.id != nil
}

// readSingle is Read for a file without a supplementary file.
func readSingle(src Source) (*Sections, error) {
	ef := src.ELF
	c := bidcache.Open()
	if s := readCached(c, ef); s != nil {
		return s, nil
	}
	if f := mappable(ef, src.Raw); f != nil {
		if s, err := readMapped(ef, f); err == nil {
			return s, nil
		}
	}
	s, err := read(src)
	if err != nil || c == nil || s.ViaDebugElf || s.outlineErr != nil {
		return s, err
	}
	if _, _, ok := cacheKey(ef); !ok {
		return s, nil
	}
	// Cache only what dwarf.New accepts, the location lists included.
	if _, err := s.Data(); err != nil {
		return s, nil
	}
	s.Loc()
	writeCache(c, ef, s)
	return s, nil
}

// read is Read without the cache.
func read(src Source) (_ *Sections, err error) {
	ef, raw := src.ELF, src.Raw
	// s is not the named result: goroutines use it after an error
	// return would have set that to nil.
	s := &Sections{Order: ef.ByteOrder, locDone: make(chan struct{})}
	open := func(sec *elf.Section) io.Reader { return openSection(sec, raw, ef.ByteOrder, ef.Class) }
	defer func() {
		if r := recover(); r != nil {
			err = noDWARF{fmt.Errorf("malformed DWARF (%v)", r)}
		}
	}()
	locSec, loclistsSec := live(ef.Section(".debug_loc")), live(ef.Section(".debug_loclists"))
	readLoc := func() {
		defer close(s.locDone)
		s.loc, _ = sectionData(locSec, open)
		s.loclist, _ = sectionData(loclistsSec, open)
	}
	// One goroutine decompresses .debug_info, the longest task and the
	// one everything after waits for, without sharing its core; a second
	// one does the other sections in turn, abbreviations first; the
	// outline follows .debug_info as it streams, once the abbreviation
	// tables are parsed.
	targets := s.targets()
	errs := make([]error, len(targets))
	var wg, outlineWG sync.WaitGroup
	infoSec := live(ef.Section(".debug_info"))
	st := newStream()
	var infoErr error
	s.Info = allocFor(infoSec)
	wg.Go(func() { infoErr = streamSection(infoSec, s.Info, st, open) })
	abbrevsReady := make(chan struct{})
	outlineWG.Go(func() {
		<-abbrevsReady
		defer func() {
			if r := recover(); r != nil {
				s.outline, s.outlineErr = nil, fmt.Errorf("malformed DWARF (%v)", r)
			}
		}()
		s.outline, s.outlineErr = buildOutline(s, st)
		s.outlineDone = true
	})
	wg.Go(func() {
		for i, t := range targets {
			if sec := live(ef.Section(t.name)); sec != nil {
				*t.dst, errs[i] = sectionData(sec, open)
			}
			if i == 0 {
				if s.Abbrev != nil {
					s.parseAllAbbrevs()
				}
				close(abbrevsReady)
			}
		}
	})
	wg.Wait()
	// Location lists wait until the outline is done (or failed), and
	// dwarf.New when it runs in the background: until then both cores
	// have the work that indexing waits for (.debug_info, the other
	// sections, the abbreviations and the outline; then dwarf.New and
	// the index itself).
	locLater := false
	defer func() {
		if !locLater {
			go readLoc()
		}
	}()
	// The outline reads s, and rewrites unit headers for dwarf.New
	// (abbrevSharing): dwarf.New waits for it.
	defer outlineWG.Wait()
	if infoErr != nil {
		s.Info = nil
		return nil, noDWARF{infoErr}
	}
	if needsDebugElf(ef) || s.Info == nil {
		// Relocatable objects need debug/elf's relocation processing,
		// .zdebug sections its GNU decompression, .debug_types sections
		// their COMDAT naming; its error also explains a missing
		// .debug_info. All are rare, so the second read does not matter.
		dw, err := ef.DWARF()
		if err != nil {
			return nil, noDWARF{err}
		}
		s.dwarf, s.ViaDebugElf = dw, true
		return s, nil
	}
	for i, err := range errs {
		if err != nil && targets[i].dst == &s.Abbrev {
			return nil, noDWARF{err}
		}
	}
	outlineWG.Wait()
	if s.outlineErr != nil {
		// The outline failed: let dwarf.New's error, if any, be Read's
		// as well, so that callers reject the file up front.
		if s.dwarf, s.dwarfErr = newData(s); s.dwarfErr != nil {
			return nil, s.dwarfErr
		}
		return s, nil
	}
	// The outline read every unit header and abbreviation that dwarf.New
	// reads: it goes on in the background, for those that need it.
	s.dwarfDone = make(chan struct{})
	locLater = true
	go func() {
		s.dwarf, s.dwarfErr = newData(s)
		close(s.dwarfDone)
		readLoc()
	}()
	return s, nil
}

// newData builds the dwarf.Data from the raw sections; malformed sections
// are errors matching ErrNoDWARF, never panics.
func newData(s *Sections) (dw *dwarf.Data, err error) {
	return newDataInfo(s, s.Info)
}

// newDataInfo is newData with info in place of s.Info.
func newDataInfo(s *Sections, info []byte) (dw *dwarf.Data, err error) {
	defer func() {
		if r := recover(); r != nil {
			dw, err = nil, noDWARF{fmt.Errorf("malformed DWARF (%v)", r)}
		}
	}()
	dw, err = dwarf.New(s.Abbrev, nil, nil, info, s.Line, nil, s.Ranges, s.Str)
	if err != nil {
		return nil, noDWARF{err}
	}
	for _, sec := range []struct {
		name string
		data []byte
	}{{".debug_addr", s.Addr}, {".debug_line_str", s.LineStr}, {".debug_str_offsets", s.StrOffsets}, {".debug_rnglists", s.Rnglists}} {
		if sec.data != nil {
			if err := dw.AddSection(sec.name, sec.data); err != nil {
				return nil, noDWARF{fmt.Errorf("reading %s: %w", sec.name, err)}
			}
		}
	}
	return dw, nil
}

// allocFor returns the buffer .debug_info decompresses into, nil when
// there is no such section or its size is implausible: zlib expands 1032
// times at most, and zstd's frames are no denser in practice.
func allocFor(sec *elf.Section) []byte {
	if sec == nil || sec.Size > 1100*sec.FileSize+4096 {
		return nil
	}
	return make([]byte, sec.Size)
}

// streamChunk is how much .debug_info decompresses between two reports
// to the outline.
const streamChunk = 256 << 10

// streamSection decompresses sec into buf, publishing progress to st; a
// nil buf means the size is implausible. It always ends st.
func streamSection(sec *elf.Section, buf []byte, st *stream, open func(*elf.Section) io.Reader) (err error) {
	n := 0
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading %s: malformed (%v)", sec.Name, r)
		}
		if err != nil {
			n = 0
		}
		st.publish(n, true)
	}()
	if sec == nil {
		return nil
	}
	if buf == nil {
		return fmt.Errorf("reading %s: %d bytes from %d compressed is implausible", sec.Name, sec.Size, sec.FileSize)
	}
	r := open(sec)
	for n < len(buf) {
		m, err := io.ReadFull(r, buf[n:min(n+streamChunk, len(buf))])
		n += m
		if err != nil {
			return fmt.Errorf("reading %s: %w", sec.Name, err)
		}
		st.publish(n, false)
	}
	return nil
}

// needsDebugElf reports whether ef needs something only ef.DWARF does.
func needsDebugElf(ef *elf.File) bool {
	if ef.Type == elf.ET_REL {
		return true
	}
	for _, sec := range ef.Sections {
		if strings.HasPrefix(sec.Name, ".zdebug_") || sec.Name == ".debug_types" {
			return true
		}
	}
	return false
}

// live returns s unless it is absent or a stripped file's NOBITS stand-in.
func live(s *elf.Section) *elf.Section {
	if s == nil || s.Type == elf.SHT_NOBITS {
		return nil
	}
	return s
}

// sectionData decompresses a section, turning debug/elf panics on
// malformed compression headers into errors.
func sectionData(s *elf.Section, open func(*elf.Section) io.Reader) (data []byte, err error) {
	if s == nil {
		return nil, nil
	}
	defer func() {
		if r := recover(); r != nil {
			data, err = nil, fmt.Errorf("reading %s: malformed (%v)", s.Name, r)
		}
	}()
	if s.Flags&elf.SHF_COMPRESSED == 0 || s.Size > 1100*s.FileSize+4096 {
		data, err = s.Data()
	} else {
		data = make([]byte, s.Size)
		_, err = io.ReadFull(open(s), data)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.Name, err)
	}
	return data, nil
}
