package dwarfsec

import (
	"encoding/binary"
	"sync"
)

// FromBytes returns Sections holding section bytes the caller already
// decompressed and, for a relocatable object (a kernel module's .ko),
// relocated; they are named by their ELF section names (".debug_info",
// ".debug_loclists", ...), and a missing name is an absent section. The
// outline and the dwarf.Data are built when first asked for. Nothing
// derived from such sections is cached: they have no identity
// (Identity's ok is false).
func FromBytes(order binary.ByteOrder, secs map[string][]byte) *Sections {
	s := &Sections{Order: order, lazyData: new(sync.Once)}
	for _, t := range s.cached() {
		*t.dst = secs[t.name]
	}
	return s
}
