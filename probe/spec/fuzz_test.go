package spec

import (
	"errors"
	"path"
	"strings"
	"testing"
)

// FuzzParse checks that Parse returns exactly one of a Spec and an error,
// that every error is a *SyntaxError pointing into the input, and that the
// canonical form of a parsed Spec parses back to the same Spec.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`process("/bin/ls").function("main")`,
		`process("prog").statement("do_open@prog.c:10-20")`,
		`process("/a \"b\"\\").function("x\\*@*:*").return`,
		`kernel.function("*perf_event_open").call`,
		`module("ext4").function("ext4_[!a]*@fs/*.c:1").inline`,
		`kernel.statement("f@a.c:0")`,
		`process`,
		``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sp, err := Parse(in)
		if (sp == nil) == (err == nil) {
			t.Fatalf("Parse(%q) = %v, %v: want exactly one non-nil", in, sp, err)
		}
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): error %T is not a *SyntaxError", in, err)
			}
			if se.Col < 1 || se.Col > len(in)+1 {
				t.Fatalf("Parse(%q): column %d outside the input", in, se.Col)
			}
			_ = se.Caret()
			return
		}
		out := sp.String()
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", in, out, err)
		}
		if !equalIgnoringColumns(sp, back) {
			t.Fatalf("round trip of %q through %q:\n got %+v\nwant %+v", in, out, *back, *sp)
		}
		if again := back.String(); again != out {
			t.Fatalf("String is not canonical: %q then %q", out, again)
		}
	})
}

func equalIgnoringColumns(a, b *Spec) bool {
	x, y := *a, *b
	x.PathCol, x.FuncCol, x.FileCol, x.LineCol = 0, 0, 0, 0
	y.PathCol, y.FuncCol, y.FileCol, y.LineCol = 0, 0, 0, 0
	return x == y
}

// FuzzMatch checks that matching never panics, that a file pattern matching
// a path as a function pattern would also matches it as a file pattern, and
// that on names without '/' our globs agree with path.Match whenever both
// accept the pattern (fnmatch's "[!" is ours alone, so it is left out).
func FuzzMatch(f *testing.F) {
	f.Add("*a?[b-c]", "xabc")
	f.Add(`[^\]]*`, "q]")
	f.Add("src/*.c", "/u/src/x.c")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		fn := MatchFunc(pattern, name)
		if fn && !MatchFile(pattern, name) {
			t.Fatalf("MatchFunc(%q, %q) but not MatchFile", pattern, name)
		}
		if strings.ContainsAny(pattern+name, "/!") {
			return
		}
		want, err := path.Match(pattern, name)
		if _, msg := checkGlob(pattern); err != nil || msg != "" {
			return
		}
		if fn != want {
			t.Fatalf("MatchFunc(%q, %q) = %v, path.Match says %v", pattern, name, fn, want)
		}
	})
}
