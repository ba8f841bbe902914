package listing

import "github.com/whythefail/whythefail/internal/leb128"

// ExprParses reports whether libdw 0.188's __libdw_intern_expression
// accepts a location expression. SystemTap lists a variable only when
// dwarf_getlocation_addr returns a non-empty expression at the address,
// and that libdw refuses any opcode it does not know, which in 0.188
// includes DW_OP_GNU_uninit (0xf0, added in 0.189): gcc appends it to the
// locations of variables it knows to be uninitialised, so stap leaves
// those out (glibc's inet_ntoa lists $in at its entry but not after).
// Operands are skipped as libdw reads them: addresses are 8 bytes and
// .debug_info references 4 (64-bit DWARF is not expected here).
func ExprParses(expr []byte) bool {
	const addrSize, refSize = 8, 4
	if len(expr) == 0 {
		return false
	}
	p := 0
	uleb := func() bool {
		for p < len(expr) {
			b := expr[p]
			p++
			if b < 0x80 {
				return true
			}
		}
		return false
	}
	fixed := func(n int) bool {
		if len(expr)-p < n {
			return false
		}
		p += n
		return true
	}
	for p < len(expr) {
		op := expr[p]
		p++
		ok := true
		switch {
		case op == 0x03: // addr
			ok = fixed(addrSize)
		case op == 0x9a || op == 0xfd: // call_ref, GNU_variable_value
			ok = fixed(refSize)
		case op == 0x06 || op >= 0x12 && op <= 0x14 || op >= 0x16 && op <= 0x27 && op != 0x23 ||
			op >= 0x29 && op <= 0x2e || op >= 0x30 && op <= 0x6f ||
			op == 0x96 || op == 0x97 || op == 0x9b || op == 0x9c || op == 0x9f || op == 0xe0:
			// no operand: stack and arithmetic ops, lit*, reg*, nop,
			// push_object_address, form_tls_address, call_frame_cfa,
			// stack_value, GNU_push_tls_address
		case op == 0x08 || op == 0x09 || op == 0x15 || op == 0x94 || op == 0x95:
			ok = fixed(1) // const1u/s, pick, deref_size, xderef_size
		case op == 0x0a || op == 0x0b || op == 0x28 || op == 0x2f || op == 0x98:
			ok = fixed(2) // const2u/s, bra, skip, call2
		case op == 0x0c || op == 0x0d || op == 0x99 || op == 0xfa:
			ok = fixed(4) // const4u/s, call4, GNU_parameter_ref
		case op == 0x0e || op == 0x0f:
			ok = fixed(8)
		case op == 0x10 || op == 0x11 || op == 0x23 || op >= 0x70 && op <= 0x91 || op == 0x93 ||
			op == 0xa1 || op == 0xa2 || op == 0xa8 || op == 0xa9 ||
			op == 0xf7 || op == 0xf9 || op == 0xfb || op == 0xfc:
			// one LEB128: constu, consts, plus_uconst, breg*, regx,
			// fbreg, piece, addrx, constx, (GNU_)convert,
			// (GNU_)reinterpret, GNU_addr_index, GNU_const_index
			ok = uleb()
		case op == 0x92 || op == 0x9d || op == 0xa5 || op == 0xf5:
			ok = uleb() && p < len(expr) && uleb() // bregx, bit_piece, (GNU_)regval_type
		case op == 0x9e || op == 0xa3 || op == 0xf3: // implicit_value, (GNU_)entry_value
			start := p
			if !uleb() {
				return false
			}
			n, _ := readULEB(expr[start:p])
			ok = uint64(len(expr)-p) >= n && fixed(int(n))
		case op == 0xa0 || op == 0xf2: // (GNU_)implicit_pointer
			ok = fixed(refSize) && p < len(expr) && uleb()
		case op == 0xa6 || op == 0xa7 || op == 0xf6: // (GNU_/x)deref_type
			ok = len(expr)-p > 1 && fixed(1) && uleb()
		case op == 0xa4 || op == 0xf4: // (GNU_)const_type
			ok = uleb() && p < len(expr)
			if ok {
				n := int(expr[p])
				p++
				ok = fixed(n)
			}
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	return true
}

// readULEB decodes an unsigned LEB128 number.
func readULEB(b []byte) (uint64, bool) {
	v, n := leb128.Uint(b)
	return v, n > 0
}
