// Package session loads the generated BPF programs, attaches them to the
// target, keeps each invocation's trace speculatively in BPF maps, and delivers
// the committed traces through a ring buffer. It is the only package that
// touches the kernel.
//
// Start attaches the return probe first and the entry probe last, so an
// invocation that gets a buffer also gets its statements and its return;
// Close detaches in the opposite order, then drains the ring buffer into
// Traces. The target filter is a map of tgids seeded with Options.PIDs; a
// task/task_newtask tracepoint adds every new process (not thread) whose
// parent is traced.
//
// errno() needs the offset of thread.fsbase in the running kernel's
// task_struct; TaskFSBaseOffset finds it once per process (fsbase.go) and
// Start completes Plan.Errno with it, or notes why errno() is unavailable.
//
// Records are decoded per statement with bpfgen.Slots, so each Record has one
// Value per variable of its statement: a scalar in U64, a string in Bytes.
package session
