package place

import (
	"errors"
	"fmt"

	"github.com/whythefail/whythefail/internal/leb128"
)

var errShort = errors.New("truncated expression")

// exprNeeds adds what a DWARF location expression reads to n. It returns
// whether the expression uses the frame base (DW_OP_fbreg), whose own
// expression the caller then analyses too. It over-approximates: every
// register the expression names is read, and every address it forms may
// be read from memory, unless the expression ends in DW_OP_stack_value
// with no piece and no dereference (the address is then the value). An
// operation it does not know is an error.
func exprNeeds(e []byte, n *Needs) (fb bool, err error) {
	// addr: an address was formed; the expression is a value when it
	// ends in stack_value and has no piece (then no address is read).
	addr, piece, last := false, false, byte(0)
	defer func() {
		if addr && (last != 0x9f || piece) {
			n.Mem = true
		}
	}()
	for i := 0; i < len(e); {
		op := e[i]
		i++
		last = op
		if op == 0x93 || op == 0x9d {
			piece = true
		}
		skipU := func() error {
			_, k := leb128.Uint(e[i:])
			if k <= 0 {
				return errShort
			}
			i += k
			return nil
		}
		skip := func(k int) error {
			if i+k > len(e) {
				return errShort
			}
			i += k
			return nil
		}
		var err error
		switch {
		case op == 0x03: // addr
			addr = true
			err = skip(8)
		case op >= 0x50 && op <= 0x6f: // reg0-31
			n.Regs |= 1 << (op - 0x50)
		case op >= 0x70 && op <= 0x8f: // breg0-31
			n.Regs |= 1 << (op - 0x70)
			addr = true
			err = skipU()
		case op == 0x90: // regx
			var r uint64
			r, err = uvarint(e, &i)
			if err == nil && r >= 17 {
				err = fmt.Errorf("register %d", r)
			}
			n.Regs |= 1 << (r & 31)
		case op == 0x92: // bregx
			var r uint64
			r, err = uvarint(e, &i)
			if err == nil && r >= 17 {
				err = fmt.Errorf("register %d", r)
			}
			n.Regs |= 1 << (r & 31)
			addr = true
			if err == nil {
				err = skipU()
			}
		case op == 0x91: // fbreg
			fb = true
			addr = true
			err = skipU()
		case op == 0x9c: // call_frame_cfa
			n.CFA = true
		case op == 0x06, op == 0x94: // deref, deref_size
			n.Mem = true
			if op == 0x94 {
				err = skip(1)
			}
		case op == 0x9f: // stack_value
		case op >= 0x30 && op <= 0x4f: // lit0-31
		case op == 0x08 || op == 0x09 || op == 0x15: // const1u/s, pick
			err = skip(1)
		case op == 0x0a || op == 0x0b:
			err = skip(2)
		case op == 0x0c || op == 0x0d:
			err = skip(4)
		case op == 0x0e || op == 0x0f:
			err = skip(8)
		case op == 0x10 || op == 0x11 || op == 0x23 || op == 0x93: // constu, consts, plus_uconst, piece
			err = skipU()
		case op == 0x9d: // bit_piece
			if err = skipU(); err == nil {
				err = skipU()
			}
		case op == 0x18: // xderef
			n.Mem = true
		case op >= 0x12 && op <= 0x14, op >= 0x16 && op <= 0x17, op >= 0x19 && op <= 0x22, op >= 0x24 && op <= 0x27, op >= 0x29 && op <= 0x2e: // stack and arithmetic ops
		case op == 0x9e: // implicit_value
			var k uint64
			if k, err = uvarint(e, &i); err == nil {
				err = skip(int(min(k, uint64(len(e)+1))))
			}
		case op == 0xa3 || op == 0xf3: // entry_value
			// Of one register, it is read from the entry snapshot
			// (bpfgen), not from the register now; anything else
			// is analysed as if it were read now.
			var k uint64
			if k, err = uvarint(e, &i); err == nil {
				switch blk := e[i:]; {
				case uint64(len(blk)) < k:
					err = errShort
				case k == 1 && blk[0] >= 0x50 && blk[0] <= 0x6f:
					i++
				default:
					var inner bool
					inner, err = exprNeeds(e[i:i+int(k)], n)
					fb = fb || inner
					i += int(k)
				}
			}
		default:
			err = fmt.Errorf("operation %#x not analysed", op)
		}
		if err != nil {
			return fb, err
		}
	}
	return fb, nil
}

func uvarint(e []byte, i *int) (uint64, error) {
	v, k := leb128.Uint(e[*i:])
	if k <= 0 {
		return 0, errShort
	}
	*i += k
	return v, nil
}
