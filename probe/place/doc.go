// Package place chooses where each statement's probe goes. x86 uprobes
// emulate a few instructions (direct calls and jumps, conditional jumps,
// nops, push on newer kernels) and single-step every other one out of
// line, which costs a second trap; statements mostly start with a mov,
// test or cmp. Place moves a statement's probe forward to the first
// emulated instruction of its straight-line run when that is provably the
// same observation: control reaches that instruction exactly when it
// reaches the statement (no jump target, no other statement, no
// instruction that can leave the run in between), and nothing in between
// writes a register or memory the statement's reads depend on. A statement
// that cannot move forward may instead be observed on the emulated jumps
// that are its only entries (Successor): the probe there evaluates the
// jump's condition from rflags and records the statement when the jump
// goes to it. Anything it cannot show keeps the statement's own address.
package place
