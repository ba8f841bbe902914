// Package bpfgen generates eBPF programs at run time, with cilium/ebpf's asm
// package, from DWARF: a statement's program reads each variable in scope
// according to its location description at that address, and the return
// program evaluates the user's condition.
//
// Generate turns a Spec (statements with their variables' location
// expressions and CFA rules, a Cond, limits) into a CollectionSpec without
// touching the kernel; the session package loads and attaches it.
// The conditions, variables and access paths it reads are the IR of package
// expr/ir, produced by package expr, used by their own names (ir.Cond, ir.Var).
//
// Speculation happens in the kernel. The entry program (on the function's
// first instruction) opens the thread's invocation buffer: slot 0 of the
// thread in an LRU hash keyed by {thread, slot}, so invocations that never
// return (longjmp, killed threads) cannot fill it. A buffer is created
// zeroed the first time and reopened afterwards by rewriting its header;
// a recursive call first saves the caller's buffer under its depth, and
// its return puts it back (see lookupOpen). For a kernel target the
// thread's slot 0 is, when it can be, a fast slot instead: an array element
// chosen by the task's kernel stack region and claimed by the entry
// program, which a statement finds from rsp with no helper call and no
// hash lookup (see fastslot.go). The entry program also
// snapshots the six argument registers, which answer DW_OP_entry_value and
// Param. Each statement program finds the open buffer with one map lookup
// and writes a fixed-size record {id, valid mask, unread mask, values}
// into it: into the next free record, and once all are used
// over the oldest record of a ring, keeping the invocation's first
// statements and its latest ones and counting those overwritten (Layout).
// The return program (a
// uretprobe) evaluates the condition on rax and either copies the used part of
// the buffer to the ring buffer or drops it, so discarded invocations cost no
// ring buffer bytes.
//
// With Spec.Multi, for uprobe_multi links, one program records every
// statement (a few, for very large functions), choosing it by the link's
// attach cookie. Without TraceAll, the
// entry and return programs let only target processes through (a
// statement needs no check: only a target's entry opens an invocation); a fork
// tracker on raw tracepoints makes the processes that targets create
// targets too, knowing them by their task_struct's address alone (no kernel
// BTF is needed).
//
// A variable may carry an access path (Var.Steps: member offsets,
// dereferences, address-of, and indexes read from another variable at the
// same statement) applied after its location, and may be a string
// (Var.Str): up to Str bytes of the NUL-terminated user string its char*
// value points to fill Str/8 consecutive 8-byte slots of the record. Slots
// says which slots each variable of a statement takes; the valid mask stays
// one bit per variable. A string whose characters cannot be read leaves its
// pointer in its first slot and its bit in the unread mask. With
// Spec.FaultIn the programs that read strings are sleepable and fault the
// string's pages in with bpf_copy_from_user.
//
// Conditions (Cond) are trees of literals, $return, parameters at entry,
// stap's pid(), tid(), uid(), randint(N), execname() == "s" and
// user_string(p) == "s", errno(), and unary and binary operators.
//
// errno() (Errno in conditions, Var.Errno at statements) reads glibc's
// thread-local errno: the entry program works out its address once per
// invocation from the thread pointer (task_struct's thread.fsbase) and
// errno's offset from it, found as Spec.Errno (an ErrnoLocation) says, and
// keeps it in the buffer header.
//
// A location this package cannot evaluate exactly is never approximated: the
// variable becomes unavailable at generation time (with a Warning) or, when a
// memory read faults, at run time (its valid bit stays clear).
package bpfgen
