package target

import "errors"

// Sentinel errors returned (wrapped, with the file's path) by Open and the
// File methods. Test for them with errors.Is; the wrapping error's text is the
// one-line message meant for users.
var (
	// ErrNotELF means the file does not start with the ELF magic number.
	ErrNotELF = errors.New("not an ELF file")
	// ErrBadELF means the file claims to be ELF but its headers are
	// malformed or point past the end of the file (a truncated copy).
	ErrBadELF = errors.New("malformed or truncated ELF file")
	// ErrUnsupportedArch means the ELF file is for a machine other than
	// 64-bit x86, the only one whythefail generates probes for.
	ErrUnsupportedArch = errors.New("unsupported architecture")
	// ErrNotExecutable means the ELF file is neither an executable nor a
	// shared object (for example a relocatable .o file or a core dump), so
	// it cannot be the target of a uprobe.
	ErrNotExecutable = errors.New("not an executable or shared library")
	// ErrNoDebugInfo means no DWARF was found for the target, neither in the
	// file itself nor in a separate debug file.
	ErrNoDebugInfo = errors.New("no debug info")
	// ErrBadDebugInfo means DWARF or call-frame information was found but
	// could not be decoded.
	ErrBadDebugInfo = errors.New("malformed debug info")
	// ErrUnsupportedDebugInfo means debug info was found in a form
	// whythefail cannot read yet (a DWARF 5 supplementary file, .debug_sup).
	ErrUnsupportedDebugInfo = errors.New("unsupported debug info")
	// ErrNotCode means an address lies outside every executable loadable
	// segment of the binary, so no uprobe can be placed there.
	ErrNotCode = errors.New("address is not in an executable segment")
)
