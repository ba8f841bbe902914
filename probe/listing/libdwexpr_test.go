package listing

import (
	"encoding/hex"
	"testing"
)

// TestLibdwParses lists expressions libdw 0.188 reads and refuses.
func TestLibdwParses(t *testing.T) {
	for _, c := range []struct {
		hex  string
		want bool
	}{
		{"", false},                      // empty: nothing at this address
		{"55", true},                     // DW_OP_reg5
		{"55f0", false},                  // DW_OP_reg5; DW_OP_GNU_uninit
		{"f0", false},                    // DW_OP_GNU_uninit alone
		{"917f", true},                   // DW_OP_fbreg -1
		{"03f000000000000000", true},     // DW_OP_addr 0xf0: an operand, not an op
		{"03f0", false},                  // DW_OP_addr cut short
		{"a3015509ff1a9f", true},         // entry_value(reg5) const1s -1 and stack_value
		{"a30555", false},                // entry_value block longer than the expression
		{"5093085193089f", true},         // reg0 piece 8 reg1 piece 8 stack_value
		{"9201", false},                  // bregx without its offset
		{"f204000000" + "00", true},      // GNU_implicit_pointer <ref4> 0
		{"a40104", false},                // const_type size 4 with no bytes
		{"a4010400000000", true},         // const_type size 4
		{"e0", true},                     // GNU_push_tls_address
		{"ff", false},                    // unknown opcode
		{"a602" + "00", true},            // deref_type 2 <type 0>
		{"a602", false},                  // deref_type without the type
		{"0c01020304" + "f0", false},     // const4u then GNU_uninit
		{"0c010203f0", true},             // const4u whose last byte is 0xf0
		{"9e02abcd", true},               // implicit_value 2 bytes
		{"9e03abcd", false},              // implicit_value block cut short
		{"1080808080808080808001", true}, // constu with a long LEB128
	} {
		b, err := hex.DecodeString(c.hex)
		if err != nil {
			t.Fatal(err)
		}
		if got := ExprParses(b); got != c.want {
			t.Errorf("ExprParses(%s) = %v, want %v", c.hex, got, c.want)
		}
	}
}

// FuzzLibdwParses checks that no input panics and that a readable
// expression followed by DW_OP_GNU_uninit is refused, as libdw 0.188 does.
func FuzzLibdwParses(f *testing.F) {
	for _, s := range []string{"55", "917f", "a3015509ff1a9f", "5093085193089f", "03f000000000000000"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if ExprParses(b) && ExprParses(append(append([]byte(nil), b...), 0xf0)) {
			t.Errorf("%x accepted with DW_OP_GNU_uninit appended", b)
		}
	})
}
