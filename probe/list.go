package probe

import (
	"fmt"
	"github.com/whythefail/whythefail/internal/nearest"
	"sort"
	"strings"

	"github.com/whythefail/whythefail/probe/spec"
)

// List formats points as stap -L (withVars) or stap -l prints them: one
// line per distinct probe point, sorted as strings. Points that print the
// same (an out-of-line function and its inlined instances, one line in
// several instances) are merged as stap merges them: a "$name:type" is kept
// only if it occurs as many times, over the merged points, as there are
// points; so the merged row has the variables they share, and a variable
// shadowed by one of the same name and type is dropped.
func List(pts []*Point, withVars bool) []string {
	groups := make(map[string][]*Point)
	var keys []string
	for _, p := range pts {
		k := p.String()
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], p)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if !withVars {
			out = append(out, k)
			continue
		}
		g := groups[k]
		var b strings.Builder
		b.WriteString(k)
		if rt := g[0].ReturnType; rt != "" {
			b.WriteString(" $return:" + rt)
		}
		count := make(map[string]int)
		var order []string
		for _, p := range g {
			for _, t := range p.varTexts() {
				if count[t] == 0 {
					order = append(order, t)
				}
				count[t]++
			}
		}
		for _, t := range order {
			if count[t] == len(g) {
				b.WriteString(" " + t)
			}
		}
		out = append(out, b.String())
	}
	return out
}

// noMatch explains that nothing matched, suggesting the nearest names.
func (r *Resolver) noMatch(s *spec.Spec) error {
	var names []string
	seen := make(map[string]bool)
	if r.Data != nil {
		for _, fn := range r.Data.Funcs {
			if fn.Name != "" && !seen[fn.Name] {
				seen[fn.Name] = true
				names = append(names, fn.Name)
			}
		}
	}
	for _, sym := range r.Bin.Symbols() {
		if !seen[sym.Name] {
			seen[sym.Name] = true
			names = append(names, sym.Name)
		}
	}
	near := closest(s.Func, names, 3)
	msg := fmt.Sprintf("no probe point matches %s in %s", s, r.Bin.Name())
	if r.Data == nil && s.Point == spec.Statement {
		return r.Bin.NeedDWARF()
	}
	if len(near) > 0 {
		msg += "; did you mean " + strings.Join(near, ", ") + "?"
	}
	return &NoMatchError{Msg: msg, Nearest: near}
}

// closest returns up to n names closest to pattern by edit distance.
func closest(pattern string, names []string, n int) []string {
	type cand struct {
		name string
		d    int
	}
	p := strings.Trim(pattern, "*?")
	var cs []cand
	for _, name := range names {
		d := nearest.Distance(p, name)
		if strings.Contains(name, p) && p != "" {
			d = 0
		}
		if d <= len(p)/2+1 {
			cs = append(cs, cand{name, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].name < cs[j].name
	})
	var out []string
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].name)
	}
	return out
}
