package target

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// FindExecutable resolves a program named on the command line the way stap
// resolves process("NAME") (its find_executable, execvp's policy): a name
// containing a slash is a path and is used as it is; a bare name is looked
// up in the directories of $PATH, the first regular file there that is
// executable winning. Unlike stap, a bare name that is a file in the
// current directory means that file, as the user who just built ./prog
// and typed prog expects. When nothing matches, name comes back unchanged,
// so that Open's error names what was typed.
func FindExecutable(name string) string {
	if name == "" || strings.Contains(name, "/") {
		return name
	}
	if _, err := os.Stat(name); err == nil {
		return name
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			continue // stap skips empty entries (execvp would read ".")
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && syscall.Access(p, 1 /* X_OK */) == nil {
			return p
		}
	}
	return name
}
