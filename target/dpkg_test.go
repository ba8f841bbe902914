package target

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/whythefail/whythefail/internal/fixture"
)

// TestDebugAdvice asks the machine's dpkg database which package owns
// files Debian 12 always has, by their canonical paths (after the /usr
// merge, which the packages' file lists predate), and checks the advice
// names that package's real debug package.
func TestDebugAdvice(t *testing.T) {
	if _, err := os.Stat(filepath.Join(DpkgInfo, "coreutils.list")); err != nil {
		fixture.Missing(t, "no dpkg database with coreutils: %v", err)
	}
	const server = "set DEBUGINFOD_URLS"
	for _, c := range []struct{ path, want string }{
		{"/bin/ls", "install coreutils-dbgsym (the debug info of package coreutils, which owns it; Debian keeps -dbgsym packages in the debian-debug archive) or " + server},
		{"/lib/x86_64-linux-gnu/libc.so.6", "install libc6-dbg (the debug info of package libc6, which owns it) or " + server},
		{"/lib/x86_64-linux-gnu/libz.so.1", "install zlib1g-dbgsym (the debug info of package zlib1g, which owns it; Debian keeps -dbgsym packages in the debian-debug archive) or " + server},
	} {
		canonical, err := filepath.EvalSymlinks(c.path)
		if err != nil {
			fixture.Missing(t, "%v", err)
			continue
		}
		if got := debugAdvice(canonical, server); got != c.want {
			t.Errorf("debugAdvice(%s) = %q\nwant %q", canonical, got, c.want)
		}
	}
	mine := filepath.Join(t.TempDir(), "prog")
	if got, want := debugAdvice(mine, server), "no installed package owns it: rebuild it with -g"; got != want {
		t.Errorf("debugAdvice(%s) = %q, want %q", mine, got, want)
	}
	saved := DpkgInfo
	DpkgInfo = t.TempDir() // a system without dpkg
	defer func() { DpkgInfo = saved }()
	if got, want := debugAdvice("/usr/bin/ls", server), "install the distribution's debug package for it or set DEBUGINFOD_URLS; if you built it, rebuild it with -g"; got != want {
		t.Errorf("without dpkg: %q, want %q", got, want)
	}
}

func TestUsrMergeAliases(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"/usr/bin/ls", []string{"/usr/bin/ls", "/bin/ls"}},
		{"/lib/x86_64-linux-gnu/libc.so.6", []string{"/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"}},
		{"/usr/lib64/ld-linux-x86-64.so.2", []string{"/usr/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"}},
		{"/usr/libexec/x", []string{"/usr/libexec/x"}},
		{"/opt/bin/x", []string{"/opt/bin/x"}},
	} {
		got := usrMergeAliases(c.in)
		if len(got) != len(c.want) || got[0] != c.want[0] || (len(got) == 2 && got[1] != c.want[1]) {
			t.Errorf("usrMergeAliases(%s) = %q, want %q", c.in, got, c.want)
		}
	}
}
