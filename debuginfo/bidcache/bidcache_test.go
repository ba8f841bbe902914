package bidcache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var (
	testID       = []byte{0x93, 0xac, 0x61, 0xec}
	testIdentity = []byte("size 4166896")
	testBlobs    = []Blob{{".debug_info", []byte("info bytes")}, {"empty", nil}, {".debug_line", []byte{0, 1, 2}}}
)

// TestPutGet writes an entry and reads it back from a fresh Cache of the
// same directory, with no temporary file left behind.
func TestPutGet(t *testing.T) {
	dir := t.TempDir()
	if err := At(dir).Put("dwarf", testID, testIdentity, testBlobs); err != nil {
		t.Fatal(err)
	}
	got, ok := At(dir).Get("dwarf", testID, testIdentity)
	if !ok {
		t.Fatal("Get missed the entry Put wrote")
	}
	want := []Blob{{".debug_info", []byte("info bytes")}, {"empty", []byte{}}, {".debug_line", []byte{0, 1, 2}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Get = %q, want %q", got, want)
	}
	files, err := filepath.Glob(filepath.Join(dir, "dwarf", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, "dwarf", "93ac61ec")}; !reflect.DeepEqual(files, want) {
		t.Errorf("files = %q, want %q", files, want)
	}
	// Another kind, build-id or identity is another entry, or none.
	if _, ok := At(dir).Get("names", testID, testIdentity); ok {
		t.Error("Get found an entry of another kind")
	}
	if _, ok := At(dir).Get("dwarf", []byte{1, 2}, testIdentity); ok {
		t.Error("Get found an entry of another build-id")
	}
	if _, ok := At(dir).Get("dwarf", testID, []byte("size 4166897")); ok {
		t.Error("Get used an entry derived from a file of another identity")
	}
}

// TestCorruptEntries: every truncation and every flipped byte of an entry
// is a miss, and Put replaces the bad entry.
func TestCorruptEntries(t *testing.T) {
	good := Encode(testIdentity, testBlobs)
	for n := range len(good) {
		if _, err := Decode(good[:n], testIdentity); !errors.Is(err, ErrMiss) {
			t.Fatalf("Decode of the first %d bytes: err = %v, want ErrMiss", n, err)
		}
	}
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x20
		if _, err := Decode(bad, testIdentity); !errors.Is(err, ErrMiss) {
			t.Fatalf("Decode with byte %d flipped: err = %v, want ErrMiss", i, err)
		}
	}
	dir := t.TempDir()
	c := At(dir)
	p := filepath.Join(dir, "dwarf", "93ac61ec")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, good[:len(good)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get("dwarf", testID, testIdentity); ok {
		t.Fatal("Get used a truncated entry")
	}
	if err := c.Put("dwarf", testID, testIdentity, testBlobs); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get("dwarf", testID, testIdentity); !ok {
		t.Fatal("Put did not replace the truncated entry")
	}
}

// TestOtherVersion: an entry of another format version is a miss.
func TestOtherVersion(t *testing.T) {
	data := Encode(testIdentity, testBlobs)
	data[len(magic)]++ // the version, little-endian
	body := data[:len(data)-4]
	data = append(body, 0, 0, 0, 0)
	sum := crcOf(body)
	copy(data[len(body):], sum)
	if _, err := Decode(data, testIdentity); err == nil || err.Error() != "cache entry unusable: version 2, want 1" {
		t.Errorf("err = %v, want the version mismatch", err)
	}
}

func crcOf(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(nil, crcSum(b))
}

// TestOpen: the directory follows the environment, and
// WHYTHEFAIL_CACHE=off disables the cache (a nil Cache misses and puts
// nothing).
func TestOpen(t *testing.T) {
	t.Setenv("WHYTHEFAIL_CACHE", "")
	t.Setenv("WHYTHEFAIL_CACHE_DIR", "")
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	if got := Open().Dir(); got != "/x/cache/whythefail" {
		t.Errorf("with XDG_CACHE_HOME: %q", got)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := Open().Dir(); got != "/home/u/.cache/whythefail" {
		t.Errorf("with HOME: %q", got)
	}
	t.Setenv("WHYTHEFAIL_CACHE_DIR", "/elsewhere")
	if got := Open().Dir(); got != "/elsewhere" {
		t.Errorf("with WHYTHEFAIL_CACHE_DIR: %q", got)
	}
	t.Setenv("WHYTHEFAIL_CACHE", "off")
	c := Open()
	if c != nil {
		t.Fatalf("WHYTHEFAIL_CACHE=off: Open = %v, want nil", c)
	}
	if err := c.Put("dwarf", testID, testIdentity, testBlobs); err != nil {
		t.Error(err)
	}
	if _, ok := c.Get("dwarf", testID, testIdentity); ok {
		t.Error("a nil cache hit")
	}
}

// TestBadKeys: kinds that are not plain words and empty build-ids are
// refused rather than turned into paths.
func TestBadKeys(t *testing.T) {
	c := At(t.TempDir())
	for _, kind := range []string{"", "../x", "a/b", "Dwarf"} {
		if err := c.Put(kind, testID, nil, nil); err == nil {
			t.Errorf("Put(%q) did not fail", kind)
		}
	}
	if err := c.Put("dwarf", nil, nil, nil); err == nil {
		t.Error("Put with no build-id did not fail")
	}
}

// FuzzDecode: no input panics; Decode returns blobs xor an error, and what
// it accepts encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(Encode(testIdentity, testBlobs), testIdentity)
	f.Add(Encode(nil, nil), []byte{})
	f.Add([]byte(magic), []byte{})
	f.Fuzz(func(t *testing.T, data, identity []byte) {
		blobs, err := Decode(data, identity)
		if (err != nil) == (blobs != nil) {
			t.Fatalf("blobs %v, err %v", blobs, err)
		}
		if err != nil {
			if !errors.Is(err, ErrMiss) {
				t.Fatalf("err %v does not match ErrMiss", err)
			}
			return
		}
		if again := Encode(identity, blobs); !bytes.Equal(again, data) {
			t.Fatalf("Encode(Decode(data)) differs from data")
		}
	})
}
