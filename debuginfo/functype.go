package debuginfo

// FuncReturnInfo classifies the function's return type; the zero TypeInfo
// for void.
func (d *Data) FuncReturnInfo(fn *Function) TypeInfo {
	return d.TypeInfo(fn.retType, fn.hasRet)
}
