package follow

// Blame names the call a trace blamed, so that another run of the same
// program can find the same call again: the same call instruction, the
// same count of calls made from it before in the invocation, the same
// callee. It is what tracing the origin's own statements needs of
// --follow, and nothing of how the origin was found.
type Blame struct {
	// Callee names the callee as Call.Callee does.
	Callee string
	// Target is the callee's link-time entry address in the traced
	// binary; 0 when it is not there (a call through the PLT into another
	// library, an indirect call outside the binary's symbols).
	Target uint64
	// Site is the call instruction's link-time address, Nth the count of
	// calls made from it in the invocation up to this one (1 for the
	// first).
	Site uint64
	Nth  int
}

// Blame returns the call res names as the origin, if there is one.
func (r Result) Blame() (Blame, bool) {
	if r.Origin == nil || r.Origin.Call < 0 || r.Origin.Call >= len(r.Calls) {
		return Blame{}, false
	}
	c := r.Calls[r.Origin.Call]
	return Blame{Callee: c.Callee, Target: c.Target, Site: c.Site.PC, Nth: c.Nth}, true
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
