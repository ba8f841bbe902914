// Package expr parses whythefail's CONDITION and VARIABLE expressions
// (SystemTap syntax: $return, $parameters, members, indexes, @var, @cast,
// integers, errno names, NULL, arithmetic, comparisons, &&, ||, !) into a
// tree that remembers columns for error messages, checks them against the
// DWARF types, and lowers them to the plain IR of package ir: a condition
// tree (Compile) and, for VARIABLE, the values to read at a statement with
// how to print them (Display). Package bpfgen turns that IR into BPF; expr
// itself knows nothing of BPF or of the report. Every mistake is an *Error.
package expr
