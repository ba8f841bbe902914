package guest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/guest"
)

// TestGuestFailures boots the guest once and checks that the failures the
// kernel tests trace happen there as they do on a stock Debian machine:
// perf_event_open with an unknown branch_sample_type bit (the seed
// article), openat of a missing file, and a 9p mount with a bogus protocol
// version (module 9pnet). It also checks the guest's own setup: the
// kernel's release, tracefs and debugfs mounted, the share writable.
func TestGuestFailures(t *testing.T) {
	k := guest.Require(t)
	share := t.TempDir()
	guest.Program(t, share, "perfopen")
	guest.Program(t, share, "openmissing")
	res := k.MustRun(t, guest.Config{Share: share, Cases: []guest.Case{
		{Name: "setup", Script: `uname -r
echo $WHYTHEFAIL_GUEST
grep -E ' (proc|sysfs|devtmpfs|tracefs|debugfs|9p) ' /proc/mounts | cut -d' ' -f2,3 | sort
echo written >/host/from-guest
`},
		{Name: "perfopen", Script: "./perfopen"},
		{Name: "openmissing", Script: "./openmissing"},
		{Name: "9p bogus version", Script: "mkdir -p /x && mount -t 9p -o trans=virtio,version=bogus host /x"},
		{Name: "exit status", Script: "exit 7"},
	}})
	want := []guest.Result{
		{Name: "setup", Output: k.Release + "\n1\n" + strings.Join([]string{
			"/ctl 9p", "/dev devtmpfs", "/host 9p", "/proc proc", "/sys sysfs",
			"/sys/kernel/debug debugfs", "/sys/kernel/tracing tracefs"}, "\n") + "\n"},
		{Name: "perfopen", Output: "perf_event_open: errno 22 (Invalid argument)\n", Status: 1},
		{Name: "openmissing", Output: "openat: errno 2 (No such file or directory)\n", Status: 1},
		{Name: "9p bogus version", Output: "mount: mounting host on /x failed: Invalid argument\n", Status: 255},
		{Name: "exit status", Status: 7},
	}
	if b, err := os.ReadFile(filepath.Join(share, "from-guest")); err != nil || string(b) != "written\n" {
		t.Errorf("the guest's write to /host/from-guest: got %q, %v; want \"written\\n\"", b, err)
	}
	if len(res) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(res), len(want), res)
	}
	for i := range want {
		if res[i] != want[i] {
			t.Errorf("case %q:\ngot  status %d, output:\n%s\nwant status %d, output:\n%s", want[i].Name, res[i].Status, res[i].Output, want[i].Status, want[i].Output)
		}
	}
}
