package probe

import "github.com/whythefail/whythefail/debuginfo"

// PrologueEnd returns the end of fn's prologue as SystemTap finds it (the
// first line row after the entry row that changes line or file). Before it,
// unoptimised code has not yet stored its parameters in their stack slots.
func (r *Resolver) PrologueEnd(fn *debuginfo.Function) uint64 {
	return r.prologueEnd(fn)
}
