package session

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/expr/ir"
)

// TestHaveSleepableUprobes pins the feature probe on this kind of kernel
// (6.18), where sleepable uprobe programs load: a probe that said otherwise
// would silently bring back unreadable strings.
func TestHaveSleepableUprobes(t *testing.T) {
	requireBPF(t)
	if err := HaveSleepableUprobes(); err != nil {
		t.Fatal(err)
	}
}

// TestSessionStringPages reads, at show()'s entry, four char* arguments (see
// testdata/pages.c): with pages faulted in, the strings read and only the
// unmapped one prints as its pointer; without, every string not already in
// memory is recorded as its pointer. NULL is recorded as pointer 0 either
// way.
func TestSessionStringPages(t *testing.T) {
	requireBPF(t)
	requireTool(t, "gcc")
	src, err := filepath.Abs("testdata/pages.c")
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "pages")
	if out, err := exec.Command("gcc", "-g", "-O0", "-o", exe, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	ef, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	syms, err := ef.Symbols()
	ef.Close()
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{exe: exe}
	var entry uint64
	for _, s := range syms {
		if s.Name == "show" {
			entry = s.Value
		}
	}
	if entry == 0 {
		t.Fatal("no symbol show")
	}
	var vars []ir.Var
	for i, reg := range []byte{0x55, 0x54, 0x51, 0x52} { // rdi rsi rdx rcx
		vars = append(vars, ir.Var{Name: fmt.Sprintf("arg%d$", i), Expr: []byte{reg}, Str: 16})
	}
	off := fx.fileOffset(t, entry)
	p := Plan{Binary: exe, Spec: bpfgen.Spec{EntryOffset: off, EntryPC: entry, RetSize: 4,
		Stmts: []bpfgen.Stmt{{ID: 1, PC: entry, FileOffset: off, CFA: bpfgen.CFARule{Reg: 7, Offset: 8}, Vars: vars}}}}
	unread := func(p uintptr) Value { return Value{U64: uint64(p), OK: true, Unreadable: true} }
	for _, faultIn := range []bool{true, false} {
		t.Run(fmt.Sprintf("faultIn=%v", faultIn), func(t *testing.T) {
			cmd := exec.Command(exe)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var crossing, untouched, unmapped uintptr
			if _, err := fmt.Fscanf(bufio.NewReader(out), "%v %v %v\n", &crossing, &untouched, &unmapped); err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("reading the addresses: %v", err)
			}
			s, err := Start(context.Background(), p, Options{PIDs: []int{cmd.Process.Pid}, NoFaultIn: !faultIn})
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal(err)
			}
			var traces []Trace
			done := make(chan struct{})
			go func() {
				for tr := range s.Traces() {
					traces = append(traces, tr)
				}
				close(done)
			}()
			fmt.Fprintln(in, "go")
			in.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("pages: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			<-done
			if len(traces) != 1 || len(traces[0].Records) != 1 {
				t.Fatalf("traces %v, want one with one record", traces)
			}
			want := []Value{unread(crossing), unread(untouched), unread(0), unread(unmapped)}
			if faultIn {
				want[0] = Value{OK: true, Bytes: []byte("hello")}
				want[1] = Value{OK: true, Bytes: []byte{}}
			}
			if got := traces[0].Records[0].Values; !reflect.DeepEqual(got, want) {
				t.Errorf("values %+v, want %+v", got, want)
			}
		})
	}
}
