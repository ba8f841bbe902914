package expr

import (
	"reflect"
	"testing"

	"github.com/whythefail/whythefail/expr/ir"
)

// TestDisplayErrno lowers errno() in VARIABLE: one signed 4-byte leaf that
// reads errno, printed in decimal, with or without pretty printing.
func TestDisplayErrno(t *testing.T) {
	for _, in := range []string{"errno()", "errno()$", "errno()$$"} {
		n, err := ParseVariable(in)
		if err != nil {
			t.Fatal(err)
		}
		vars, leaves, err := Display(in, n, Scope{})
		if err != nil {
			t.Fatalf("Display(%q): %v", in, err)
		}
		if want := []ir.Display{{Format: "dec", Size: 4}}; !reflect.DeepEqual(vars, want) {
			t.Errorf("Display(%q) vars = %+v, want %+v", in, vars, want)
		}
		if want := []ir.Var{{Name: "errno()", Errno: true, Size: 4, Signed: true}}; !reflect.DeepEqual(leaves, want) {
			t.Errorf("Display(%q) leaves = %+v, want %+v", in, leaves, want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"errno(2)", `variable "errno(2)": column 1: errno() takes no arguments`},
		{"pid()", `variable "pid()": column 1: VARIABLE must name something to read: a $variable, a member, an element, @var, @cast or errno()`},
	} {
		n, err := ParseVariable(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := Display(tc.in, n, Scope{}); err == nil || err.Error() != tc.want {
			t.Errorf("Display(%q) error\n got: %v\nwant: %s", tc.in, err, tc.want)
		}
	}
}

// TestUsesErrno finds errno() wherever an expression can hold it, and only
// there.
func TestUsesErrno(t *testing.T) {
	for in, want := range map[string]bool{
		"errno()":                            true,
		"$return == -1 && errno() == ENOENT": true,
		"!(errno() > 0)":                     true,
		"$a[errno()]":                        true,
		`user_string(errno()) == "x"`:        true,
		`@cast(errno(), "struct x")->y`:      true,
		"$return == -EINVAL":                 false,
		"pid() == 1":                         false,
		"$$vars":                             false,
	} {
		n, err := ParseVariable(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := UsesErrno(n); got != want {
			t.Errorf("UsesErrno(%q) = %v, want %v", in, got, want)
		}
	}
}
