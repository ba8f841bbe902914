package pipeline

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/whythefail/whythefail/"

// order is the pipeline, earliest stage first: a package may import only
// packages listed before it, and the helpers.
var order = []string{
	"debuginfod",
	"target/abi",
	"target/dwarfsec",
	"target",
	"source",
	"debuginfo",
	"probe/spec",
	"insn",
	"probe/listing",
	"probe",
	"expr/ir",
	"probe/place",
	"expr",
	"bpfgen",
	"session",
	"backtrace",
	"verdict",
	"follow",
	"report",
	"tracer",
	"internal/cli",
	"cmd/whythefail",
}

// helpers stand outside the order: any stage may import them, and they
// import no stage.
var helpers = []string{
	"debuginfo/bidcache",
	"internal/elfnote",
	"internal/nearest",
	"internal/timing",
	"internal/leb128",
	"internal/dwop",
	"internal/pipeline",
	"internal/fixture",
	"internal/guest",
	"internal/staporacle",
	"internal/debuginfodtest",
}

// beforeKernel is the last stage that must not depend on cilium/ebpf:
// everything up to expressions is plain data, and only the BPF generator
// and the stages after it know the kernel's types.
const beforeKernel = "expr"

// known lists the violations that exist today, "importer -> imported"
// (or "importer -> cilium/ebpf"); none today. Should one ever have to be
// tolerated for a while, it is listed here with the issue that removes it;
// whoever removes it deletes its line, and
// the test fails while a listed violation no longer exists, so the list
// only shrinks.
var known = map[string]bool{}

type listedPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// packages lists the module's packages with go list.
func packages(t *testing.T) []listedPackage {
	t.Helper()
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if p, err := exec.LookPath("go"); err == nil {
		goCmd = p
	}
	cmd := exec.Command(goCmd, "list", "-json", module+"...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list's output: %v", err)
		}
		p.ImportPath = strings.TrimPrefix(p.ImportPath, module)
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestImportOrder fails when a package imports a later stage, when a
// helper imports a stage, when a package is in neither list, or when a
// stage up to expr depends on cilium/ebpf.
func TestImportOrder(t *testing.T) {
	rank := make(map[string]int)
	for i, p := range order {
		rank[p] = i
	}
	helper := make(map[string]bool)
	for _, p := range helpers {
		helper[p] = true
	}
	found := make(map[string]bool)
	var violations []string
	for _, p := range packages(t) {
		r, staged := rank[p.ImportPath]
		if !staged && !helper[p.ImportPath] {
			t.Errorf("package %s is neither a stage nor a helper: add it to order or helpers (and to docs/architecture.md)", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			imp = strings.TrimPrefix(imp, module)
			if helper[imp] {
				continue
			}
			if ir, ok := rank[imp]; ok && staged && ir < r {
				continue
			}
			violations = append(violations, p.ImportPath+" -> "+imp)
		}
		if staged && r <= rank[beforeKernel] {
			for _, d := range p.Deps {
				if strings.HasPrefix(d, "github.com/cilium/ebpf") {
					violations = append(violations, p.ImportPath+" -> cilium/ebpf")
					break
				}
			}
		}
	}
	sort.Strings(violations)
	for _, v := range violations {
		found[v] = true
		if !known[v] {
			t.Errorf("%s: a package imports a later stage (or a helper imports a stage); the order is in internal/pipeline/pipeline_test.go and docs/architecture.md", v)
		}
	}
	for v := range known {
		if !found[v] {
			t.Errorf("%s is listed as a known violation but no longer happens: delete it from known", v)
		}
	}
}
