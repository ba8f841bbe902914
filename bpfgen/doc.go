// Package bpfgen generates eBPF programs at run time, with cilium/ebpf's asm
// package, from DWARF: a statement's program reads each variable in scope
// according to its location description at that address, and the return
// program evaluates the user's condition.
package bpfgen
