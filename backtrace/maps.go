package backtrace

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Mapping is one line of /proc/PID/maps.
type Mapping struct {
	Start, End uint64 // run-time addresses, End exclusive
	Offset     uint64 // file offset mapped at Start
	Exec       bool   // the x permission
	Path       string // the mapped file; empty or [name] for anonymous memory
}

// ParseMaps parses the text of /proc/PID/maps. A line that does not have
// the kernel's format is an error naming it.
func ParseMaps(b []byte) ([]Mapping, error) {
	var out []Mapping
	for n, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		m, err := parseMapsLine(string(line))
		if err != nil {
			return nil, fmt.Errorf("maps line %d: %v", n+1, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// parseMapsLine parses "start-end perms offset dev inode   path".
func parseMapsLine(line string) (Mapping, error) {
	var m Mapping
	fields := make([]string, 0, 5)
	rest := line
	for len(fields) < 5 {
		rest = strings.TrimLeft(rest, " ")
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			fields, rest = append(fields, rest), ""
			break
		}
		fields, rest = append(fields, rest[:i]), rest[i:]
	}
	if len(fields) < 5 {
		return m, fmt.Errorf("%q has %d fields, want at least 5", line, len(fields))
	}
	lo, hi, ok := strings.Cut(fields[0], "-")
	if !ok {
		return m, fmt.Errorf("%q: range %q has no '-'", line, fields[0])
	}
	var err error
	if m.Start, err = strconv.ParseUint(lo, 16, 64); err != nil {
		return m, fmt.Errorf("%q: start %q is not hex", line, lo)
	}
	if m.End, err = strconv.ParseUint(hi, 16, 64); err != nil {
		return m, fmt.Errorf("%q: end %q is not hex", line, hi)
	}
	if m.End < m.Start {
		return m, fmt.Errorf("%q: range ends before it starts", line)
	}
	if len(fields[1]) != 4 {
		return m, fmt.Errorf("%q: permissions %q are not 4 characters", line, fields[1])
	}
	m.Exec = fields[1][2] == 'x'
	if m.Offset, err = strconv.ParseUint(fields[2], 16, 64); err != nil {
		return m, fmt.Errorf("%q: offset %q is not hex", line, fields[2])
	}
	m.Path = strings.TrimSuffix(strings.TrimLeft(rest, " "), " (deleted)")
	return m, nil
}

// find returns the mapping that holds addr.
func find(maps []Mapping, addr uint64) (Mapping, bool) {
	for _, m := range maps {
		if addr >= m.Start && addr < m.End {
			return m, true
		}
	}
	return Mapping{}, false
}
