package debuginfod

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fx "github.com/whythefail/whythefail/internal/fixture"
)

// needTool and run are the shared fixture helpers: a missing tool skips,
// or fails under CI=true.
func needTool(t testing.TB, name string) { t.Helper(); fx.NeedTool(t, name) }

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return fx.Run(t, name, args...)
}

// fixture is a program whose debug info lives only in a separate file.
type fixture struct {
	serveDir string // what the server indexes: the debug file and the stripped binary
	binary   string // stripped, in serveDir
	debug    string // --only-keep-debug, in serveDir
	source   string // absolute path of the C source, as DWARF records it
	buildID  []byte
}

// fixtureSource has a '#' and a space in its directory to exercise the
// cache-name and URL escaping.
const fixtureSource = `int twice(int x) { return 2 * x; }
int main(void) { return twice(21) - 42; }
`

// buildFixture compiles fixtureSource with gcc -g and splits its DWARF off.
func buildFixture(t testing.TB) fixture {
	t.Helper()
	root := t.TempDir()
	srcDir := filepath.Join(root, "src #1")
	serve := filepath.Join(root, "serve")
	for _, d := range []string{srcDir, serve} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(srcDir, "prog.c")
	if err := os.WriteFile(src, []byte(fixtureSource), 0o644); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(root, "prog.full")
	run(t, "gcc", "-g", "-O0", "-Wl,--build-id", "-o", full, src)
	f := fixture{serveDir: serve, binary: filepath.Join(serve, "prog"), debug: filepath.Join(serve, "prog.debug"), source: src}
	run(t, "objcopy", "--only-keep-debug", full, f.debug)
	run(t, "objcopy", "--strip-all", full, f.binary)
	f.buildID = fileBuildID(t, f.binary)
	return f
}

// fileBuildID reads a file's build-id with readelf, independently of the
// package's own parser.
func fileBuildID(t testing.TB, path string) []byte {
	t.Helper()
	for _, line := range strings.Split(run(t, "readelf", "-n", path), "\n") {
		if _, id, ok := strings.Cut(line, "Build ID: "); ok {
			b, err := hex.DecodeString(strings.TrimSpace(id))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("%s has no build-id", path)
	return nil
}

// cacheListing lists every file below dir as "relative/path size mode".
func cacheListing(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		size := info.Size()
		if d.IsDir() {
			size = 0
		}
		out = append(out, fmt.Sprintf("%s %d %s", rel, size, info.Mode()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
