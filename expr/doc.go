// Package expr parses whythefail's CONDITION expressions (SystemTap syntax:
// $return, $parameters, integers, errno names, NULL, arithmetic,
// comparisons, &&, ||, !) into a tree that remembers columns for error
// messages, and compiles it to the condition tree bpfgen turns into BPF.
package expr
