// Package staporacle runs SystemTap's `stap -L` so tests can check our probe
// listings against the tool they imitate.
//
// stap refuses to run, even just to list user-space probe points, unless the
// running kernel's build tree /lib/modules/$(uname -r)/build exists with a
// .config that enables uprobes. Test machines have no kernel headers, so List
// creates a minimal stand-in tree for the duration of each stap run, and
// removes it afterwards because its presence misleads other tools (bpftrace
// then looks for kernel headers in it). A file lock serializes this across
// parallel tests and test processes.
package staporacle
