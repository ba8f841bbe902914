package spec

import (
	"errors"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
	}{
		{`process("/bin/ls").function("main")`,
			Spec{Target: Process, Path: "/bin/ls", Point: Function, Func: "main", PathCol: 10, FuncCol: 30}},
		{`process("/usr/lib/x86_64-linux-gnu/libc.so.6").function("getaddrinfo").return`,
			Spec{Target: Process, Path: "/usr/lib/x86_64-linux-gnu/libc.so.6", Func: "getaddrinfo", Suffix: Return, PathCol: 10, FuncCol: 58}},
		{`process("./prog").function("*").call`,
			Spec{Target: Process, Path: "./prog", Func: "*", Suffix: Call, PathCol: 10, FuncCol: 29}},
		{`process("prog").function("inl*").inline`,
			Spec{Target: Process, Path: "prog", Func: "inl*", Suffix: Inline, PathCol: 10, FuncCol: 27}},
		{`process("prog").statement("do_open@prog.c:10-20")`,
			Spec{Target: Process, Path: "prog", Point: Statement, Func: "do_open", File: "prog.c",
				Lines: Lines{Kind: LineRange, From: 10, To: 20}, PathCol: 10, FuncCol: 28, FileCol: 36, LineCol: 43}},
		{`process("prog").statement("f@*:*")`,
			Spec{Target: Process, Path: "prog", Point: Statement, Func: "f", File: "*",
				Lines: Lines{Kind: AnyLine}, PathCol: 10, FuncCol: 28, FileCol: 30, LineCol: 32}},
		{`process("prog").statement("f@src/*.c:7")`,
			Spec{Target: Process, Path: "prog", Point: Statement, Func: "f", File: "src/*.c",
				Lines: Lines{Kind: OneLine, From: 7, To: 7}, PathCol: 10, FuncCol: 28, FileCol: 30, LineCol: 38}},
		{`process("prog").statement("f@a.c:5-5")`,
			Spec{Target: Process, Path: "prog", Point: Statement, Func: "f", File: "a.c",
				Lines: Lines{Kind: LineRange, From: 5, To: 5}, PathCol: 10, FuncCol: 28, FileCol: 30, LineCol: 34}},
		{`kernel.function("*perf_event_open").return`,
			Spec{Target: Kernel, Func: "*perf_event_open", Suffix: Return, FuncCol: 18}},
		{`kernel.statement("*perf_event_open@*:*")`,
			Spec{Target: Kernel, Point: Statement, Func: "*perf_event_open", File: "*",
				Lines: Lines{Kind: AnyLine}, FuncCol: 19, FileCol: 36, LineCol: 38}},
		{`kernel.function("sys_[a-c]?*@fs/*.c")`,
			Spec{Target: Kernel, Func: "sys_[a-c]?*", File: "fs/*.c", FuncCol: 18, FileCol: 30}},
		{`module("ext4").function("ext4_[!a]*")`,
			Spec{Target: Module, Path: "ext4", Func: "ext4_[!a]*", PathCol: 9, FuncCol: 26}},
		// Escapes: the pattern holds the unescaped bytes, columns point at
		// the input bytes (the backslash of an escape).
		{`process("/tmp/a \"b\"\\c").function("x\\*y@f:1")`,
			Spec{Target: Process, Path: `/tmp/a "b"\c`, Func: `x\*y`, File: "f",
				Lines: Lines{Kind: OneLine, From: 1, To: 1}, PathCol: 10, FuncCol: 38, FileCol: 44, LineCol: 46}},
		// Leading zeros are decimal, not octal.
		{`kernel.statement("f@a.c:010")`,
			Spec{Target: Kernel, Point: Statement, Func: "f", File: "a.c",
				Lines: Lines{Kind: OneLine, From: 10, To: 10}, FuncCol: 19, FileCol: 21, LineCol: 25}},
		{`kernel.statement("f@a.c:2147483647")`,
			Spec{Target: Kernel, Point: Statement, Func: "f", File: "a.c",
				Lines: Lines{Kind: OneLine, From: 1<<31 - 1, To: 1<<31 - 1}, FuncCol: 19, FileCol: 21, LineCol: 25}},
		// Spaces inside strings are part of the name (C++ operators).
		{`process("p").function("operator new")`,
			Spec{Target: Process, Path: "p", Func: "operator new", PathCol: 10, FuncCol: 24}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%s): %v", tt.in, err)
			continue
		}
		if *got != tt.want {
			t.Errorf("Parse(%s)\n got %+v\nwant %+v", tt.in, *got, tt.want)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, `probe point: column 1: expected "process", "kernel" or "module", found end of input`},
		{`syscall.open`, `probe point: column 1: expected "process", "kernel" or "module", found "syscall"`},
		{`Kernel.function("f")`, `probe point: column 1: expected "process", "kernel" or "module", found "Kernel"`},
		{`(`, `probe point: column 1: expected "process", "kernel" or "module", found "("`},
		{` kernel.function("f")`, `probe point: column 1: expected "process", "kernel" or "module", found whitespace (not allowed in a probe point outside strings)`},
		{`process`, `probe point: column 8: process needs a quoted argument: process("PATH"), found end of input`},
		{`process.function("main")`, `probe point: column 8: process needs a quoted argument: process("PATH"), found "."`},
		{`module.function("f")`, `probe point: column 7: module needs a quoted argument: module("NAME"), found "."`},
		{`process()`, `probe point: column 9: expected a double-quoted string after "process(", found ")"`},
		{`process(1234)`, `probe point: column 9: expected a double-quoted string after "process(", found "1"`},
		{`process("")`, `probe point: column 9: empty path name in process("")`},
		{`module("").function("f")`, `probe point: column 8: empty module name in module("")`},
		{`process("/bin/ls"`, `probe point: column 18: expected ")" to close "process(", found end of input`},
		{`process("/bin/ls)`, `probe point: column 9: unterminated string: add the closing '"'`},
		{`process("/bin/ls\`, `probe point: column 9: unterminated string: add the closing '"'`},
		{`process("/bin/ls")`, `probe point: column 19: expected ".function" or ".statement" after "process(...)", found end of input`},
		{`kernel`, `probe point: column 7: expected ".function" or ".statement" after "kernel", found end of input`},
		{`kernel("x").function("f")`, `probe point: column 7: expected ".function" or ".statement" after "kernel", found "("`},
		{`process("/bin/ls").`, `probe point: column 20: expected "function" or "statement" after "process(...).", found end of input`},
		{`process("/bin/ls").fnction("main")`, `probe point: column 20: expected "function" or "statement" after "process(...).", found "fnction"`},
		{`module("m").label("l")`, `probe point: column 13: expected "function" or "statement" after "module(...).", found "label"`},
		{`process("/bin/ls") .function("main")`, `probe point: column 19: expected ".function" or ".statement" after "process(...)", found whitespace (not allowed in a probe point outside strings)`},
		{`process("/bin/ls"). function("main")`, `probe point: column 20: expected "function" or "statement" after "process(...).", found whitespace (not allowed in a probe point outside strings)`},
		{`process("/bin/ls").function`, `probe point: column 28: expected "(" after "function", found end of input`},
		{`process("/bin/ls").function()`, `probe point: column 29: expected a double-quoted string after "function(", found ")"`},
		{`process("/bin/ls").function(0x401000)`, `probe point: column 29: expected a double-quoted string after "function(", found "0"`},
		{`process("/bin/ls").function("")`, `probe point: column 29: empty pattern: expected FUNC[@FILE[:LINE]]`},
		{`process("/bin/ls").function("main"`, `probe point: column 35: expected ")" to close "function(", found end of input`},
		{`kernel.function("f") `, `probe point: column 21: unexpected whitespace (not allowed in a probe point outside strings) after ".function(...)"`},
		{`kernel.function("f")x`, `probe point: column 21: unexpected "x" after ".function(...)"`},
		{`kernel.statement("f")x`, `probe point: column 22: unexpected "x" after ".statement(...)"`},
		{`kernel.function("f").`, `probe point: column 22: expected "call", "return" or "inline" after ".function(...).", found end of input`},
		{`kernel.function("f").retrun`, `probe point: column 22: expected "call", "return" or "inline" after ".function(...).", found "retrun"`},
		{"kernel.function(\"f\").\x01", `probe point: column 22: expected "call", "return" or "inline" after ".function(...).", found byte 0x01`},
		{`kernel.function("f").return.call`, `probe point: column 28: unexpected "." after ".return"`},
		{`kernel.function("f").return()`, `probe point: column 28: unexpected "(" after ".return"`},
		{`kernel.statement("f@a.c:1").return`, `probe point: column 29: statement probes take no suffix: ".return" is only valid after ".function(...)"`},
		{`kernel.statement("f").`, `probe point: column 23: statement probes take no suffix, found end of input`},
		{`kernel.function("@a.c")`, `probe point: column 18: missing function name before '@': use "*" for any function`},
		{`kernel.function("f@")`, `probe point: column 20: missing file name after '@': use "@*" for any file`},
		{`kernel.function("f@a.c:")`, `probe point: column 24: missing line after ':': expected N, N-M or "*"`},
		{`kernel.function("f@a.c:x")`, `probe point: column 24: bad line "x": expected N, N-M or "*"`},
		{`kernel.function("f@a.c:+3")`, `probe point: column 24: bad line "+3": expected N, N-M or "*"`},
		{`kernel.function("f@a.c:0")`, `probe point: column 24: line numbers start at 1`},
		{`kernel.function("f@a.c:9-3")`, `probe point: column 24: line range 9-3 is backwards: write 3-9`},
		{`kernel.function("f@a.c:3-")`, `probe point: column 26: missing line number: expected N, N-M or "*"`},
		{`kernel.function("f@a.c:-3")`, `probe point: column 24: missing line number: expected N, N-M or "*"`},
		{`kernel.function("f@a.c:1-2-3")`, `probe point: column 26: bad line "2-3": expected N, N-M or "*"`},
		{`kernel.function("f@a.c:2147483648")`, `probe point: column 24: line number 2147483648 is too large`},
		{`kernel.function("f@a.c:99999999999999999999")`, `probe point: column 24: line number 99999999999999999999 is too large`},
		{`kernel.function("f[a")`, `probe point: column 19: bad function pattern: unterminated '[' (write \\[ in the string for a literal '[')`},
		{`kernel.function("a\\\\[")`, `probe point: column 23: bad function pattern: unterminated '[' (write \\[ in the string for a literal '[')`},
		{`kernel.function("f@a[].c")`, `probe point: column 21: bad file pattern: empty character class`},
		{`kernel.function("f@a[!].c")`, `probe point: column 21: bad file pattern: empty character class`},
		{`kernel.function("f\\")`, `probe point: column 19: bad function pattern: trailing backslash: write \\\\ in the string for a literal backslash`},
		{`kernel.function("f\n")`, `probe point: column 19: unknown escape "\\n" in string: only \" and \\ are allowed`},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%s) = %v, want error %s", tt.in, got, tt.want)
			continue
		}
		if got != nil {
			t.Errorf("Parse(%s) returned both %v and an error", tt.in, got)
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%s) error %T is not a *SyntaxError", tt.in, err)
			continue
		}
		if se.Input != tt.in {
			t.Errorf("Parse(%s): SyntaxError.Input = %q", tt.in, se.Input)
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%s)\n got %s\nwant %s", tt.in, err, tt.want)
		}
	}
}

