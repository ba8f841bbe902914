package target

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/whythefail/whythefail/debuginfod"
)

// debugAltLink parses .gnu_debugaltlink, which dwz adds to a debug file
// whose DWARF it moved partly into a supplementary file shared by several
// binaries: a NUL-terminated file name, then that file's build-id.
func debugAltLink(ef *elf.File) (name string, id []byte, ok bool) {
	s := ef.Section(".gnu_debugaltlink")
	if s == nil || s.Type == elf.SHT_NOBITS {
		return "", nil, false
	}
	data, err := safeSectionData(s)
	if err != nil {
		return "", nil, false
	}
	n := bytes.IndexByte(data, 0)
	if n <= 0 || n+1 >= len(data) {
		return "", nil, false
	}
	return string(data[:n]), bytes.Clone(data[n+1:]), true
}

// findAlt handles a debug file made by dwz. It locates the supplementary
// file as gdb does: by the name recorded (relative names are relative to
// the debug file's directory), by build-id under the debug dirs, then from
// debuginfod, and records it in AltPath. Go's debug/dwarf reads the
// DW_FORM_GNU_ref_alt and DW_FORM_GNU_strp_alt attributes such a file uses
// as bare offsets into the other file, so names and types would come out
// wrong; until the DWARF readers follow them, NeedDWARF refuses the target
// with a message that says so, instead of failing obscurely later.
func (f *File) findAlt(ctx context.Context, client *debuginfod.Client) {
	name, id, ok := debugAltLink(f.Debug)
	if !ok {
		return
	}
	f.AltBuildID = id
	candidates := []string{name}
	if !filepath.IsAbs(name) {
		candidates[0] = filepath.Join(filepath.Dir(f.DebugPath), name)
	}
	if len(id) >= 2 {
		for _, dir := range f.debugDir {
			candidates = append(candidates, buildIDPath(dir, id))
		}
	}
	var why []string
	for _, p := range candidates {
		err := checkAltFile(p, id)
		if err == nil {
			f.AltPath = p
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			why = append(why, fmt.Sprintf("%s (%v)", p, err))
		}
	}
	if f.AltPath == "" && client != nil && len(id) > 0 {
		if p, err := client.Debuginfo(ctx, id); err == nil {
			f.AltPath = p
		} else {
			why = append(why, err.Error())
		}
	}
	where := fmt.Sprintf("%s (build-id %x", name, id)
	switch {
	case f.AltPath != "":
		where += ", found at " + f.AltPath + ")"
	case len(why) > 0:
		where += fmt.Sprintf(", not found; rejected %s)", strings.Join(why, ", "))
	default:
		where += ", not found)"
	}
	f.altErr = fmt.Errorf("%w: %s was compressed by dwz and refers to its supplementary file %s through DW_FORM_GNU_ref_alt/strp_alt, which whythefail cannot follow yet (Go's debug/dwarf does not resolve them): use debug info built without dwz",
		ErrUnsupportedDebugInfo, f.DebugPath, where)
}

// checkAltFile checks that path is an ELF file with build-id id.
func checkAltFile(path string, id []byte) error {
	osf, err := os.Open(path)
	if err != nil {
		return err
	}
	defer osf.Close()
	ef, _, err := parseELF(osf)
	if err != nil {
		return err
	}
	if got := buildID(ef); !bytes.Equal(got, id) {
		return fmt.Errorf("build-id %x", got)
	}
	return nil
}
