package target

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/whythefail/whythefail/debuginfod"
	"github.com/whythefail/whythefail/target/dwarfsec"
)

// findDebug sets Debug, DebugPath and the sections from the first place that has
// DWARF, in the order gdb and stap search, ending with debuginfod when a
// client is configured. It fails only when the binary's own DWARF is
// unreadable; unusable separate debug files are skipped and remembered for
// NeedDWARF's message. A debug file that depends on a dwz supplementary
// file is read together with it; when that cannot be found the debug file
// is adopted all the same, and NeedDWARF says what is missing.
func (f *File) findDebug(ctx context.Context, client *debuginfod.Client) error {
	if hasDWARF(f.ELF) {
		d, alt, err := f.openDWARF(ctx, client, f.ELF, f.osFile, f.Path)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		f.adopt(f.ELF, f.Path, nil, d, alt)
	} else if !f.findLocalDebug(ctx, client) {
		f.findDebuginfod(ctx, client)
	}
	return nil
}

// openDWARF reads the DWARF sections of ef, the file at path read through
// osf, together with its dwz supplementary file when it names one
// (findAlt).
func (f *File) openDWARF(ctx context.Context, client *debuginfod.Client, ef *elf.File, osf *os.File, path string) (*dwarfsec.Sections, *altFile, error) {
	alt := f.findAlt(ctx, client, ef, path)
	src := dwarfsec.Source{ELF: ef, Raw: osf}
	if alt != nil && alt.ef != nil {
		src.Alt = &dwarfsec.Source{ELF: alt.ef, Raw: alt.osf}
	}
	d, err := safeDWARF(src)
	if err != nil {
		alt.close()
		return nil, nil, err
	}
	return d, alt, nil
}

// adopt makes ef, the file at path, the target's debug file.
func (f *File) adopt(ef *elf.File, path string, osf *os.File, d *dwarfsec.Sections, alt *altFile) {
	f.Debug, f.DebugPath, f.secs, f.debugOS = ef, path, d, osf
	if alt != nil {
		f.AltPath, f.AltBuildID, f.altErr = alt.path, alt.id, alt.err
		f.altOS = alt.osf
	}
}

// findLocalDebug looks for a separate debug file by build-id under the
// debug dirs, then by .gnu_debuglink, and reports whether it found one.
func (f *File) findLocalDebug(ctx context.Context, client *debuginfod.Client) bool {
	if len(f.BuildID) >= 2 {
		for _, dir := range f.debugDir {
			if f.tryDebugFile(ctx, client, buildIDPath(dir, f.BuildID), nil) {
				return true
			}
		}
	}
	name, crc, ok := debugLink(f.ELF)
	if !ok {
		return false
	}
	dir := filepath.Dir(f.Path)
	candidates := []string{
		filepath.Join(dir, name),
		filepath.Join(dir, ".debug", name),
	}
	for _, d := range f.debugDir {
		candidates = append(candidates, filepath.Join(d, dir, name))
	}
	for _, p := range candidates {
		if f.tryDebugFile(ctx, client, p, &crc) {
			return true
		}
	}
	return false
}

// findDebuginfod asks the debuginfod servers for the debug file, when a
// client is configured and the binary has a build-id to ask by.
func (f *File) findDebuginfod(ctx context.Context, client *debuginfod.Client) {
	if client == nil || len(f.BuildID) == 0 {
		return
	}
	f.askedDebuginfod = true
	path, err := client.Debuginfo(ctx, f.BuildID)
	if err != nil {
		f.skipped = append(f.skipped, err.Error())
		return
	}
	f.tryDebugFile(ctx, client, path, nil)
}

// buildIDPath is where a debug dir keeps the file for a build-id.
func buildIDPath(dir string, id []byte) string {
	hexID := hex.EncodeToString(id)
	return filepath.Join(dir, ".build-id", hexID[:2], hexID[2:]+".debug")
}

// hasDWARF reports whether ef carries DWARF itself (possibly compressed)
// rather than the NOBITS placeholders a stripped file keeps.
func hasDWARF(ef *elf.File) bool {
	for _, name := range []string{".debug_info", ".zdebug_info"} {
		if s := ef.Section(name); s != nil && s.Type != elf.SHT_NOBITS && s.Size > 0 {
			return true
		}
	}
	return false
}

// debugLink parses .gnu_debuglink: a NUL-terminated file name, padding to 4
// bytes, and the CRC-32 of the debug file.
func debugLink(ef *elf.File) (name string, crc uint32, ok bool) {
	s := ef.Section(".gnu_debuglink")
	if s == nil || s.Type == elf.SHT_NOBITS {
		return "", 0, false
	}
	data, err := safeSectionData(s)
	if err != nil {
		return "", 0, false
	}
	n := bytes.IndexByte(data, 0)
	if n <= 0 {
		return "", 0, false
	}
	off := (n + 4) &^ 3
	if off+4 > len(data) {
		return "", 0, false
	}
	name = string(data[:n])
	// A link naming a path would escape the directories searched.
	if name != filepath.Base(name) || name == "." || name == ".." {
		return "", 0, false
	}
	return name, ef.ByteOrder.Uint32(data[off:]), true
}

// tryDebugFile adopts the debug file at path if it exists, matches the
// binary (CRC when wantCRC is set, build-id when both have one) and carries
// DWARF. It reports whether it did.
func (f *File) tryDebugFile(ctx context.Context, client *debuginfod.Client, path string, wantCRC *uint32) bool {
	canon, err := filepath.EvalSymlinks(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			f.skip(path, err.Error())
		}
		return false
	}
	if canon == f.Path {
		return false // a debuglink naming the binary itself
	}
	osf, err := os.Open(canon)
	if err != nil {
		f.skip(path, err.Error())
		return false
	}
	keep := false
	defer func() {
		if !keep {
			osf.Close()
		}
	}()
	if wantCRC != nil {
		h := crc32.NewIEEE()
		if _, err := io.Copy(h, osf); err != nil {
			f.skip(path, err.Error())
			return false
		}
		if got := h.Sum32(); got != *wantCRC {
			f.skip(path, fmt.Sprintf("CRC %08x, .gnu_debuglink wants %08x", got, *wantCRC))
			return false
		}
	}
	ef, _, err := parseELF(osf)
	if err != nil {
		f.skip(path, err.Error())
		return false
	}
	if ef.Machine != f.ELF.Machine || ef.Class != f.ELF.Class {
		f.skip(path, fmt.Sprintf("machine %s", ef.Machine))
		return false
	}
	if id := buildID(ef); id != nil && f.BuildID != nil && !bytes.Equal(id, f.BuildID) {
		f.skip(path, fmt.Sprintf("build-id %x", id))
		return false
	}
	if !hasDWARF(ef) {
		f.skip(path, "no .debug_info")
		return false
	}
	d, alt, err := f.openDWARF(ctx, client, ef, osf, canon)
	if err != nil {
		f.skip(path, err.Error())
		return false
	}
	keep = true
	f.adopt(ef, canon, osf, d, alt)
	return true
}

// skip records why a candidate debug file was rejected.
func (f *File) skip(path, why string) {
	f.skipped = append(f.skipped, fmt.Sprintf("%s (%s)", path, why))
}
