package dwarfsec

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// TestMain keeps the package's tests out of the user's cache: only the
// tests that set WHYTHEFAIL_CACHE_DIR use one.
func TestMain(m *testing.M) {
	os.Setenv("WHYTHEFAIL_CACHE", "off")
	os.Exit(m.Run())
}

// sectionsOf is everything Read gives, for comparing two reads whole.
func sectionsOf(t *testing.T, s *Sections) map[string]any {
	t.Helper()
	dw, err := s.Data()
	if err != nil {
		t.Fatal(err)
	}
	outline, err := s.Outline()
	if err != nil {
		t.Fatal(err)
	}
	var units []Unit
	for _, o := range outline {
		units = append(units, *o.Unit)
	}
	m := map[string]any{"dwarf": dump(t, dw), "loc": s.Loc(), "loclists": s.Loclists(), "outline units": units, "outline": len(outline)}
	for _, tg := range s.cached() {
		m[tg.name] = *tg.dst
	}
	return m
}

// TestCache: a compressed debug file is read whole, then from the cache,
// with the same result; a corrupt entry, or one made for a different
// file with the same build-id, is not used, and the first is replaced.
func TestCache(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("WHYTHEFAIL_CACHE", "")
	t.Setenv("WHYTHEFAIL_CACHE_DIR", dir)
	b := fixture.Build(t, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O2"})
	path := compressed(t, b.Path)
	first, err := Read(Source{ELF: open(t, path)})
	if err != nil {
		t.Fatal(err)
	}
	if first.lazyData != nil {
		t.Fatal("the first read came from the cache")
	}
	want := sectionsOf(t, first)
	entries, err := filepath.Glob(filepath.Join(dir, cacheKind, "*"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache entries %q (%v), want one", entries, err)
	}
	entry := entries[0]

	second, err := Read(Source{ELF: open(t, path)})
	if err != nil {
		t.Fatal(err)
	}
	if second.lazyData == nil {
		t.Fatal("the second read did not come from the cache")
	}
	if got := sectionsOf(t, second); !reflect.DeepEqual(got, want) {
		t.Error("the sections read from the cache differ from those inflated")
	}

	// A truncated entry is a miss, and is written again.
	data, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(entry, data[:len(data)-100], 0o600); err != nil {
		t.Fatal(err)
	}
	third, err := Read(Source{ELF: open(t, path)})
	if err != nil {
		t.Fatal(err)
	}
	if third.lazyData != nil {
		t.Fatal("a truncated entry was used")
	}
	if got := sectionsOf(t, third); !reflect.DeepEqual(got, want) {
		t.Error("the sections read past a truncated entry differ")
	}
	if again, err := os.ReadFile(entry); err != nil || !bytes.Equal(again, data) {
		t.Errorf("the truncated entry was not written again (%v)", err)
	}

	// The same build-id on a file laid out otherwise: not this entry.
	other := filepath.Join(t.TempDir(), "other")
	cmd := exec.Command("objcopy", "--add-section", ".note.extra="+path, path, other)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, msg)
	}
	fourth, err := Read(Source{ELF: open(t, other)})
	if err != nil {
		t.Fatal(err)
	}
	if fourth.lazyData != nil {
		t.Error("an entry made for another file with the same build-id was used")
	}
}

// TestCacheOff: with WHYTHEFAIL_CACHE=off nothing is written.
func TestCacheOff(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("WHYTHEFAIL_CACHE", "off")
	t.Setenv("WHYTHEFAIL_CACHE_DIR", dir)
	b := fixture.Build(t, "demo", fixture.Variant{Compiler: "gcc", Opt: "-O2"})
	if _, err := Read(Source{ELF: open(t, compressed(t, b.Path))}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("WHYTHEFAIL_CACHE=off wrote %v", entries)
	}
}
