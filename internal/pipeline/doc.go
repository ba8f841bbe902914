// Package pipeline holds no code: its test checks the shape of the module.
// Packages are stages of one pipeline, and a package may import only
// packages of earlier stages (and the helpers outside the order):
//
//	debuginfod → target → source → debuginfo/dwarfsec → debuginfo →
//	probe/spec → insn → probe/listing → probe → expr → bpfgen →
//	session → report → tracer → internal/cli → cmd/whythefail
//
// Outside the order, importable by any stage and importing none:
// debuginfo/bidcache, internal/elfnote, internal/nearest, internal/timing,
// and the test helpers internal/fixture, internal/staporacle,
// internal/debuginfodtest.
// No stage before bpfgen depends on cilium/ebpf: resolution and
// expressions never touch the kernel. docs/architecture.md explains the
// order; pipeline_test.go is where it is written down.
package pipeline
