package spec

import (
	"strings"
	"unicode/utf8"
)

// Glob syntax, shared by function and file patterns. It follows path.Match
// (`*`, `?`, `[abc]`, `[a-z]`, `[^a]`, `\x` quotes x) and also accepts
// fnmatch's `[!a]` for negation, because stap patterns are written for
// fnmatch. Unlike path.Match, `*` and `?` also match '/', as fnmatch does
// without FNM_PATHNAME, which is how stap matches both functions and files.
// POSIX classes such as `[[:alpha:]]` are not supported.

// MatchFunc reports whether a function name matches a FUNC glob. Function
// names hold no '/', so this agrees with path.Match on them; a malformed
// pattern matches nothing (Parse rejects malformed patterns).
func MatchFunc(pattern, name string) bool {
	return globMatch(pattern, name)
}

// MatchFile reports whether a source file path matches a FILE glob. Pass
// the name as stap sees it: a line-table file name joined with its
// directory entry (elfutils' dwarf_filesrc), usually absolute.
//
// Like stap, the pattern matches either the whole path or any suffix of it
// that starts after a '/': "@prog.c" matches "prog.c" and "/src/prog.c" but
// not "/src/myprog.c"; "@src/*.c" matches "/home/u/src/prog.c"; "@*" matches
// every file, since `*` crosses '/'.
func MatchFile(pattern, path string) bool {
	if globMatch(pattern, path) {
		return true
	}
	// stap (dwflpp, PR 5049) also tries "*/"+pattern; since `*` crosses
	// '/', that is the same as trying each suffix after a '/'.
	for i := 0; i < len(path); i++ {
		if path[i] == '/' && globMatch(pattern, path[i+1:]) {
			return true
		}
	}
	return false
}

// checkGlob validates a glob. It returns the byte index of the problem and
// a message, or "" when the pattern is well formed.
func checkGlob(p string) (int, string) {
	for i := 0; i < len(p); {
		switch p[i] {
		case '\\':
			if i+1 >= len(p) {
				return i, `trailing backslash: write \\\\ in the string for a literal backslash`
			}
			_, w := utf8.DecodeRuneInString(p[i+1:])
			i += 1 + w
		case '[':
			end, ok := classEnd(p, i)
			if !ok {
				return i, "unterminated '[' (write \\\\[ in the string for a literal '[')"
			}
			if end == i+1+negLen(p, i) {
				return i, "empty character class"
			}
			i = end + 1
		default:
			i++
		}
	}
	return 0, ""
}

// negLen is the length of a negation marker after the '[' at i.
func negLen(p string, i int) int {
	if i+1 < len(p) && (p[i+1] == '^' || p[i+1] == '!') {
		return 1
	}
	return 0
}

// classEnd returns the index of the ']' closing the class opened at i.
func classEnd(p string, i int) (int, bool) {
	j := i + 1 + negLen(p, i)
	for j < len(p) {
		switch p[j] {
		case ']':
			return j, true
		case '\\':
			j += 2
		default:
			j++
		}
	}
	return 0, false
}

// matchClass reports whether r is in the class p[i:end+1] (p[i] == '[').
func matchClass(p string, i, end int, r rune) bool {
	neg := negLen(p, i) == 1
	j := i + 1
	if neg {
		j++
	}
	in := false
	for j < end {
		lo, w := classRune(p, j)
		j += w
		hi := lo
		if j+1 < end && p[j] == '-' {
			hi, w = classRune(p, j+1)
			j += 1 + w
		}
		if lo <= r && r <= hi {
			in = true
		}
	}
	return in != neg
}

// classRune decodes one possibly backslash-quoted rune of a class.
func classRune(p string, j int) (rune, int) {
	if p[j] == '\\' && j+1 < len(p) {
		r, w := utf8.DecodeRuneInString(p[j+1:])
		return r, 1 + w
	}
	return utf8.DecodeRuneInString(p[j:])
}

// globMatch matches the whole of s. A `*` matches any sequence, so it is
// enough to remember the last star and let it swallow one more byte on each
// mismatch: O(len(p)·len(s)) without recursion, whatever the input.
func globMatch(p, s string) bool {
	if _, msg := checkGlob(p); msg != "" {
		return false
	}
	pi, si := 0, 0
	starP, starS := -1, 0
	for {
		if pi < len(p) && p[pi] == '*' {
			starP, starS = pi, si
			pi++
			continue
		}
		if si == len(s) && pi == len(p) {
			return true
		}
		if si < len(s) && pi < len(p) {
			r, w := utf8.DecodeRuneInString(s[si:])
			switch p[pi] {
			case '?':
				pi++
				si += w
				continue
			case '[':
				end, _ := classEnd(p, pi)
				if matchClass(p, pi, end, r) {
					pi = end + 1
					si += w
					continue
				}
			case '\\':
				_, lw := utf8.DecodeRuneInString(p[pi+1:])
				if strings.HasPrefix(s[si:], p[pi+1:pi+1+lw]) {
					pi += 1 + lw
					si += lw
					continue
				}
			default:
				if p[pi] == s[si] {
					pi++
					si++
					continue
				}
			}
		}
		// Mismatch, or one side ran out: let the last star swallow one more
		// byte and retry. Bytes, not runes, as in path.Match: '?' consumes a
		// whole rune, so a star may have to stop inside one (FuzzMatch found
		// both cases).
		if starP < 0 || starS >= len(s) {
			return false
		}
		starS++
		pi, si = starP+1, starS
	}
}
