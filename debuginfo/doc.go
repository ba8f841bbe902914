// Package debuginfo indexes the DWARF of one target: its functions (concrete
// and inlined instances), their line tables, the variables in scope at each
// address with their location descriptions, and the spelling of their types
// the way SystemTap prints them.
//
// It reads only files; it never touches the kernel.
package debuginfo
