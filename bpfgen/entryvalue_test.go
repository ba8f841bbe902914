package bpfgen

import (
	"testing"

	"github.com/whythefail/whythefail/internal/dwop"
)

// TestUsesEntryValue: an entry value anywhere in the expression, in
// either form, is found; plain locations are not flagged; bytes that do
// not decode count as using one (never read wrongly).
func TestUsesEntryValue(t *testing.T) {
	for _, c := range []struct {
		name string
		expr []byte
		want bool
	}{
		{"reg5", []byte{dwop.Reg0 + 5}, false},
		{"fbreg -20", []byte{dwop.Fbreg, 0x6c}, false},
		{"entry_value(reg5) stack_value", []byte{dwop.EntryValue, 1, dwop.Reg0 + 5, dwop.StackValue}, true},
		{"GNU_entry_value(reg4)", []byte{dwop.GNUEntryValue, 1, dwop.Reg0 + 4, dwop.StackValue}, true},
		{"breg3 0; entry_value(reg5); plus", []byte{dwop.Breg0 + 3, 0, dwop.EntryValue, 1, dwop.Reg0 + 5, dwop.Plus, dwop.StackValue}, true},
		{"truncated", []byte{dwop.EntryValue, 5, dwop.Reg0}, true},
	} {
		if got := UsesEntryValue(c.expr); got != c.want {
			t.Errorf("%s: UsesEntryValue = %v, want %v", c.name, got, c.want)
		}
	}
}
