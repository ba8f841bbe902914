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

// altFile is the dwz supplementary file of a debug file.
type altFile struct {
	name string   // as .gnu_debugaltlink records it
	id   []byte   // its build-id
	path string   // where it was found; "" when it was not
	osf  *os.File // open when found
	ef   *elf.File
	err  error // when not found: why NeedDWARF refuses the debug file
}

func (a *altFile) close() {
	if a != nil && a.osf != nil {
		a.osf.Close()
		a.osf, a.ef = nil, nil
	}
}

// findAlt locates the supplementary file that the debug file ef at
// debugPath refers to through .gnu_debugaltlink, as gdb does: by the name
// recorded (relative names are relative to the debug file's directory),
// by build-id under the debug dirs, then from debuginfod. It returns nil
// when ef names none, and an altFile whose err says so when it names one
// that cannot be found or a DWARF 5 supplementary file (.debug_sup).
func (f *File) findAlt(ctx context.Context, client *debuginfod.Client, ef *elf.File, debugPath string) *altFile {
	if s := ef.Section(".debug_sup"); s != nil && s.Type != elf.SHT_NOBITS {
		return &altFile{err: fmt.Errorf("%w: %s refers to a DWARF 5 supplementary file (.debug_sup), which whythefail cannot read yet: use debug info built without dwz --dwarf-5",
			ErrUnsupportedDebugInfo, debugPath)}
	}
	name, id, ok := debugAltLink(ef)
	if !ok {
		return nil
	}
	a := &altFile{name: name, id: id}
	if bytes.Equal(id, buildID(ef)) {
		a.err = fmt.Errorf("%w: %s names itself as its dwz supplementary file", ErrBadDebugInfo, debugPath)
		return a
	}
	candidates := []string{name}
	if !filepath.IsAbs(name) {
		candidates[0] = filepath.Join(filepath.Dir(debugPath), name)
	}
	if len(id) >= 2 {
		for _, dir := range f.debugDir {
			candidates = append(candidates, buildIDPath(dir, id))
		}
	}
	var why []string
	try := func(p string) bool {
		osf, ef, err := openAltFile(p, id)
		if err == nil {
			a.path, a.osf, a.ef = p, osf, ef
			return true
		}
		if !errors.Is(err, fs.ErrNotExist) {
			why = append(why, fmt.Sprintf("%s (%v)", p, err))
		}
		return false
	}
	for _, p := range candidates {
		if try(p) {
			return a
		}
	}
	if client != nil && len(id) > 0 {
		p, err := client.Debuginfo(ctx, id)
		if err == nil && try(p) {
			return a
		}
		if err != nil {
			why = append(why, err.Error())
		}
	}
	where := fmt.Sprintf("%s (build-id %x", name, id)
	if len(why) > 0 {
		where += "; rejected " + strings.Join(why, ", ")
	}
	server := "set DEBUGINFOD_URLS"
	if client != nil {
		server = "add a debuginfod server that has it to DEBUGINFOD_URLS"
	}
	a.err = fmt.Errorf("%w: %s was compressed by dwz and its supplementary file %s) was not found: install the package that provides it (the -dbgsym package, under /usr/lib/debug/.dwz) or %s",
		ErrNoDebugInfo, debugPath, where, server)
	return a
}

// openAltFile opens path and checks that it is an ELF file with DWARF and
// build-id id.
func openAltFile(path string, id []byte) (*os.File, *elf.File, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	ef, _, err := parseELF(osf)
	if err == nil {
		if got := buildID(ef); !bytes.Equal(got, id) {
			err = fmt.Errorf("build-id %x", got)
		} else if str := ef.Section(".debug_str"); !hasDWARF(ef) && (str == nil || str.Type == elf.SHT_NOBITS) {
			// dwz may share only strings: then there is no .debug_info.
			err = errors.New("no .debug_info or .debug_str")
		}
	}
	if err != nil {
		osf.Close()
		return nil, nil, err
	}
	return osf, ef, nil
}
