package bidcache

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
)

// Version is the format version of entries; entries of another version
// are misses, and are overwritten by the next Put.
const Version = 1

// magic begins every entry.
const magic = "WTFCACHE"

// Blob is one named piece of an entry.
type Blob struct {
	Name string
	Data []byte
}

// Cache is a directory of entries. The zero value is not usable: Open or
// At makes one.
type Cache struct {
	dir string
}

// Open returns the user's cache (see the package comment), or nil when
// WHYTHEFAIL_CACHE=off disables it or no directory can be named. A nil
// *Cache is valid: Get misses and Put does nothing.
func Open() *Cache {
	if os.Getenv("WHYTHEFAIL_CACHE") == "off" {
		return nil
	}
	if d := os.Getenv("WHYTHEFAIL_CACHE_DIR"); d != "" {
		return At(d)
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return At(filepath.Join(d, "whythefail"))
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return nil
	}
	return At(filepath.Join(home, ".cache", "whythefail"))
}

// At returns the cache kept in dir, created when the first entry is put.
func At(dir string) *Cache { return &Cache{dir: dir} }

// Dir returns the cache's directory ("" for a nil cache).
func (c *Cache) Dir() string {
	if c == nil {
		return ""
	}
	return c.dir
}

var kindRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// path returns the file of an entry: DIR/KIND/BUILDID.
func (c *Cache) path(kind string, buildID []byte) (string, error) {
	if !kindRE.MatchString(kind) {
		return "", fmt.Errorf("bad cache kind %q", kind)
	}
	if len(buildID) == 0 || len(buildID) > 64 {
		return "", fmt.Errorf("bad build-id %x", buildID)
	}
	return filepath.Join(c.dir, kind, hex.EncodeToString(buildID)), nil
}

// Get returns the blobs of the entry of this kind for buildID when it
// exists, is intact and was derived from a file of this identity; ok is
// false otherwise. The blobs share one buffer, which may be a private
// (copy-on-write) mapping of the entry that stays mapped for the life of
// the process: entries are large, and only part of one is usually read.
func (c *Cache) Get(kind string, buildID, identity []byte) (blobs []Blob, ok bool) {
	if c == nil {
		return nil, false
	}
	p, err := c.path(kind, buildID)
	if err != nil {
		return nil, false
	}
	data, err := readEntry(p)
	if err != nil {
		return nil, false
	}
	blobs, err = Decode(data, identity)
	if err != nil {
		return nil, false
	}
	return blobs, true
}

// Put writes the entry of this kind for buildID: to a temporary file in
// the same directory, renamed over the entry, so that a reader sees the
// old entry or the new one whole. Errors (a read-only home, a full disk)
// only mean the next run derives the data again; callers may ignore them.
func (c *Cache) Put(kind string, buildID, identity []byte, blobs []Blob) (err error) {
	if c == nil {
		return nil
	}
	p, err := c.path(kind, buildID)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("creating cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing cache entry: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(Encode(identity, blobs)); err != nil {
		return fmt.Errorf("writing cache entry: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing cache entry: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("writing cache entry: %w", err)
	}
	return nil
}

// The layout of an entry, integers little-endian:
//
//	magic     "WTFCACHE"
//	u32       Version
//	u32       identity length, then the identity
//	u32       number of blobs
//	per blob  u16 name length, the name, u64 data length
//	          the blobs' data, back to back, in the same order
//	u32       CRC-32C (Castagnoli) of everything before it
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Encode returns the bytes of an entry.
func Encode(identity []byte, blobs []Blob) []byte {
	n := len(magic) + 4 + 4 + len(identity) + 4 + 4
	for _, b := range blobs {
		n += 2 + len(b.Name) + 8 + len(b.Data)
	}
	le := binary.LittleEndian
	out := make([]byte, 0, n)
	out = append(out, magic...)
	out = le.AppendUint32(out, Version)
	out = le.AppendUint32(out, uint32(len(identity)))
	out = append(out, identity...)
	out = le.AppendUint32(out, uint32(len(blobs)))
	for _, b := range blobs {
		out = le.AppendUint16(out, uint16(len(b.Name)))
		out = append(out, b.Name...)
		out = le.AppendUint64(out, uint64(len(b.Data)))
	}
	for _, b := range blobs {
		out = append(out, b.Data...)
	}
	return le.AppendUint32(out, crcSum(out))
}

// ErrMiss is what Decode's errors match: the entry cannot be used.
var ErrMiss = errors.New("cache entry unusable")

func miss(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMiss, fmt.Sprintf(format, a...))
}

// Decode checks an entry and returns its blobs, which alias data. It
// fails, with an error matching ErrMiss, when the entry is malformed,
// corrupt, of another version, or was derived from another identity.
func Decode(data, identity []byte) ([]Blob, error) {
	le := binary.LittleEndian
	if len(data) < len(magic)+4+4+4+4 || string(data[:len(magic)]) != magic {
		return nil, miss("not an entry")
	}
	body, sum := data[:len(data)-4], le.Uint32(data[len(data)-4:])
	if crcSum(body) != sum {
		return nil, miss("checksum mismatch")
	}
	r := body[len(magic):]
	take := func(n uint64) ([]byte, bool) {
		if n > uint64(len(r)) {
			return nil, false
		}
		b := r[:n]
		r = r[n:]
		return b, true
	}
	u32 := func() (uint32, bool) {
		b, ok := take(4)
		if !ok {
			return 0, false
		}
		return le.Uint32(b), true
	}
	if v, ok := u32(); !ok || v != Version {
		return nil, miss("version %d, want %d", v, Version)
	}
	n, ok := u32()
	if !ok {
		return nil, miss("truncated")
	}
	id, ok := take(uint64(n))
	if !ok {
		return nil, miss("truncated identity")
	}
	if string(id) != string(identity) {
		return nil, miss("derived from another file")
	}
	count, ok := u32()
	if !ok || uint64(count)*10 > uint64(len(r)) {
		return nil, miss("bad blob count")
	}
	blobs := make([]Blob, count)
	sizes := make([]uint64, count)
	for i := range blobs {
		b, ok := take(2)
		if !ok {
			return nil, miss("truncated blob header")
		}
		name, ok := take(uint64(le.Uint16(b)))
		if !ok {
			return nil, miss("truncated blob name")
		}
		if b, ok = take(8); !ok {
			return nil, miss("truncated blob header")
		}
		blobs[i].Name, sizes[i] = string(name), le.Uint64(b)
	}
	for i := range blobs {
		d, ok := take(sizes[i])
		if !ok {
			return nil, miss("truncated blob %q", blobs[i].Name)
		}
		blobs[i].Data = d[:len(d):len(d)]
	}
	if len(r) != 0 {
		return nil, miss("%d bytes after the blobs", len(r))
	}
	return blobs, nil
}

func crcSum(b []byte) uint32 { return crc32.Checksum(b, crcTable) }

// mapAbove is the size from which entries are mapped rather than read:
// reading copies every byte into memory that must be zeroed first, where
// a mapping shares the page cache's.
const mapAbove = 1 << 20

// readEntry returns the bytes of the file at p: a private, writable
// mapping of it when it is large (never unmapped: the blobs alias it),
// else a copy.
func readEntry(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size >= mapAbove && size == int64(int(size)) {
		data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
		if err == nil {
			return data, nil
		}
	}
	return os.ReadFile(p)
}
