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
// Kernel targets (Plan.Attach is target.AttachKprobe, see kprobe.go): a
// kprobe at each statement's symbol+offset and at the entry, every offset
// first checked to start an instruction of the code the plan carries; the
// return is an fexit program where the kernel loads one for the function
// (HaveFexit), else a kretprobe whose missed returns are counted
// (Stats.ReturnMisses); hits the kernel skipped because another BPF
// program was running are counted too (Stats.ProgramMisses). A kernel
// without kprobes is refused in one line (ErrNoKprobes). Kernel
// invocations are keyed by thread and kernel stack, so a hit in interrupt
// context never lands in a task's invocation (bpfgen's kernelKey). The
// kretprobe asks for more instances than the perf PMU allows, so it is
// made through tracefs where tracefs is mounted.
//
// Records are decoded per statement with bpfgen.Slots, so each Record has one
// Value per variable of its statement: a scalar in U64, a string in Bytes.
package session
