// Package verdict answers a committed trace in one line: which branch sent
// the traced function to the return it took, and what that branch compared.
//
// At start-up, Plan decodes the traced function, finds every conditional
// jump and the instruction that set its flags (the nearest flag writer before
// it in the same straight-line block), and describes probes on the jumps
// (bpfgen statements marked Branch) that record the flag-setting
// instruction's operands (registers from pt_regs, memory operands read at
// their address) and the flags register itself. A jump is emulated by the
// kernel's uprobe code, so these probes are cheap; operands that an
// instruction between the flag writer and the jump overwrites are not
// recorded (a wrong value is worse than none).
//
// Branches that cannot decide the return value (both sides provably return
// the same value, nondeciding.go) get no probe, and neither do those that
// another probed branch always follows (superseded.go).
//
// After the run, Explain takes a committed trace: the deciding branch is
// the last branch record before the return; whether it jumped comes from the
// recorded flags; its operands are named by the variable DWARF places in
// that register or memory at the jump, else by the matching side of the
// source line's condition, else by the register.
package verdict
