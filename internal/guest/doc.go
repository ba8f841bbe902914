// Package guest runs shell scripts in a qemu guest booting Debian 12's stock
// kernel, for the tests of kernel targets: the host that runs the tests may
// have no kprobes (CONFIG_KPROBES off), the guest's kernel has them, and
// kretprobes and fexit too.
//
// .ci/kernel prepares the guest once (Debian's kernel image, a busybox
// initramfs holding the 9p modules, see that script) under
// /var/cache/whythefail/guest/REL/, and names REL in
// /var/cache/whythefail/guest/current ($WHYTHEFAIL_GUEST_CACHE replaces the
// directory). Find locates it; Require does the same in a test, skipping
// with the reason (failing under CI=true) when qemu or the kernel are
// missing.
//
// One boot (Kernel.Run) runs several cases, because booting costs seconds
// and code runs several times slower under TCG (no KVM). The guest's /init
// mounts proc, sysfs, devtmpfs, tracefs and debugfs, loads the 9p modules,
// mounts two 9p shares: "ctl", a directory this package creates for the
// scripts and their outputs, at /ctl; and "host", the caller's directory
// (Config.Share), at /host. Each case runs as `sh` in /host with
// WHYTHEFAIL_GUEST=1 in its environment (Inside reports it), its output
// (stdout and stderr together) and exit status are read back from /ctl,
// and the guest powers off when the last case ends. The guest has 3 GB of
// memory.
//
// Programs for the guest must be static (the initramfs has no libc):
// Program compiles testdata/guest/NAME.c with gcc -static.
package guest
