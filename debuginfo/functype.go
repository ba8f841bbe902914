package debuginfo

import (
	"debug/dwarf"
	"errors"
	"sync"
)

// typeIndex holds the lazily built name indexes that expressions use.
type typeIndex struct {
	typeNamesOnce sync.Once
	typeNames     map[string][]dwarf.Offset
	globalsOnce   sync.Once
	globals       map[string][]Global
}

// FuncReturnInfo classifies the function's return type; the zero TypeInfo
// for void.
func (d *Data) FuncReturnInfo(fn *Function) TypeInfo {
	return d.TypeInfo(fn.retType, fn.hasRet)
}

// AddrIndex resolves index i of the variable's unit's .debug_addr entries
// (DW_OP_addrx, DW_OP_constx), which clang uses for globals and constants.
func (v *Variable) AddrIndex(i uint64) (uint64, error) {
	d := v.cu.d
	if d.debugAddr == nil {
		return 0, errNoDebugAddr
	}
	return d.debugAddr.GetSubsection(v.cu.addrBase).Get(i)
}

var errNoDebugAddr = errors.New("DW_OP_addrx without a .debug_addr section")

// ReturnInfo classifies f's return type (FuncReturnInfo of f's data); the
// zero TypeInfo for void or when f has no unit.
func (f *Function) ReturnInfo() TypeInfo {
	if f.CU == nil || f.CU.d == nil {
		return TypeInfo{}
	}
	return f.CU.d.FuncReturnInfo(f)
}
