package bpfgen

import "github.com/whythefail/whythefail/expr/ir"

// The generator consumes the intermediate representation of package ir,
// which the expression compiler produces; these names keep the generator's
// code and its callers reading as before.
type (
	Cond       = ir.Cond
	Const      = ir.Const
	Return     = ir.Return
	Param      = ir.Param
	GlobalAddr = ir.GlobalAddr
	Op         = ir.Op
	BinOp      = ir.BinOp
	UnaryOp    = ir.UnaryOp
	Unary      = ir.Unary
	Pid        = ir.Pid
	Tid        = ir.Tid
	Uid        = ir.Uid
	Randint    = ir.Randint
	CommEq     = ir.CommEq
	UserStrEq  = ir.UserStrEq
	Load       = ir.Load
	Errno      = ir.Errno
	Var        = ir.Var
	Step       = ir.Step
	StepAdd    = ir.StepAdd
	StepDeref  = ir.StepDeref
	StepAddrOf = ir.StepAddrOf
	StepIndex  = ir.StepIndex
)

// Operators and limits of the IR.
const (
	OpEq     = ir.OpEq
	OpNe     = ir.OpNe
	OpLt     = ir.OpLt
	OpLe     = ir.OpLe
	OpGt     = ir.OpGt
	OpGe     = ir.OpGe
	OpLogAnd = ir.OpLogAnd
	OpLogOr  = ir.OpLogOr
	OpAdd    = ir.OpAdd
	OpSub    = ir.OpSub
	OpBitAnd = ir.OpBitAnd
	OpBitOr  = ir.OpBitOr
	OpMul    = ir.OpMul
	OpXor    = ir.OpXor
	OpShl    = ir.OpShl
	OpShr    = ir.OpShr

	UnNot    = ir.UnNot
	UnNeg    = ir.UnNeg
	UnBitNot = ir.UnBitNot

	MaxCondStr      = ir.MaxCondStr
	MaxIndexNesting = ir.MaxIndexNesting
	MaxSteps        = ir.MaxSteps
	MaxStr          = ir.MaxStr
)
