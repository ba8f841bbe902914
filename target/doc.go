// Package target opens the thing being traced: a user-space ELF executable or
// shared library (File), the kernel (Kernel: its vmlinux) or one of its
// modules (Module: its .ko, relocated). It knows how to find
// the file that carries the DWARF for a binary (the binary itself, a separate
// debug file by build-id or .gnu_debuglink, and its dwz supplementary file),
// reads that DWARF's sections once for debuginfo, maps link-time addresses to
// the file offsets that uprobes take, and reads the bytes of code.
//
// Everything specific to a kind of target stays behind the Binary interface:
// how a probe point names it (ProbePoint), the memory its variables are read
// from (AddressSpace: user or kernel reads), how probes attach to its code
// (Attach: uprobes today), its symbols and its DWARF sections. The later
// stages (debug info, probe points, BPF programs, attaching) take what they
// need from it; Kernel and Module are implementations of Binary beside
// File, which place probes at symbol+offset (KprobeSite). The x86-64 ABI facts that probes rely on (argument registers,
// pt_regs offsets, DWARF register numbers) are in the subpackage abi.
package target
