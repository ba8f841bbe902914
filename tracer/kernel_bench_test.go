package tracer

import (
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
const benchOpens = "20000"

// TestKernelFloorGuest measures, in the guest, what tracing
// do_sys_openat2 costs (a condition never true: every statement recorded,
// then discarded) against empty kprobe programs at the same probes
// (--floor) and against no probes, each timing the same -c command
// (openmissing opening a missing file benchExpr times), twice in turn.
// It logs the figures and asserts nothing about them (TCG on a shared
// host is noisy); it checks only that every run ran.
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
	timed := `read a x </proc/uptime; ./openmissing ` + benchOpens + ` >/dev/null; read b x </proc/uptime; awk "BEGIN { printf \"elapsed_ms %d\\n\", ($b - $a) * 1000 }"`
	wtf := "export WHYTHEFAIL_CACHE_DIR=/host/cache; ./whythefail --debug-dir /host/debug -q --no-verdict "
	var cases []guest.Case
	for round := 0; round < 2; round++ {
		cases = append(cases,
			guest.Case{Name: "none", Script: timed},
			guest.Case{Name: "floor", Script: wtf + "--floor kernel do_sys_openat2 '$return == -3' -c " + shellQuote(timed)},
			guest.Case{Name: "traced", Script: wtf + "kernel do_sys_openat2 '$return == -3' -c " + shellQuote(timed)})
	}
	res := k.MustRun(t, guest.Config{Share: share, Timeout: 25 * time.Minute, Cases: cases})
	re := regexp.MustCompile(`elapsed_ms (\d+)`)
	var figures []string
	for i, r := range res {
		m := re.FindStringSubmatch(r.Output)
		if m == nil {
			t.Errorf("%s: no timing in the output (status %d):\n%s", cases[i].Name, r.Status, r.Output)
			continue
		}
		if cases[i].Name == "traced" {
			// The -c shell's own opens (date's) count too.
			e := regexp.MustCompile(`entry count: (\d+)\n`).FindStringSubmatch(r.Output)
			if e == nil {
				t.Errorf("traced: no entry count:\n%s", r.Output)
			} else if n, _ := strconv.Atoi(e[1]); n < 20000 {
				t.Errorf("traced: not every call traced:\n%s", r.Output)
			}
		}
		figures = append(figures, cases[i].Name+" "+m[1]+" ms")
	}
	t.Logf("%s opens of a missing file in the guest: %s", benchOpens, strings.Join(figures, ", "))
}
