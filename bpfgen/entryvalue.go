package bpfgen

import "github.com/whythefail/whythefail/internal/dwop"

// UsesEntryValue reports whether a location expression reads a
// parameter's value at entry (DW_OP_entry_value and its GNU form), which
// the generated programs read from the registers copied at the traced
// function's entry: right for the traced function, wrong for any other
// function's statements (--follow's origin). An expression that does not
// decode counts as using one.
func UsesEntryValue(expr []byte) bool {
	ops, err := decodeExpr(expr)
	if err != nil {
		return true
	}
	for _, o := range ops {
		if o.code == dwop.EntryValue || o.code == dwop.GNUEntryValue {
			return true
		}
	}
	return false
}
