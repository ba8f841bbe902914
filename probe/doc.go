// Package probe resolves a probe-point specification against a target's debug
// information into concrete probe points (address, file offset, source
// location, variables in scope), and formats them as `stap -L` does.
// Resolver.Resolve gives the points to attach; Resolver.List the points
// stap -L lists, through SystemTap's listing rules (package
// probe/listing). The difference is one policy chosen by the call, never
// a flag that tracing runs through.
//
// Resolution is deterministic and never touches the kernel: it is the "spec"
// half of the pipeline, and the session package is the half that attaches.
package probe