func TestSyntaxErrorCaret(t *testing.T) {
	_, err := Parse(`process("/bin/ls").fnction("main")`)
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a *SyntaxError", err)
	}
	want := "process(\"/bin/ls\").fnction(\"main\")\n" +
		"                   ^"
	if got := se.Caret(); got != want {
		t.Errorf("Caret:\n%s\nwant:\n%s", got, want)
	}
}

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{`process("/bin/ls").function("main")`, `process("/bin/ls").function("main")`},
		{`process("p").function("f").call`, `process("p").function("f").call`},
		{`process("p").function("f").return`, `process("p").function("f").return`},
		{`module("m").function("f").inline`, `module("m").function("f").inline`},
		{`kernel.statement("f@a.c:010")`, `kernel.statement("f@a.c:10")`},
		{`kernel.statement("f@*:*")`, `kernel.statement("f@*:*")`},
		{`kernel.statement("f@a.c:3-4")`, `kernel.statement("f@a.c:3-4")`},
		{`process("/a \"b\"\\").function("x\\*")`, `process("/a \"b\"\\").function("x\\*")`},
	}
	for _, tt := range tests {
		sp, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%s): %v", tt.in, err)
		}
		if got := sp.String(); got != tt.want {
			t.Errorf("Parse(%s).String() = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestLinesContains(t *testing.T) {
	tests := []struct {
		l    Lines
		n    int
		want bool
	}{
		{Lines{}, 7, true},
		{Lines{Kind: AnyLine}, 7, true},
		{Lines{Kind: OneLine, From: 7, To: 7}, 7, true},
		{Lines{Kind: OneLine, From: 7, To: 7}, 8, false},
		{Lines{Kind: LineRange, From: 3, To: 5}, 2, false},
		{Lines{Kind: LineRange, From: 3, To: 5}, 3, true},
		{Lines{Kind: LineRange, From: 3, To: 5}, 5, true},
		{Lines{Kind: LineRange, From: 3, To: 5}, 6, false},
	}
	for _, tt := range tests {
		if got := tt.l.Contains(tt.n); got != tt.want {
			t.Errorf("%+v.Contains(%d) = %v, want %v", tt.l, tt.n, got, tt.want)
		}
	}
}
