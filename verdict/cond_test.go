package verdict

import (
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

func TestCondition(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{"\t\tif (workers > 8)", "workers > 8"},
		{"} else if (strcmp(flags, \"debug\") == 0) {", `strcmp(flags, "debug") == 0`},
		{"for (i = 0; i < n; i++) {", "i < n"},
		{"while ((p = next(p)) != NULL)", "(p = next(p)) != NULL"},
		{"switch (kind) {", ""},
		{"x = 1; // if (a)", "a"},
		{"notif (a)", ""},
		{"if (a", ""},
		{"return -EINVAL;", ""},
	} {
		got, ok := condition(c.line)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("condition(%q) = %q, %v; want %q", c.line, got, ok, c.want)
		}
	}
}

func TestTerms(t *testing.T) {
	ts := terms("a > 1 && !(b <= 2) || p->q[3] == 'x' || !bad || x >> 2 > y")
	want := []term{
		{Text: "a > 1", L: "a", Op: ">", R: "1"},
		{Text: "!(b <= 2)", L: "b", Op: "<=", R: "2", Neg: true},
		{Text: "p->q[3] == 'x'", L: "p->q[3]", Op: "==", R: "'x'"},
		{Text: "!bad", L: "bad", Neg: true},
		{Text: "x >> 2 > y", L: "x >> 2", Op: ">", R: "y"},
	}
	if len(ts) != len(want) {
		t.Fatalf("terms = %+v", ts)
	}
	for i := range want {
		if ts[i] != want[i] {
			t.Errorf("term %d = %+v, want %+v", i, ts[i], want[i])
		}
	}
	if one := terms("workers > 8"); len(one) != 1 || !one[0].whole {
		t.Errorf("terms of one comparison = %+v, want it whole", one)
	}
}

func TestLiteral(t *testing.T) {
	for s, want := range map[string]int64{"8": 8, "0x7ff": 2047, "010": 8, "'*'": 42, "NULL": 0, "-4096": -4096, "64u": 64, "2UL": 2} {
		if got, ok := literal(s); !ok || got != want {
			t.Errorf("literal(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{"n", "AI_ALL", "1.5", ""} {
		if _, ok := literal(s); ok {
			t.Errorf("literal(%q) is a literal", s)
		}
	}
}

// TestJumps checks each condition code on the flags of cmp a, b.
func TestJumps(t *testing.T) {
	flags := func(a, b int32) uint64 {
		r := a - b
		var f uint64
		if uint32(a) < uint32(b) {
			f |= flagCF
		}
		if r == 0 {
			f |= flagZF
		}
		if r < 0 {
			f |= flagSF
		}
		if (a < 0) != (b < 0) && (r < 0) != (a < 0) {
			f |= flagOF
		}
		return f
	}
	for _, p := range [][2]int32{{16, 8}, {8, 8}, {-1, 8}, {8, -1}, {-2147483648, 1}, {0, 0}} {
		a, b := p[0], p[1]
		f := flags(a, b)
		for op, want := range map[x86asm.Op]bool{
			x86asm.JG: a > b, x86asm.JGE: a >= b, x86asm.JL: a < b, x86asm.JLE: a <= b,
			x86asm.JA: uint32(a) > uint32(b), x86asm.JAE: uint32(a) >= uint32(b), x86asm.JB: uint32(a) < uint32(b), x86asm.JBE: uint32(a) <= uint32(b),
			x86asm.JE: a == b, x86asm.JNE: a != b,
		} {
			if got := jumps(op, f); got != want {
				t.Errorf("cmp %d, %d: %v jumps %v, want %v", a, b, op, got, want)
			}
			if rel := jccRel[op]; holds(int64(a), rel, int64(b), unsignedJcc(op)) != want && !unsignedJcc(op) {
				t.Errorf("holds(%d %s %d) disagrees with %v", a, rel, b, op)
			}
		}
	}
}

// FuzzCondition: the source-line parsers never panic, and every term of a
// condition is a piece of it.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{"if (workers > 8)", "for (;;)", "while (!(a && (b || c[1] >= 'x')))", "if (((", "if ()", "if (a->b & ~(X|Y))"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cond, ok := condition(line)
		if !ok {
			return
		}
		for _, tm := range terms(cond) {
			if len(tm.Text) > len(cond) {
				t.Errorf("term %q longer than the condition %q", tm.Text, cond)
			}
			literal(tm.L)
			literal(tm.R)
		}
	})
}
