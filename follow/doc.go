// Package follow plans and explains --follow: the calls the traced
// function makes and, to a depth, the calls its callees make, each
// recorded where it is made. New decodes the function's code (and the
// code of functions it tail-jumps to, whose return is its return: in its
// own file, or through its PLT where Import finds the function), then
// that of each direct callee, through the PLT into the library defining
// it when Input.Import finds one, breadth first to the depth asked and
// within bounds, and plans two probes per call instruction: one on the
// call, recording rsp (and the target of an indirect call), and one on
// the instruction after it, the return address, recording rax and rsp.
// Both are plain statement probes with their own ids, placed in the file
// holding the code, ordered among the probes at their address
// (bpfgen.Stmt.Order): the call after the statement of its line, the
// return before the statement beginning at the return address; probes
// inside callees fire for every caller, and
// their programs exit at once where the thread has no open invocation.
// After a trace, Calls builds the call tree from the records (a return
// matched to its call by rsp) and names the origin of the failure value
// and the chain of calls down to it.
package follow
