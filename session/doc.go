// Package session loads the generated BPF programs, attaches them to the
// target, keeps each invocation's trace speculatively in BPF maps, and delivers
// the committed traces through a ring buffer. It is the only package that
// touches the kernel.
//
// Start attaches the return probe first and the entry probe last, so an
// invocation that gets a buffer also gets its statements and its return;
// Close detaches the entry probe first and the others after it (together:
// the kernel's waits overlap), then drains the ring buffer into Traces. Where the kernel has uprobe_multi links (a feature probe, not a
// version check), the return probe, the statements and the entry probe are
// three links, each detached with one wait; otherwise every probe is a
// single uprobe, each of which the kernel takes 20-120 ms to detach.
//
// The target filter is a map of tgids seeded with Options.PIDs. Processes
// they create are followed through the raw tracepoints task_newtask and
// sched_process_exit (see bpfgen's fork tracker), attached through the bpf
// syscall, so neither tracefs nor debugfs has to be mounted.
//
// errno() needs the offset of thread.fsbase in the running kernel's
// task_struct; TaskFSBaseOffset finds it once per process (fsbase.go) and
// Start completes Plan.Errno with it, or notes why errno() is unavailable.
//
// Records are decoded per statement with bpfgen.Slots, so each Record has one
// Value per variable of its statement: a scalar in U64, a string in Bytes.
package session
