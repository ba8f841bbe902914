// Package follow plans and explains --follow at depth 1: the calls the
// traced function makes, each recorded where it is made. New decodes the
// function's code (and the code of functions it tail-jumps to, whose
// return is its return) and plans two probes per call instruction: one on
// the call, recording the target of an indirect call, and one on the
// instruction after it, the return address, recording rax. Both are plain
// statement probes with their own ids, inside the traced code, so code
// elsewhere pays nothing. After a trace, Calls pairs the records into the
// calls made and names the origin of the failure value.
package follow
