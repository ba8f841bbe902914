package target

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DpkgInfo is where dpkg keeps the list of files each installed package
// ships (PKG.list, or PKG:ARCH.list for multi-arch packages). It is read
// directly, as `dpkg -S` reads it, only to advise on missing debug info.
var DpkgInfo = "/var/lib/dpkg/info"

// debugPackages are the Debian packages whose debug info is not in an
// automatic PKG-dbgsym package but in a -dbg package of their own (checked
// with apt-cache show on Debian 12: libc6-dbg exists, libc6-dbgsym does
// not).
var debugPackages = map[string]string{
	"libc6": "libc6-dbg",
}

// dpkgOwner returns the installed package that ships path, and whether
// dpkg's database was there to ask. The path may be canonical (/usr/bin/ls)
// while the package lists it as shipped before /usr was merged (/bin/ls):
// both spellings are tried.
func dpkgOwner(path string) (pkg string, ok bool) {
	lists, err := filepath.Glob(filepath.Join(DpkgInfo, "*.list"))
	if err != nil || len(lists) == 0 {
		return "", false
	}
	var needles [][]byte
	for _, p := range usrMergeAliases(path) {
		needles = append(needles, []byte("\n"+p+"\n"))
	}
	for _, l := range lists {
		data, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		data = append(append([]byte{'\n'}, data...), '\n')
		for _, n := range needles {
			if bytes.Contains(data, n) {
				name := strings.TrimSuffix(filepath.Base(l), ".list")
				name, _, _ = strings.Cut(name, ":") // zlib1g:amd64
				return name, true
			}
		}
	}
	return "", true
}

// usrMergeAliases is path and its other spelling across the /usr merge
// (Debian 12 links /bin, /sbin and /lib* into /usr).
func usrMergeAliases(path string) []string {
	out := []string{path}
	for _, d := range []string{"/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/"} {
		if rest, ok := strings.CutPrefix(path, "/usr"+d); ok {
			return append(out, d+rest)
		}
		if rest, ok := strings.CutPrefix(path, d); ok {
			return append(out, "/usr"+d+rest)
		}
	}
	return out
}

// debugAdvice says how to obtain debug info for the binary at path: the
// debug package of the installed package that owns it, or, for a file no
// package owns (a program the user built), to rebuild it with -g. server
// is the clause about debuginfod, for files a distribution ships.
func debugAdvice(path, server string) string {
	pkg, ok := dpkgOwner(path)
	switch {
	case !ok:
		return fmt.Sprintf("install the distribution's debug package for it or %s; if you built it, rebuild it with -g", server)
	case pkg == "":
		return "no installed package owns it: rebuild it with -g"
	}
	if dbg, ok := debugPackages[pkg]; ok {
		return fmt.Sprintf("install %s (the debug info of package %s, which owns it) or %s", dbg, pkg, server)
	}
	return fmt.Sprintf("install %s-dbgsym (the debug info of package %s, which owns it; Debian keeps -dbgsym packages in the debian-debug archive) or %s", pkg, pkg, server)
}
