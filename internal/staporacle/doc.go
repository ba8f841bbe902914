// Package staporacle runs SystemTap's `stap -L` so tests can check our probe
// listings against the tool they imitate.
//
// stap refuses to run, even just to list user-space probe points, unless it
// is given a kernel build tree whose .config enables uprobes, and it refuses
// .return probes unless that tree's System.map names
// arch_uretprobe_hijack_return_addr (docs/stap-listing.md, section 0). Test
// machines have no kernel headers, so List writes a minimal stand-in tree to
// a private directory and passes it with `stap -r DIR`: nothing under
// /lib/modules is touched, no root is needed, and parallel runs do not
// interfere.
package staporacle
