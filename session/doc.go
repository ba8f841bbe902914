// Package session loads the generated BPF programs, attaches them to the
// target, keeps each invocation's trace speculatively in BPF maps, and delivers
// the committed traces through a ring buffer. It is the only package that
// touches the kernel.
package session
