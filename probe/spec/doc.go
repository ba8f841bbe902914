// Package spec parses SystemTap probe-point specifications such as
//
//	process("/bin/prog").statement("do_open@prog.c:10-20")
//	kernel.function("*perf_event_open").return
//
// into a typed Spec that remembers the column of each part for error messages.
package spec
