package expr

import (
	"strings"
	"testing"

	"github.com/whythefail/whythefail/expr/ir"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"$return == -22", "($return == (-22))"},
		{"$return == -EINVAL", "($return == (-EINVAL))"},
		{"$return < 0 && $fd != 3", "(($return < 0) && ($fd != 3))"},
		{"!($return == 0) || $x", "((!($return == 0)) || $x)"},
		{"1", "1"},
		{"0x10 + 2 * 3", "(16 + (2 * 3))"},
		{"$p == NULL", "($p == NULL)"},
		{`execname() == "cat"`, `(execname() == "cat")`},
		{`user_string($name) != "x\"y"`, `(user_string($name) != "x\"y")`},
		{"randint(100) < 20", "(randint(100) < 20)"},
		{"$c->workers", "$c->workers"},
		{"$c->a->b", "$c->a->b"},
		{"$c.workers", "$c->workers"},
		{"$p[2]", "$p[2]"},
		{"*$p", "(*$p)"},
		{"&$var", "(&$var)"},
		{"$var$", "$var$"},
		{"$var$$", "$var$$"},
		{"$c->name$", "$c->name$"},
		{"$$vars", "$$vars"},
		{"$$locals$", "$$locals$"},
		{"$$parms$$", "$$parms$$"},
		{`@var("counter")`, `@var("counter")`},
		{`@var("counter@file.c")`, `@var("counter@file.c")`},
		{`@cast($p, "struct cfg")->workers`, `@cast($p, "struct cfg")->workers`},
		{`@cast($p, "struct cfg", "/bin/x")`, `@cast($p, "struct cfg", "/bin/x")`},
		{"pid() == 42 && tid() > uid()", "((pid() == 42) && (tid() > uid()))"},
		{"errno() == ENOENT", "(errno() == ENOENT)"},
		{"errno()", "errno()"},
		{"$a << 2 >> 1", "(($a << 2) >> 1)"},
		{"$a & 1 | $b ^ 2", "(($a & 1) | ($b ^ 2))"},
	} {
		n, err := ParseVariable(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := Format(n); got != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `condition "": column 1: empty condition (use 1 to trace every invocation)`},
		{"$return ==", `condition "$return ==": column 11: expected a value at the end of the expression`},
		{"$return == -EINVALL", `condition "$return == -EINVALL": column 13: unknown errno name "EINVALL" (did you mean EINVAL?)`},
		{"$return = 1", `condition "$return = 1": column 9: unexpected character '='`},
		{"($return == 1", `condition "($return == 1": column 14: expected ) to close the ( at column 1, found "the end"`},
		{"return == 1", `condition "return == 1": column 1: unknown name "return": use $return for a variable`},
		{"$return == 1)", `condition "$return == 1)": column 13: unexpected ")" after the end of the expression`},
		{`"abc`, `condition "\"abc": column 1: unterminated string`},
		{"$$foo", `condition "$$foo": column 1: unknown $$foo: use $$vars, $$locals or $$parms`},
		{"@foo(1)", `condition "@foo(1)": column 1: unknown @foo: use @var("name") or @cast(expr, "type")`},
		{`@var(x)`, `condition "@var(x)": column 6: @var takes a quoted string here`},
		{`@cast($p)`, `condition "@cast($p)": column 9: expected , between @cast's expression and type, found ")"`},
		{"$c->", `condition "$c->": column 5: expected a member name after ->`},
		{"$p[1", `condition "$p[1": column 5: expected ] to close the [, found "the end"`},
		{"$x$$$", `condition "$x$$$": column 5: at most two $ after an expression ($ or $$)`},
		{"f(1 2)", `condition "f(1 2)": column 5: expected , or ) in the arguments of f()`},
		{"99999999999999999999", `condition "99999999999999999999": column 1: bad number "99999999999999999999"`},
		{"$", `condition "$": column 1: expected a variable name after $`},
		{"$return == -1 && errno == 2", `condition "$return == -1 && errno == 2": column 18: unknown name "errno": the calling thread's errno is errno()`},
	} {
		_, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error %s", tc.in, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Parse(%q) error\n got: %s\nwant: %s", tc.in, err, tc.want)
		}
	}
}

