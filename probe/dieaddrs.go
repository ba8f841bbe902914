package probe

import (
	"encoding/binary"
	"slices"

	"github.com/whythefail/whythefail/debuginfo/bidcache"
	"github.com/whythefail/whythefail/target"
)

// The build-id cache's kind for the addresses whose symbols SystemTap ties
// to a DIE (listing.Rules.DIESymbolAddrs), and the version its identity
// adds to the debug file's. The entry is a sorted list of little-endian
// u64 addresses.
const (
	dieAddrsKind    = "dieaddrs"
	dieAddrsVersion = "dieaddrs 1\n"
)

// cachedDIEAddrs returns the cached DIESymbolAddrs of a kernel or module
// target; ok is false on a miss, for a user-space target, and when the
// cache is off.
func (r *Resolver) cachedDIEAddrs() (addrs map[uint64]bool, ok bool) {
	if r.dieAddrs != nil {
		return r.dieAddrs, true
	}
	if r.Bin.Kind() == target.KindUser || r.Bin.DWARFSections() == nil {
		return nil, false
	}
	id, identity, ok := r.Bin.DWARFSections().Identity()
	c := bidcache.Open()
	if !ok || c == nil {
		return nil, false
	}
	blobs, ok := c.Get(dieAddrsKind, id, append([]byte(dieAddrsVersion), identity...))
	if !ok || len(blobs) != 1 || len(blobs[0].Data)%8 != 0 {
		return nil, false
	}
	data := blobs[0].Data
	addrs = make(map[uint64]bool, len(data)/8)
	for i := 0; i < len(data); i += 8 {
		addrs[binary.LittleEndian.Uint64(data[i:])] = true
	}
	r.dieAddrs = addrs
	return addrs, true
}

// putDIEAddrs puts addrs, the DIESymbolAddrs of a whole index of a kernel
// or module target, in the build-id cache, so that later function
// listings index only the units their pattern selects. Failing only means
// the next function listing indexes the whole file again.
func (r *Resolver) putDIEAddrs(addrs map[uint64]bool) {
	if r.Bin.Kind() == target.KindUser || r.Bin.DWARFSections() == nil {
		return
	}
	if _, ok := r.cachedDIEAddrs(); ok {
		return
	}
	id, identity, ok := r.Bin.DWARFSections().Identity()
	c := bidcache.Open()
	if !ok || c == nil {
		return
	}
	sorted := make([]uint64, 0, len(addrs))
	for a := range addrs {
		sorted = append(sorted, a)
	}
	slices.Sort(sorted)
	data := make([]byte, 0, 8*len(sorted))
	for _, a := range sorted {
		data = binary.LittleEndian.AppendUint64(data, a)
	}
	if c.Put(dieAddrsKind, id, append([]byte(dieAddrsVersion), identity...), []bidcache.Blob{{Name: "addrs", Data: data}}) == nil {
		r.dieAddrs = addrs
	}
}
