package bpfgen

import (
	"encoding/binary"
	"fmt"

	"github.com/whythefail/whythefail/internal/dwop"
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
		case dwop.Addrx, dwop.Constx, dwop.GNUAddrIndex, dwop.GNUConstIndex:
			a, err := addr(o.u)
			if err != nil {
				return nil, fmt.Errorf("resolving DW_OP_addrx index %d: %w", o.u, err)
			}
			code := byte(dwop.Addr)
			if o.code == dwop.Constx || o.code == dwop.GNUConstIndex {
				code = dwop.Const8u
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
