package source

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
)

// maxFileSize bounds what Lines reads: a source file this large is more
// likely a generated blob or a wrong path than something to quote from.
const maxFileSize = 64 << 20

// Lines caches source files split into lines, so that printing a trace
// reads each file once however many statements quote it. The zero value is
// ready to use; it is safe for concurrent use.
type Lines struct {
	mu    sync.Mutex
	files map[string][]string // nil entry: unreadable
}

// Line returns line n (counting from 1) of the file at path without its
// line ending, and whether the file could be read and has that line.
func (l *Lines) Line(path string, n int) (string, bool) {
	lines := l.load(path)
	if n < 1 || n > len(lines) {
		return "", false
	}
	return lines[n-1], true
}

func (l *Lines) load(path string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lines, ok := l.files[path]; ok {
		return lines
	}
	if l.files == nil {
		l.files = map[string][]string{}
	}
	lines := readLines(path)
	l.files[path] = lines
	return lines
}

// readLines reads a file's lines; "\r\n" endings lose their "\r", and a
// last line without a newline still counts.
func readLines(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil || len(data) > maxFileSize {
		return nil
	}
	if len(data) == 0 {
		return []string{}
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	lines := strings.Split(string(data), "\n")
	for i, s := range lines {
		lines[i] = strings.TrimSuffix(s, "\r")
	}
	return lines
}
