package follow

// Blame names the call a trace blamed, so that another run of the same
// program can find the same call again: the same call instruction, the
// same count of calls made from it before in the invocation, the same
// callee. It is what tracing the origin's own statements needs of
// --follow, and nothing of how the origin was found.
type Blame struct {
	// Callee names the callee as Call.Callee does.
	Callee string
	// Binary is the path of the file holding the callee (the library a
	// call through the PLT reaches) and Target its link-time entry
	// address there; Target is 0 when unknown (Call.Binary, Call.Target).
	Binary string
	Target uint64
	// SiteBinary is the path of the file holding the call instruction
	// (FUNCTION's binary at depth 1, a callee's file below) and Site the
	// instruction's link-time address there; Nth is the count of calls
	// made from it in the invocation up to this one (1 for the first),
	// at any depth.
	SiteBinary string
	Site       uint64
	Nth        int
	// Depth is the call's level (1: a call FUNCTION made).
	Depth int
}

// Blame returns the call res names as the origin, if there is one: the
// deepest call of the chain.
func (r Result) Blame() (Blame, bool) {
	if r.Origin == nil || r.Origin.Call < 0 || r.Origin.Call >= len(r.Calls) {
		return Blame{}, false
	}
	return blameOf(r.Calls[r.Origin.Call]), true
}

func blameOf(c Call) Blame {
	return Blame{Callee: c.Callee, Binary: c.Binary, Target: c.Target, SiteBinary: c.Site.Binary, Site: c.Site.PC, Nth: c.Nth, Depth: c.Depth}
}

// Through reports whether res's chain passes through the call b names on
// its way to an origin below it: a trace of a run that followed that
// call's own calls (Input.Also), whose failure came from deeper.
func (r Result) Through(b Blame) bool {
	_, ok := r.Along(b)
	return ok
}

// Along returns the call b names when res's chain passes through it on
// its way to an origin below it (Through).
func (r Result) Along(b Blame) (Call, bool) {
	if r.Origin == nil {
		return Call{}, false
	}
	for i, k := range r.Origin.Chain {
		if i < len(r.Origin.Chain)-1 && k >= 0 && k < len(r.Calls) && blameOf(r.Calls[k]) == b {
			return r.Calls[k], true
		}
	}
	return Call{}, false
}

// Find returns the call b names when res blames that same call: a trace of
// another run whose failure came from the same place.
func (r Result) Find(b Blame) (Call, bool) {
	got, ok := r.Blame()
	if !ok || got != b {
		return Call{}, false
	}
	return r.Calls[r.Origin.Call], true
}

// Deferred reports whether the own calls of the callee of the call b
// names were left for a later run (Input.Also follows them) at a site of
// the plan whose callees' calls the depth asked for reaches: the call was
// made through a pointer (or through the PLT to an ifunc, whose
// implementation is known only at run time), or the plan follows one
// level per run (Input.Staged, Site.Deferred).
func (p *Plan) Deferred(b Blame) bool {
	s := p.leftAt(b)
	return s != nil && (s.Indirect || s.Ifunc || s.Deferred)
}

// leftAt returns the site of the call b names, when the depth asked for
// reaches its callee's calls; nil otherwise.
func (p *Plan) leftAt(b Blame) *Site {
	if p == nil || b.Target == 0 || b.Depth >= p.Depth {
		return nil
	}
	for _, s := range p.Sites {
		if s.PC == b.Site && s.Binary == b.SiteBinary {
			return s
		}
	}
	return nil
}

// CallsIn reports whether the plan probes calls made in the function the
// call b names reached (Input.Also): whether a trace may go through it.
func (p *Plan) CallsIn(b Blame) bool {
	if p == nil || b.Target == 0 {
		return false
	}
	path := b.Binary
	if path == "" {
		path = p.root.Path
	}
	for _, s := range p.Sites {
		if s.funcEntry == b.Target && s.funcBin != nil && s.funcBin.Path == path {
			return true
		}
	}
	return false
}

// Staged reports whether the call b names was left for a later run by a
// staged follow (Site.Deferred): its callee is the call's direct target.
func (p *Plan) Staged(b Blame) bool {
	s := p.leftAt(b)
	return s != nil && s.Deferred
}
