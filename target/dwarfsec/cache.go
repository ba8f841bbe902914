package dwarfsec

import (
	"debug/elf"
	"encoding/binary"
	"strings"
	"sync"

	"github.com/whythefail/whythefail/debuginfo/bidcache"
	"github.com/whythefail/whythefail/internal/elfnote"
)

// The decompressed sections of a debug file are kept in the build-id cache
// (package bidcache) under this kind, so that the next run reads them
// instead of inflating them: inflating .debug_info is the longest single
// step of loading a packaged debug file. Only files with a build-id whose
// DWARF is compressed are cached, and only after Read found them
// well formed (outline and dwarf.New included): a hit is known good.
const cacheKind = "dwarf"

// cacheKey returns the build-id and identity under which ef's sections
// are cached; ok is false when ef is not worth caching (no build-id, or
// no compressed DWARF section).
func cacheKey(ef *elf.File) (id, identity []byte, ok bool) {
	compressed := false
	for _, sec := range ef.Sections {
		if strings.HasPrefix(sec.Name, ".debug_") && sec.Flags&elf.SHF_COMPRESSED != 0 && sec.Type != elf.SHT_NOBITS {
			compressed = true
		}
	}
	if !compressed {
		return nil, nil, false
	}
	return Identity(ef)
}

// Identity returns the build-id under which what is derived from ef is
// cached (bidcache), and the identity that an entry must have been made
// for: ef's class, machine and every section header, so that a different
// file that claims the same build-id misses. ok is false without a
// build-id.
func Identity(ef *elf.File) (id, identity []byte, ok bool) {
	if id = elfnote.BuildID(ef); len(id) == 0 {
		return nil, nil, false
	}
	le := binary.LittleEndian
	identity = append(identity, byte(ef.Class), byte(ef.Data))
	identity = le.AppendUint16(identity, uint16(ef.Machine))
	identity = le.AppendUint32(identity, uint32(len(ef.Sections)))
	for _, sec := range ef.Sections {
		identity = append(identity, sec.Name...)
		identity = append(identity, 0)
		identity = le.AppendUint32(identity, uint32(sec.Type))
		identity = le.AppendUint64(identity, uint64(sec.Flags))
		identity = le.AppendUint64(identity, sec.Offset)
		identity = le.AppendUint64(identity, sec.FileSize)
		identity = le.AppendUint64(identity, sec.Size)
	}
	return id, identity, true
}

// cached lists the sections a cache entry holds and where they go.
func (s *Sections) cached() []target {
	return append([]target{{".debug_info", &s.Info}}, append(s.targets(),
		target{".debug_loc", &s.loc}, target{".debug_loclists", &s.loclist})...)
}

// readCached returns ef's sections from the cache, or nil on a miss. The
// outline and the dwarf.Data are built when first asked for.
func readCached(c *bidcache.Cache, ef *elf.File) *Sections {
	id, identity, ok := cacheKey(ef)
	if !ok {
		return nil
	}
	blobs, ok := c.Get(cacheKind, id, identity)
	if !ok {
		return nil
	}
	s := &Sections{Order: ef.ByteOrder, lazyData: new(sync.Once)}
	byName := make(map[string][]byte, len(blobs))
	for _, b := range blobs {
		byName[b.Name] = b.Data
	}
	for _, t := range s.cached() {
		*t.dst = byName[t.name]
	}
	if s.Info == nil || s.Abbrev == nil {
		return nil
	}
	return s
}

// writeCache puts s, read from ef and found well formed, in the cache.
// Failing to write only means the next run inflates again.
func writeCache(c *bidcache.Cache, ef *elf.File, s *Sections) {
	id, identity, ok := cacheKey(ef)
	if !ok {
		return
	}
	var blobs []bidcache.Blob
	for _, t := range s.cached() {
		if *t.dst != nil {
			blobs = append(blobs, bidcache.Blob{Name: t.name, Data: *t.dst})
		}
	}
	_ = c.Put(cacheKind, id, identity, blobs)
}
