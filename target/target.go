package target

import (
	"debug/dwarf"
	"debug/elf"
)

// Options tune how a target's debug information is found.
type Options struct {
	// DebugDirs are searched, in order, after the file itself, for
	// .build-id/xx/rest.debug and for .gnu_debuglink files. The default is
	// /usr/lib/debug.
	DebugDirs []string
}

// File is an opened user-space ELF target.
type File struct {
	Path    string    // canonical path (symlinks resolved)
	ELF     *elf.File // the target binary itself
	BuildID []byte    // from .note.gnu.build-id; nil when absent

	// DebugPath and Debug are the file that carries the DWARF: ELF itself or
	// a separate debug file. Debug is nil when no debug info was found.
	DebugPath string
	Debug     *elf.File
	DWARF     *dwarf.Data
}
