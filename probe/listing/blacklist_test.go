package listing

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// alternatives returns the alternatives of an expression written
// ^(a|b|...)$, or ^(a|b|...) for a prefix, without nested groups.
func alternatives(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	src := strings.TrimSuffix(re.String(), "$")
	if !strings.HasPrefix(src, "^(") || !strings.HasSuffix(src, ")") || strings.Count(src, "(") != 1 {
		t.Fatalf("expression %q is not ^(a|b|...)$", src)
	}
	return strings.Split(src[2:len(src)-1], "|")
}

// TestBlacklistPrefilter checks that the prefilters pass every name the
// expressions can match: every alternative of blacklistFunc is one of
// funcNames or holds, outside its wildcards, one of funcLiterals, and
// every alternative of blacklistFile ends with one of fileEnds (or is
// one without its slash). It also checks Blacklisted on one name made
// from each alternative.
func TestBlacklistPrefilter(t *testing.T) {
	for _, alt := range alternatives(t, blacklistFunc) {
		example := strings.NewReplacer(".*", "", "[gs]", "g").Replace(alt)
		if !strings.ContainsAny(alt, ".*[\\") {
			if !funcNames[alt] {
				t.Errorf("function name %q is not in funcNames", alt)
			}
		} else {
			found := false
			for _, piece := range regexp.MustCompile(`\.\*|\[gs\]`).Split(alt, -1) {
				for _, l := range funcLiterals {
					found = found || strings.Contains(piece, l)
				}
			}
			if !found {
				t.Errorf("alternative %q holds none of funcLiterals", alt)
			}
		}
		if !Blacklisted(KernelProbe{Func: example}) {
			t.Errorf("%q (from %q) is not blacklisted", example, alt)
		}
	}
	for _, alt := range alternatives(t, blacklistFile) {
		plain := strings.ReplaceAll(alt, `\.`, ".")
		found := false
		for _, e := range fileEnds {
			found = found || strings.HasSuffix(plain, e) || plain == e[1:]
		}
		// The suffix must be literal: no wildcard in the last component.
		if !found || strings.Contains(plain[strings.LastIndex(plain, "/")+1:], "*") {
			t.Errorf("file alternative %q ends with none of fileEnds", alt)
		}
		example := strings.ReplaceAll(plain, ".*", "x")
		if !Blacklisted(KernelProbe{File: example}) {
			t.Errorf("file %q (from %q) is not blacklisted", example, alt)
		}
	}
	var plain []string
	for _, alt := range alternatives(t, blacklistSection) {
		plain = append(plain, strings.ReplaceAll(alt, `\.`, "."))
	}
	if !reflect.DeepEqual(plain, sectionPrefixes) {
		t.Errorf("blacklistSection's alternatives %q are not sectionPrefixes %q", plain, sectionPrefixes)
	}
	for _, sec := range append(plain, ".text", ".init", ".init.text", "x.init.text", ".exit.data", ".noinstr.text") {
		if got, want := blacklistedSection(sec), blacklistSection.MatchString(sec); got != want {
			t.Errorf("blacklistedSection(%q) = %v, the expression says %v", sec, got, want)
		}
	}
	for _, p := range []KernelProbe{{Func: "perf_copy_attr", File: "kernel/events/core.c"}, {Func: "x", File: "include/linux/seq_file.h"}} {
		if Blacklisted(p) {
			t.Errorf("%+v is blacklisted", p)
		}
	}
}
