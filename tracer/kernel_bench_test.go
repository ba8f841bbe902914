package tracer

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	fx "github.com/whythefail/whythefail/internal/fixture"
	"github.com/whythefail/whythefail/internal/guest"
)

// benchOpens is how many missing-file opens each benchmark run makes.
const benchOpens = "100000"

// TestKernelFloorGuest measures, in the guest, what tracing
// do_sys_openat2 costs (a condition never true: every statement recorded,
// then discarded) against empty programs at the same probes (--floor:
// kprobes at the same offsets, the return probe of the same kind) and
// against no probes, each timing the same -c command (openmissing opening
// a missing file benchOpens times), twice in turn. The guest runs with
// qemu's -icount (guest.Config.Icount): its clock counts instructions, one
// nanosecond each, so the figures are instructions executed, the same on a
// loaded host as on an idle one. It logs them, each round's ratio of the
// traced cost over no probes to the floor's, and the instructions a probe
// hit costs in each, and asserts nothing about them; it checks only that
// every run ran.
func TestKernelFloorGuest(t *testing.T) {
	if guest.Inside() {
		t.Skip("in the guest")
	}
	k := guest.Require(t)
	share := t.TempDir()
	vmlinux := "/usr/lib/debug/boot/vmlinux-" + k.Release
	if _, err := os.Stat(vmlinux); err != nil {
		fx.Missing(t, "the guest kernel's vmlinux is missing (run .ci/kernel): %v", err)
	}
	linkOrCopy(t, vmlinux, filepath.Join(share, "debug", "boot", "vmlinux-"+k.Release))
	linkOrCopy(t, fx.Whythefail(t), filepath.Join(share, "whythefail"))
	guest.Program(t, share, "openmissing")
	t.Setenv("WHYTHEFAIL_CACHE_DIR", filepath.Join(share, "cache"))
	if _, err := prepareOther(t, Config{Target: "kernel", Function: "do_sys_openat2", Condition: "$return == -3", Release: k.Release}); err != nil {
		t.Fatal(err)
	}
	// /proc/uptime in hundredths of a second: busybox's date has no %N.
	// The program runs from the guest's memory, not over 9p, so that no
	// host I/O lands in the timed part.
	timed := `read a x </proc/uptime; /tmp/openmissing ` + benchOpens + ` >/dev/null; read b x </proc/uptime; awk "BEGIN { printf \"elapsed_ms %d\\n\", ($b - $a) * 1000 }"`
	wtf := "cp openmissing /tmp/; export WHYTHEFAIL_CACHE_DIR=/host/cache; ./whythefail --debug-dir /host/debug -q --no-verdict "
	var cases []guest.Case
	for round := 0; round < 2; round++ {
		cases = append(cases,
			guest.Case{Name: "none", Script: "cp openmissing /tmp/; " + timed},
			guest.Case{Name: "floor", Script: wtf + "--floor kernel do_sys_openat2 '$return == -3' -c " + shellQuote(timed)},
			guest.Case{Name: "traced", Script: wtf + "kernel do_sys_openat2 '$return == -3' -c " + shellQuote(timed)})
	}
	res := k.MustRun(t, guest.Config{Share: share, Timeout: 40 * time.Minute, Cases: cases, Icount: true})
	re := regexp.MustCompile(`elapsed_ms (\d+)`)
	var figures []string
	ms := map[string]int{}
	for i, r := range res {
		m := re.FindStringSubmatch(r.Output)
		if m == nil {
			t.Errorf("%s: no timing in the output (status %d):\n%s", cases[i].Name, r.Status, r.Output)
			continue
		}
		figures = append(figures, fmt.Sprintf("%s %s M instructions", cases[i].Name, m[1]))
		ms[cases[i].Name], _ = strconv.Atoi(m[1])
		if cases[i].Name != "traced" {
			continue
		}
		// The -c shell's own opens count too.
		count := func(what string) int {
			e := regexp.MustCompile(what + ` count: (\d+)\n`).FindStringSubmatch(r.Output)
			if e == nil {
				t.Errorf("traced: no %s count:\n%s", what, r.Output)
				return 0
			}
			n, _ := strconv.Atoi(e[1])
			return n
		}
		entries, stmts := count("entry"), count("statement")
		if want, _ := strconv.Atoi(benchOpens); entries < want {
			t.Errorf("traced: not every call traced:\n%s", r.Output)
		}
		// Each round's cost over no probes, traced against the floor,
		// and per probe hit (entry, statements, return).
		none, floor, traced := ms["none"], ms["floor"], ms["traced"]
		hits := float64(2*entries + stmts)
		if floor > none && hits > 0 {
			figures = append(figures, fmt.Sprintf("(round: %d probe hits; over no probes, floor %d M = %.0f a hit, traced %d M = %.0f a hit: %.2fx)",
				int(hits), floor-none, float64(floor-none)*1e6/hits, traced-none, float64(traced-none)*1e6/hits, float64(traced-none)/float64(floor-none)))
		}
	}
	t.Logf("%s opens of a missing file in the guest (qemu -icount: 1 ns = 1 instruction): %s", benchOpens, strings.Join(figures, ", "))
}
