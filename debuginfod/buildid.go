package debuginfod

import (
	"debug/elf"
	"fmt"
	"io"

	"github.com/whythefail/whythefail/internal/elfnote"
)

// elfBuildID returns the GNU build-id of the ELF file in r, or nil when it
// has none. debug/elf can panic on hostile input, and downloads are
// untrusted, so panics become errors.
func elfBuildID(r io.ReaderAt) (id []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			id, err = nil, fmt.Errorf("malformed ELF file: %v", p)
		}
	}()
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("not a valid ELF file: %w", err)
	}
	return elfnote.BuildID(ef), nil
}
