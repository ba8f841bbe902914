package place

import (
	"testing"

	"github.com/whythefail/whythefail/insn"
)

// FuzzExprNeeds feeds arbitrary location expressions: an error or a set
// of reads, never a panic.
func FuzzExprNeeds(f *testing.F) {
	for _, e := range [][]byte{{0x50}, {0x91, 0x6c}, {0xa3, 1, 0x55, 0x9f}, {0x77, 0x08, 0x06}, {0x9e, 2, 1, 2}, {0x92, 0x80}} {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, e []byte) {
		var n Needs
		exprNeeds(e, &n)
	})
}

// FuzzPlace decodes arbitrary code and places a probe at each instruction:
// never a panic, and a moved probe is always at a later instruction the
// kernel emulates.
func FuzzPlace(f *testing.F) {
	f.Add([]byte{0xbb, 1, 0, 0, 0, 0x85, 0xc0, 0x75, 0x00, 0xc3}, []byte{0x53})
	f.Add([]byte{0x48, 0x8d, 0x15, 0, 0, 0, 0, 0xff, 0xe0, 0xe8, 0, 0, 0, 0}, []byte{0x91, 0x10})
	f.Fuzz(func(t *testing.T, code, expr []byte) {
		f, err := Decode(0x1000, [][2]uint64{{0x1000, 0x1000 + uint64(len(code))}}, func(va uint64, n int) ([]byte, error) {
			return code[va-0x1000 : va-0x1000+uint64(n)], nil
		}, func(va uint64, n int) ([]byte, bool) {
			if va < 0x1000 || n < 0 || va-0x1000+uint64(n) > uint64(len(code)) {
				return nil, false
			}
			return code[va-0x1000 : va-0x1000+uint64(n)], true
		})
		if err != nil {
			return
		}
		var n Needs
		if _, err := exprNeeds(expr, &n); err != nil {
			n.Unknown = err.Error()
		}
		all := func(insn.Class) bool { return true }
		for _, in := range f.insts {
			d := f.Place(in.addr, n, CFA{Reg: 7, Off: 8}, all)
			if !d.Moved {
				if d.Addr != in.addr {
					t.Fatalf("kept at %#x, not at %#x", d.Addr, in.addr)
				}
				continue
			}
			j, ok := f.index[d.Addr]
			if !ok || d.Addr <= in.addr || f.insts[j].class == "" {
				t.Fatalf("moved from %#x to %#x, not a later emulated instruction", in.addr, d.Addr)
			}
		}
		// Successors: on an emulated jump whose fall-through or target
		// is the statement, and which no other jump enters.
		for _, in := range f.insts {
			f.Barrier(in.addr, "statement")
		}
		for _, in := range f.insts {
			ds := f.Successor(in.addr, n, all)
			if len(ds) == 1 && !ds[0].Moved {
				if ds[0].Addr != in.addr || ds[0].Succ {
					t.Fatalf("kept %#x at %#x (succ %v)", in.addr, ds[0].Addr, ds[0].Succ)
				}
				continue
			}
			// One decision per entry: the fall-through of the jcc
			// right before, and every jump whose target it is.
			entries := len(f.jumpers[in.addr])
			if k := f.index[in.addr]; k > 0 && !f.insts[k-1].stops {
				entries++
			}
			if len(ds) != entries {
				t.Fatalf("%#x: %d decisions for %d entries", in.addr, len(ds), entries)
			}
			for _, d := range ds {
				j, ok := f.index[d.Addr]
				if !ok || !d.Moved || !d.Succ {
					t.Fatalf("successor %#x placed at %#x, not an instruction", in.addr, d.Addr)
				}
				jin := f.insts[j]
				fall := jin.addr+uint64(jin.n) == in.addr
				fallOK := fall && (isNop(jin.class) && d.Cond < 0 || jin.cc >= 0 && jin.target != in.addr)
				if jin.class == "" || (d.Taken && jin.target != in.addr) || (!d.Taken && !fallOK) {
					t.Fatalf("successor %#x placed on %#x %s (taken %v)", in.addr, jin.addr, jin.text, d.Taken)
				}
			}
		}
		// Earlier: each point runs straight on from From to the
		// statement, and the point leads to From.
		decided := map[uint64][]Decision{}
		earlier := func(a uint64) ([]Decision, bool) { d, ok := decided[a]; return d, ok }
		for _, in := range f.insts {
			ds := f.Before(in.addr, n, CFA{Reg: 7, Off: 8}, all, earlier, true)
			decided[in.addr] = ds
			if len(ds) == 1 && !ds[0].Moved {
				if ds[0].Addr != in.addr {
					t.Fatalf("kept %#x at %#x", in.addr, ds[0].Addr)
				}
				continue
			}
			for _, d := range ds {
				j, ok1 := f.index[d.Addr]
				k, ok2 := f.index[d.From]
				if !ok1 || !ok2 || !d.Moved || !d.Succ || d.From > in.addr {
					t.Fatalf("%#x recorded at %#x from %#x", in.addr, d.Addr, d.From)
				}
				for _, b := range f.insts[k:f.index[in.addr]] {
					if b.flow {
						t.Fatalf("%#x recorded at %#x: %#x %s between", in.addr, d.Addr, b.addr, b.text)
					}
				}
				p := f.insts[j]
				next := p.addr + uint64(p.n)
				var ok bool
				switch {
				case d.Call:
					ok = p.call && next == d.From && d.Cond < 0
				case d.Cond >= 0 && d.Taken:
					ok = p.cc == d.Cond && p.target == d.From
				case d.Cond >= 0:
					ok = p.cc == d.Cond && next == d.From && p.target != d.From
				default:
					ok = d.From == p.addr && !p.flow || p.stops && p.target == d.From
				}
				if !ok {
					t.Fatalf("%#x recorded at %#x %s (cond %d taken %v call %v) from %#x", in.addr, p.addr, p.text, d.Cond, d.Taken, d.Call, d.From)
				}
			}
		}
	})
}
