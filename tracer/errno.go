package tracer

import (
	"fmt"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/target"
)

// errnoLocation works out, from the traced binary alone, how the generated
// programs find the calling thread's errno for errno(): through the GOT
// slot of errno's thread-pointer offset when the binary is glibc's libc,
// through the dynamic linker's list of loaded objects when it is a
// dynamically linked program, at a constant offset when it is a static
// one. Anything else (another shared library) gets ErrnoUnknown and a note
// saying why errno() will be unavailable. miss says why errno may still
// not be found in a process at run time, for the note the run prints when
// that happened.
func errnoLocation(bin *target.File) (loc *bpfgen.ErrnoLocation, note, miss string) {
	unknown := func(why string) (*bpfgen.ErrnoLocation, string, string) {
		return &bpfgen.ErrnoLocation{Mode: bpfgen.ErrnoUnknown}, "errno() prints as ? and conditions on it are false: " + why, ""
	}
	if le, err := bin.LibcErrno(); err == nil {
		return &bpfgen.ErrnoLocation{Mode: bpfgen.ErrnoTracedLibc, GOT: le.GOT}, "", "the thread's TLS slot of errno could not be read"
	}
	if bin.IsStatic() {
		off, err := bin.StaticErrno()
		if err != nil {
			return unknown(err.Error())
		}
		return &bpfgen.ErrnoLocation{Mode: bpfgen.ErrnoStatic, TPOffset: off}, "", "the thread's TLS could not be read"
	}
	if !bin.IsExecutable() {
		return unknown(fmt.Sprintf("%s is a shared library other than libc, and errno is found only from libc or the program itself (trace a function of the program, or of libc)", bin.Path))
	}
	debug, ok := bin.DebugEntry()
	if !ok {
		return unknown(fmt.Sprintf("%s has no DT_DEBUG entry, through which the loaded libc is found", bin.Path))
	}
	path, err := bin.FindLibc()
	if err != nil {
		return unknown(err.Error())
	}
	libc, err := target.Open(path, target.Options{DebugDirs: []string{}})
	if err != nil {
		return unknown(fmt.Sprintf("opening %s: %v", path, err))
	}
	defer libc.Close()
	le, err := libc.LibcErrno()
	if err != nil {
		return unknown(err.Error())
	}
	if le.BuildIDAddr == 0 || len(le.BuildID) == 0 {
		return unknown(fmt.Sprintf("%s has no loaded build-id, which tells whether a process runs this libc", libc.Path))
	}
	loc = &bpfgen.ErrnoLocation{Mode: bpfgen.ErrnoLinkMap, GOT: le.GOT, DebugEntry: debug, Dynamic: le.Dynamic, BuildID: le.BuildID, BuildIDAddr: le.BuildIDAddr}
	return loc, "", fmt.Sprintf("the process had not loaded %s (build-id %x), or its dynamic linker's list of loaded objects could not be read", libc.Path, le.BuildID)
}
