package bpfgen

import (
	"encoding/binary"
	"fmt"
)

// DWARF 5 operations that index .debug_addr.
const (
	opAddrx  = 0xa1
	opConstx = 0xa2
	// GNU extensions with the same meaning (DWARF 4 split DWARF).
	opGNUAddrIndex  = 0xfb
	opGNUConstIndex = 0xfc
)

// ResolveAddrx rewrites the .debug_addr-indexed operations of a location
// expression (DW_OP_addrx, DW_OP_constx and their GNU forms, which clang
// emits for globals) into DW_OP_addr and DW_OP_const8u, using addr to look up
// an index (the caller knows the unit's DW_AT_addr_base). The generator
// itself never sees .debug_addr. Other operations are copied unchanged.
func ResolveAddrx(expr []byte, addr func(index uint64) (uint64, error)) ([]byte, error) {
	ops, err := decodeExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("resolving DW_OP_addrx: %w", err)
	}
	var out []byte
	at := 0
	for _, o := range ops {
		switch o.code {
		case opAddrx, opConstx, opGNUAddrIndex, opGNUConstIndex:
			a, err := addr(o.u)
			if err != nil {
				return nil, fmt.Errorf("resolving DW_OP_addrx index %d: %w", o.u, err)
			}
			code := byte(opAddr)
			if o.code == opConstx || o.code == opGNUConstIndex {
				code = opConst8u
			}
			out = append(out, code)
			out = binary.LittleEndian.AppendUint64(out, a)
		default:
			out = append(out, expr[at:at+o.len]...)
		}
		at += o.len
	}
	return out, nil
}
