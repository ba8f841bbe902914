package cli_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// hideTracefs unmounts, inside the private mount namespace it runs in,
// every tracefs and debugfs mount, deepest first, then fails if one is left.
const hideTracefs = `for m in $(awk '/ - (tracefs|debugfs) / {print $5}' /proc/self/mountinfo | sort -r); do
	umount -l "$m" 2>/dev/null || true
done
if grep -E ' - (tracefs|debugfs) ' /proc/self/mountinfo >&2; then
	echo "tracefs or debugfs is still mounted" >&2
	exit 99
fi
`

var (
	demoPIDRE  = regexp.MustCompile(`(?m)^demo\[\d+\]`)
	demoAddrRE = regexp.MustCompile(`0x[0-9a-f]{9,}`)
)

// TestDemoWithoutTracefs runs the README's set-up step, `bash .ci/demo`, in
// a private mount namespace where neither tracefs nor debugfs is mounted
// (as on a fresh VM or in a container), and compares the whole output with
// a golden file: thread ids and addresses (which ASLR moves) are redacted,
// every value and line number is compared. The demo's own two lines go to
// the same stdout at a time of their own; they are checked apart.
func TestDemoWithoutTracefs(t *testing.T) {
	fixture.RequireBPF(t)
	fixture.NeedTool(t, "unshare")
	fixture.NeedTool(t, "gcc")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", hideTracefs+"exec bash .ci/demo")
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("unshare -m bash .ci/demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !onlyNotes(stderr.String()) || !slices.ContainsFunc(strings.Split(stderr.String(), "\n"), attachedRE.MatchString) {
		t.Errorf("stderr holds more than notes and the line saying where the probes are:\n%s", stderr.String())
	}
	out := stdout.String()
	for _, own := range []string{"load_config(\"batch:16,debug\"): Invalid argument\n", "1000 loads, 1 failed, 7496 workers\n"} {
		if strings.Count(out, own) != 1 {
			t.Errorf("the demo's line %q is not printed once", own)
		}
		out = strings.Replace(out, own, "", 1)
	}
	out = demoPIDRE.ReplaceAllString(out, "demo[TID]")
	out = demoAddrRE.ReplaceAllString(out, "0xADDR")
	fixture.Golden(t, "testdata/demo-without-tracefs.txt", []byte(out))
}
