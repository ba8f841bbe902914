// Package backtrace unwinds the user stack copied at a traced function's
// entry (bpfgen.Spec.Stack, session.Stack) into the chain of its callers,
// for --backtrace: each return address is placed in its binary with the
// process's /proc/PID/maps (ParseMaps), the caller's frame is recovered
// with that binary's DWARF call-frame information (.eh_frame, which
// shared libraries carry too, or .debug_frame: target.File.FrameRules), and
// the address is named by function, file and line from the binary's DWARF
// (inlined functions get a frame each, as a debugger shows them), or by its
// ELF symbol when there is no DWARF.
//
// Unwinding never guesses: it stops at the end of the copied stack, at an
// address no mapping or no CFI covers, or at a rule it cannot evaluate,
// and says which (Backtrace.Stop). Frame pointers are not used: -O2 code
// has none.
package backtrace
