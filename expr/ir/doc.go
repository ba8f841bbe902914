// Package ir is the intermediate representation the expression compiler
// (package expr) produces and the BPF generator (package bpfgen) consumes:
// conditions on an invocation (Cond trees), the values to read at a
// statement with their access paths (Var, Step), and how a VARIABLE
// expression's values are printed (Display). It is plain data: it imports
// no BPF library and nothing later in the pipeline.
package ir
