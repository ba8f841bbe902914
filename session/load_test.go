package session

import (
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/rlimit"
)

// TestLoadCollection: loadCollection creates every map, points each
// program's map loads at them and loads every program, as
// ebpf.NewCollection does; a program the verifier refuses fails the whole
// load with its name and the verifier's error.
func TestLoadCollection(t *testing.T) {
	requireBPF(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	lookup := func() asm.Instructions {
		return asm.Instructions{
			asm.StoreImm(asm.RFP, -4, 0, asm.Word),
			asm.LoadMapPtr(asm.R1, 0).WithReference("counts"),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		}
	}
	spec := func() *ebpf.CollectionSpec {
		return &ebpf.CollectionSpec{
			Maps: map[string]*ebpf.MapSpec{
				"counts": {Name: "counts", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1},
				"other":  {Name: "other", Type: ebpf.Hash, KeySize: 4, ValueSize: 4, MaxEntries: 8},
			},
			Programs: map[string]*ebpf.ProgramSpec{
				"a": {Name: "a", Type: ebpf.Kprobe, License: "GPL", Instructions: lookup()},
				"b": {Name: "b", Type: ebpf.Kprobe, License: "GPL", Instructions: lookup()},
			},
		}
	}
	coll, err := loadCollection(spec())
	if err != nil {
		t.Fatal(err)
	}
	if len(coll.Maps) != 2 || coll.Maps["counts"] == nil || coll.Maps["other"] == nil {
		t.Errorf("maps %v, want counts and other", coll.Maps)
	}
	if len(coll.Programs) != 2 || coll.Programs["a"] == nil || coll.Programs["b"] == nil {
		t.Errorf("programs %v, want a and b", coll.Programs)
	}
	coll.Close()

	bad := spec()
	// Reads R0 before anything set it.
	bad.Programs["bad"] = &ebpf.ProgramSpec{Name: "bad", Type: ebpf.Kprobe, License: "GPL", Instructions: asm.Instructions{asm.Return()}}
	_, err = loadCollection(bad)
	var ve *ebpf.VerifierError
	if !errors.As(err, &ve) || !strings.HasPrefix(err.Error(), "program bad: ") {
		t.Errorf("loading a program the verifier refuses: %v, want a verifier error for program bad", err)
	}

	missing := spec()
	missing.Programs["c"] = &ebpf.ProgramSpec{Name: "c", Type: ebpf.Kprobe, License: "GPL", Instructions: lookup()}
	missing.Programs["c"].Instructions[1] = asm.LoadMapPtr(asm.R1, 0).WithReference("nosuch")
	if _, err := loadCollection(missing); err == nil || err.Error() != "program c: no map nosuch" {
		t.Errorf("a program that names a missing map: %v, want \"program c: no map nosuch\"", err)
	}
}
