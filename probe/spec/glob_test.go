package spec

import (
	"path"
	"strings"
	"testing"
)

func TestMatchFunc(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"main", "main", true},
		{"main", "main2", false},
		{"*", "anything", true},
		{"*", "", true},
		{"", "", true},
		{"", "x", false},
		{"*open", "perf_event_open", true},
		{"*open", "opened", false},
		{"*perf*open*", "__x64_sys_perf_event_open", true},
		{"sys_?", "sys_a", true},
		{"sys_?", "sys_ab", false},
		{"[a-c]x", "bx", true},
		{"[a-c]x", "dx", false},
		{"[^a-c]x", "dx", true},
		{"[!a-c]x", "dx", true},
		{"[!a-c]x", "ax", false},
		{`[\]]`, "]", true},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"ns::*", "ns::f", true},
		{"[a", "[a", false}, // malformed patterns match nothing
		{"é?", "éü", true},  // '?' is one rune, not one byte
	}
	for _, tt := range tests {
		if got := MatchFunc(tt.pattern, tt.name); got != tt.want {
			t.Errorf("MatchFunc(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestMatchFile(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"*", "/usr/src/prog.c", true},
		{"*", "prog.c", true},
		{"prog.c", "prog.c", true},
		{"prog.c", "/home/u/src/prog.c", true},
		{"prog.c", "/home/u/src/myprog.c", false},
		{"prog.c", "prog.cc", false},
		{"src/prog.c", "/home/u/src/prog.c", true},
		{"u/src/prog.c", "/home/u/src/prog.c", true},
		{"/home/u/src/prog.c", "/home/u/src/prog.c", true},
		{"/src/prog.c", "/home/u/src/prog.c", false},
		{"*.c", "/home/u/src/prog.c", true},
		{"*.h", "/home/u/src/prog.c", false},
		{"src/*.c", "/home/u/src/sub/prog.c", true}, // '*' crosses '/'
		{"fs/*.c", "fs/open.c", true},
		{"fs/*.c", "/build/linux/fs/open.c", true},
		{"p?og.c", "/x/prog.c", true},
		{"?", "/x/a", true},
		{"[", "/x/[", false},
	}
	for _, tt := range tests {
		if got := MatchFile(tt.pattern, tt.path); got != tt.want {
			t.Errorf("MatchFile(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

// TestMatchFuncAgreesWithPathMatch pins the promise that, on names without
// '/', our globs mean what path.Match means.
func TestMatchFuncAgreesWithPathMatch(t *testing.T) {
	patterns := []string{"*", "a*", "*a", "a?c", "[a-c]*", "[^b]?", `\*x`, "*b*", "a*b*c*d"}
	names := []string{"", "a", "b", "abc", "bbc", "*x", "abcd", "aXbXcXd", "cab"}
	for _, p := range patterns {
		for _, n := range names {
			want, err := path.Match(p, n)
			if err != nil {
				t.Fatalf("path.Match(%q): %v", p, err)
			}
			if got := MatchFunc(p, n); got != want {
				t.Errorf("MatchFunc(%q, %q) = %v, path.Match says %v", p, n, got, want)
			}
		}
	}
}

// TestMatchLinear guards against exponential backtracking on hostile
// patterns: with many stars this finishes instantly or not at all.
func TestMatchLinear(t *testing.T) {
	p := strings.Repeat("*a", 30) + "b"
	s := strings.Repeat("a", 5000)
	if MatchFunc(p, s) {
		t.Errorf("MatchFunc matched a name without 'b'")
	}
}
