package listing

import (
	"github.com/whythefail/whythefail/internal/dwop"
	"github.com/whythefail/whythefail/internal/leb128"
)

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
		case op == dwop.Addr:
			ok = fixed(addrSize)
		case op == dwop.CallRef || op == dwop.GNUVariableValue:
			ok = fixed(refSize)
		case op == dwop.Deref || op >= dwop.Dup && op <= dwop.Over || op >= dwop.Swap && op <= dwop.Xor && op != dwop.PlusUconst ||
			op >= dwop.Eq && op <= dwop.Ne || op >= dwop.Lit0 && op <= dwop.Reg31 ||
			op == dwop.Nop || op == dwop.PushObjectAddress || op == dwop.FormTLSAddress || op == dwop.CallFrameCFA ||
			op == dwop.StackValue || op == dwop.GNUPushTLSAddress:
			// no operand: stack and arithmetic ops, lit*, reg*
		case op == dwop.Const1u || op == dwop.Const1s || op == dwop.Pick || op == dwop.DerefSize || op == dwop.XderefSize:
			ok = fixed(1)
		case op == dwop.Const2u || op == dwop.Const2s || op == dwop.Bra || op == dwop.Skip || op == dwop.Call2:
			ok = fixed(2)
		case op == dwop.Const4u || op == dwop.Const4s || op == dwop.Call4 || op == dwop.GNUParameterRef:
			ok = fixed(4)
		case op == dwop.Const8u || op == dwop.Const8s:
			ok = fixed(8)
		case op == dwop.Constu || op == dwop.Consts || op == dwop.PlusUconst || op >= dwop.Breg0 && op <= dwop.Fbreg || op == dwop.Piece ||
			op == dwop.Addrx || op == dwop.Constx || op == dwop.Convert || op == dwop.Reinterpret ||
			op == dwop.GNUConvert || op == dwop.GNUReinterpret || op == dwop.GNUAddrIndex || op == dwop.GNUConstIndex:
			// one LEB128 (breg* through regx to fbreg)
			ok = uleb()
		case op == dwop.Bregx || op == dwop.BitPiece || op == dwop.RegvalType || op == dwop.GNURegvalType:
			ok = uleb() && p < len(expr) && uleb()
		case op == dwop.ImplicitValue || op == dwop.EntryValue || op == dwop.GNUEntryValue:
			start := p
			if !uleb() {
				return false
			}
			n, _ := readULEB(expr[start:p])
			ok = uint64(len(expr)-p) >= n && fixed(int(n))
		case op == dwop.ImplicitPointer || op == dwop.GNUImplicitPointer:
			ok = fixed(refSize) && p < len(expr) && uleb()
		case op == dwop.DerefType || op == dwop.XderefType || op == dwop.GNUDerefType:
			ok = len(expr)-p > 1 && fixed(1) && uleb()
		case op == dwop.ConstType || op == dwop.GNUConstType:
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