func TestCompileCondition(t *testing.T) {
	env := Env{Params: map[string]ir.Param{"fd": {Name: "fd", Index: 0, Size: 4, Signed: true}}, Unreadable: map[string]string{"st": "it is not passed in an integer register"}}
	for _, tc := range []struct{ in, want string }{
		{"$return == -22", "($return == -22)"},
		{"$return == -EINVAL && $fd > 2", "(($return == -22) && ($fd > 2))"},
		{"1", "<nil>"},
		{"2 > 1", "<nil>"},
		{"!$return", "($return == 0)"},
		{"-$return == 22", "((0 - $return) == 22)"},
		{`execname() == "demo"`, `(execname() == "demo")`},
		{`"demo" != execname()`, `!(execname() == "demo")`},
		{`user_string($fd) == "x"`, `(user_string($fd) == "x")`},
		{"pid() == 42 && tid() != uid()", "((pid() == 42) && (tid() != uid()))"},
		{"randint(100) < 20", "(randint(100) < 20)"},
		{"$return == -1 && errno() == ENOENT", "(($return == -1) && (errno() == 2))"},
		{"errno() != EAGAIN && errno()", "((errno() != 11) && errno())"},
		{"-errno() == -EINVAL", "((0 - errno()) == -22)"},
		{"$return * 2 ^ 1 << 3 >> 1 == ~$fd", "(($return * 2) ^ (4 == ~$fd))"},
	} {
		n, err := Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Compile(tc.in, n, env)
		if err != nil {
			t.Errorf("Compile(%q): %v", tc.in, err)
			continue
		}
		got := "<nil>"
		if c != nil {
			got = c.String()
		}
		if got != tc.want {
			t.Errorf("Compile(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"$nope == 1", `condition "$nope == 1": column 1: unknown variable $nope; the parameters are $fd, and $return`},
		{"$st == 1", `condition "$st == 1": column 1: $st cannot be read at return: it is not passed in an integer register`},
		{"1 / 0", `condition "1 / 0": column 3: division by zero`},
		{"$return / 2", `condition "$return / 2": column 9: operator / on a variable is not supported yet`},
		{"$$vars", `condition "$$vars": column 1: $$vars is a list of variables, not a value: name one variable`},
		{"nosuch()", `condition "nosuch()": column 1: unknown function nosuch(): conditions know pid(), tid(), uid(), errno(), execname(), randint(N) and user_string(p)`},
		{"errno(1) == 2", `condition "errno(1) == 2": column 1: errno() takes no arguments`},
		{`errno() == "x"`, `condition "errno() == \"x\"": column 12: a string can only be compared with execname() or user_string(...)`},
		{`$fd == "x"`, `condition "$fd == \"x\"": column 8: a string can only be compared with execname() or user_string(...)`},
		{`execname() == "a-very-long-program-name"`, `condition "execname() == \"a-very-long-program-name\"": column 15: execname() is at most 15 characters (the kernel's comm): "a-very-long-program-name" never matches`},
		{"randint($fd)", `condition "randint($fd)": column 9: randint(N) needs a constant N from 1 to 2^32`},
		{"execname()", `condition "execname()": column 1: execname() gives a string: compare it with a string, as in execname(...) == "x"`},
	} {
		n, err := Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Compile(tc.in, n, env)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Compile(%q) error\n got: %v\nwant: %s", tc.in, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"$return == -22", "$c->a[2]$$", `@cast($p, "struct x")->y`, `execname() == "a"`, "!(-1 + $x) || y", "$$vars$", "$return == -1 && errno() == ENOENT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseVariable(s)
		if (n == nil) == (err == nil) {
			t.Fatalf("Parse(%q) = %v, %v: want exactly one of node and error", s, n, err)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "column ") {
				t.Fatalf("error without a column: %v", err)
			}
			return
		}
		text := Format(n)
		n2, err := ParseVariable(text)
		if err != nil {
			t.Fatalf("Format(Parse(%q)) = %q does not parse: %v", s, text, err)
		}
		if Format(n2) != text {
			t.Fatalf("round trip of %q: %q then %q", s, text, Format(n2))
		}
	})
}
