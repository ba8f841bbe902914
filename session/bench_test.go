package session

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/whythefail/whythefail/bpfgen"
	"github.com/whythefail/whythefail/expr/ir"
)

// spin runs the fixture's spin mode for n calls of check() and returns the
// time per call, the process start-up (spin 0) subtracted.
func spin(tb testing.TB, exe string, n int) time.Duration {
	run := func(n int) time.Duration {
		start := time.Now()
		if out, err := exec.Command(exe, "spin", fmt.Sprint(n)).CombinedOutput(); err != nil {
			tb.Fatalf("%s spin %d: %v\n%s", exe, n, err, out)
		}
		return time.Since(start)
	}
	startup := run(0)
	d := run(n) - startup
	return max(d, 0) / time.Duration(n)
}

// attachEmpty puts a program that does nothing on every probe of p: the
// cost of the traps alone, the floor no tracer can go under.
func attachEmpty(tb testing.TB, p Plan) func() {
	f, err := AttachFloor(p)
	if err != nil {
		tb.Fatal(err)
	}
	return func() { f.Close() }
}

// BenchmarkStatement measures a call of check() (about ten statements, no
// failing call) untraced, under empty programs at the same probes (the
// floor), and traced with every invocation discarded at return. The traced
// case reports its ratio to the floor as x-floor.
func BenchmarkStatement(b *testing.B) {
	requireBPF(b)
	for _, opt := range []string{"-O0", "-O2"} {
		f := buildFixture(b, "gcc", opt)
		p := f.plan(b, opt == "-O0")
		b.Run("gcc"+opt+"/untraced", func(b *testing.B) {
			b.ReportMetric(float64(spin(b, f.exe, max(b.N, 1000))), "ns/call")
		})
		b.Run("gcc"+opt+"/empty", func(b *testing.B) {
			detach := attachEmpty(b, p)
			defer detach()
			b.ReportMetric(float64(spin(b, f.exe, max(b.N, 1000))), "ns/call")
		})
		b.Run("gcc"+opt+"/traced", func(b *testing.B) {
			detach := attachEmpty(b, p)
			floor := spin(b, f.exe, 2000)
			detach()
			s, err := Start(context.Background(), p, Options{PIDs: []int{os.Getpid()}})
			if err != nil {
				b.Fatal(err)
			}
			go func() {
				for range s.Traces() {
				}
			}()
			per := spin(b, f.exe, max(b.N, 1000))
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			st, _ := s.Stats()
			if st.ExitHit != 0 || st.RingBytes != 0 || st.MissingBuffer != 0 {
				b.Errorf("spin commits nothing, got %+v", st)
			}
			b.ReportMetric(float64(per), "ns/call")
			b.ReportMetric(float64(per)/float64(floor), "x-floor")
			b.ReportMetric(float64(st.Statements)/float64(st.Entries), "stmts/call")
		})
	}
}

// BenchmarkStringRead measures a call of check() at -O0 with a 16-byte
// string read at every statement (the bytes at rsp, always in memory), by
// sleepable programs that may fault pages in and by plain ones: the cost of
// sleepability when no page is missing.
func BenchmarkStringRead(b *testing.B) {
	requireBPF(b)
	f := buildFixture(b, "gcc", "-O0")
	p := f.plan(b, true)
	for i := range p.Stmts {
		st := &p.Stmts[i]
		st.Vars = append(append([]ir.Var{}, st.Vars...), ir.Var{Name: "rsp$", Expr: []byte{0x77, 0x00, 0x9f}, Str: 16})
	}
	for _, faultIn := range []bool{false, true} {
		b.Run(fmt.Sprintf("faultIn=%v", faultIn), func(b *testing.B) {
			s, err := Start(context.Background(), p, Options{PIDs: []int{os.Getpid()}, NoFaultIn: !faultIn})
			if err != nil {
				b.Fatal(err)
			}
			go func() {
				for range s.Traces() {
				}
			}()
			per := spin(b, f.exe, max(b.N, 1000))
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(per), "ns/call")
		})
	}
}

// BenchmarkBacktrace measures a call of check() traced without and with
// the stack copy of --backtrace (bpfgen.DefaultStack bytes at each entry),
// every invocation discarded at return, in one run: what the flag adds to
// each call when no trace is kept. Besides the time per call (traps
// included, noisy on a loaded machine) it reports the entry program's own
// run time per call from the kernel's BPF statistics (entry-ns), where
// the copy is made.
func BenchmarkBacktrace(b *testing.B) {
	requireBPF(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enabling BPF run-time statistics: %v", err)
	}
	defer stats.Close()
	for _, opt := range []string{"-O0", "-O2"} {
		f := buildFixture(b, "gcc", opt)
		p := f.plan(b, opt == "-O0")
		for _, stack := range []int{0, bpfgen.DefaultStack} {
			b.Run(fmt.Sprintf("gcc%s/stack=%d", opt, stack), func(b *testing.B) {
				q := p
				q.Stack = stack
				s, err := Start(context.Background(), q, Options{PIDs: []int{os.Getpid()}})
				if err != nil {
					b.Fatal(err)
				}
				go func() {
					for range s.Traces() {
					}
				}()
				per := spin(b, f.exe, max(b.N, 1000))
				ps, err := s.coll.Programs[bpfgen.ProgEntry].Stats()
				if err != nil {
					b.Fatal(err)
				}
				rt, n := ps.Runtime, ps.RunCount
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(per), "ns/call")
				if n > 0 {
					b.ReportMetric(float64(rt.Nanoseconds())/float64(n), "entry-ns")
				}
			})
		}
	}
}
