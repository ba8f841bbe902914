// Package listing reproduces the rules of SystemTap 4.8 that decide which
// probe points `stap -L` lists and in what order, beyond what the DWARF
// says: the order in which it visits a unit's functions (the iteration
// order of libstdc++'s unordered_multimap with stap's string hash), the
// ELF aliases it files functions under, the symbol table it walks for
// functions without DWARF, and the location expressions libdw 0.188
// accepts. docs/stap-listing.md specifies them.
//
// Package probe asks these rules through its listing policy when it
// lists, and for the visiting order (which decides which of several
// functions claims a shared address) when it resolves for tracing.
package listing
