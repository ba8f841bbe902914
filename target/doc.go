// Package target opens the thing being traced: a user-space ELF executable or
// shared library today, the kernel and its modules later. It knows how to find
// the file that carries the DWARF for a binary (the binary itself, a separate
// debug file by build-id or .gnu_debuglink), how link-time addresses map to the
// file offsets that uprobes take, and how to read the bytes of code.
//
// Everything specific to a kind of target stays behind this package, so that
// the later stages (debug info, probe points, BPF programs) need not care.
package target
