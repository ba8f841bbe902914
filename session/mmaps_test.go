package session

import (
	"bufio"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	fx "github.com/whythefail/whythefail/internal/fixture"
)

// TestMmapWatchAfterExit: a process that execs /bin/true after the watch
// starts, and exits, still has its executable mappings (true itself, the
// dynamic linker and libc) from the perf records, which /proc no longer
// has.
func TestMmapWatchAfterExit(t *testing.T) {
	fx.RequireRoot(t)
	cmd := exec.Command("/bin/sh", "-c", "read line; exec /bin/true")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	maps := mapsAfterExit(t, cmd, in, "go\n")
	for _, want := range []string{"/usr/bin/true", "/ld-linux-x86-64.so.2", "/libc.so.6"} {
		if !strings.Contains(maps, want) {
			t.Errorf("no mapping of %s in\n%s", want, maps)
		}
	}
	if strings.Contains(maps, "/usr/bin/dash") || strings.Contains(maps, "/bin/sh") {
		t.Errorf("the shell's mappings survived its exec:\n%s", maps)
	}
	sc := bufio.NewScanner(strings.NewReader(maps))
	for sc.Scan() {
		if m := parseProcMaps([]byte(sc.Text())); len(m) != 1 || m[0].length == 0 {
			t.Errorf("rendered line %q does not parse back", sc.Text())
		}
	}
}

// mapsAfterExit watches the mappings of cmd, a started process that
// waits for input on its stdin pipe in, then writes input there, closes
// it and waits for the process to exit; it returns the mappings the watch
// recorded for the process's pid, rendered as /proc/PID/maps lines.
func mapsAfterExit(t *testing.T, cmd *exec.Cmd, in io.WriteCloser, input string) string {
	t.Helper()
	w, err := watchMmaps([]int{cmd.Process.Pid})
	if err != nil {
		in.Close()
		cmd.Wait()
		t.Fatal(err)
	}
	defer w.close()
	in.Write([]byte(input))
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return string(w.maps(uint32(cmd.Process.Pid)))
}

// threadExec is a program whose second thread execs /bin/true once a line
// arrives on stdin, while the first waits for it: the exec'ing thread then
// takes the process's pid.
const threadExec = `#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *run(void *arg)
{
	char c;
	(void)arg;
	if (read(0, &c, 1) == 1)
		execl("/bin/true", "true", (char *)0);
	return 0;
}
int main(void)
{
	pthread_t t;
	pthread_create(&t, 0, run, 0);
	puts("ready");
	fflush(stdout);
	pthread_join(t, 0);
	return 1;
}
`

// TestMmapWatchThreadExec: the watch follows every thread of the process,
// so an exec from a thread other than the first (as the -c gate, a Go
// program, may do) still has its mappings recorded.
func TestMmapWatchThreadExec(t *testing.T) {
	fx.RequireRoot(t)
	fx.NeedTool(t, "gcc")
	dir := t.TempDir()
	src, exe := filepath.Join(dir, "texec.c"), filepath.Join(dir, "texec")
	if err := os.WriteFile(src, []byte(threadExec), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-pthread", "-o", exe, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	cmd := exec.Command(exe)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		in.Close()
		cmd.Wait()
		t.Fatalf("child said %q", line)
	}
	maps := mapsAfterExit(t, cmd, in, "x")
	if !strings.Contains(maps, "/usr/bin/true") || strings.Contains(maps, exe) {
		t.Errorf("mappings after the thread's exec:\n%s\nwant /usr/bin/true's, not %s's", maps, exe)
	}
}

// TestMmapApply: records as the kernel writes them (mmap, exec, fork,
// lost, each ending with its time) build the table in time order; a
// truncated record ends the stream.
func TestMmapApply(t *testing.T) {
	le := binary.LittleEndian
	clock := uint64(10)
	at := uint64(0) // a record's time; 0: the next tick
	rec := func(typ uint32, misc uint16, body []byte) []byte {
		for len(body)%8 != 0 {
			body = append(body, 0)
		}
		b := make([]byte, 8, 16+len(body))
		le.PutUint32(b, typ)
		le.PutUint16(b[4:], misc)
		le.PutUint16(b[6:], uint16(16+len(body)))
		b = append(b, body...)
		clock++
		tm := clock
		if at != 0 {
			tm = at
		}
		return le.AppendUint64(b, tm)
	}
	mmap := func(pid uint32, start, length, off uint64, path string) []byte {
		b := make([]byte, 40)
		le.PutUint32(b, pid)
		le.PutUint32(b[4:], pid)
		le.PutUint64(b[8:], start)
		le.PutUint64(b[16:], length)
		le.PutUint64(b[24:], off)
		return rec(perfRecordMmap, 0, append(b[:32], append([]byte(path), 0)...))
	}
	pair := func(typ uint32, misc uint16, a, b uint32) []byte {
		x := make([]byte, 24)
		le.PutUint32(x, a)
		le.PutUint32(x[4:], b)
		return rec(typ, misc, x)
	}
	var s []byte
	s = append(s, mmap(10, 0x1000, 0x2000, 0, "/old")...)
	s = append(s, pair(perfRecordComm, perfMiscCommExec, 10, 10)...)
	s = append(s, mmap(10, 0x5000, 0x1000, 0x3000, "/bin/x y")...)
	s = append(s, pair(perfRecordFork, 0, 11, 10)...)
	s = append(s, mmap(11, 0x9000, 0x1000, 0, "/lib/l.so")...)
	s = append(s, pair(perfRecordFork, 0, 10, 10)...) // a new thread: the table is unchanged
	lost := make([]byte, 16)
	le.PutUint64(lost[8:], 3)
	s = append(s, rec(perfRecordLost, 0, lost)...)
	at = 1 // written by another CPU before the exec: forgotten by it
	s = append(s, mmap(10, 0xb000, 0x1000, 0, "/before-exec")...)
	at = 0
	// Process 12's exec and mapping are stamped before its fork (the
	// CPUs' clocks drift apart under load): the fork must not put its
	// parent's mappings over them.
	s = append(s, pair(perfRecordComm, perfMiscCommExec, 12, 12)...)
	s = append(s, mmap(12, 0xc000, 0x1000, 0, "/bin/child")...)
	s = append(s, pair(perfRecordFork, 0, 12, 10)...)
	s = append(s, mmap(10, 0xa000, 0x1000, 0, "/never")[:20]...)
	w := &mmapWatch{byPID: map[uint32][]execMap{}}
	w.apply(s)
	for pid, want := range map[uint32]string{
		10: "5000-6000 r-xp 00003000 00:00 0 /bin/x y\n",
		11: "9000-a000 r-xp 00000000 00:00 0 /lib/l.so\n5000-6000 r-xp 00003000 00:00 0 /bin/x y\n",
		12: "c000-d000 r-xp 00000000 00:00 0 /bin/child\n",
	} {
		if got := string(w.maps(pid)); got != want {
			t.Errorf("process %d:\n%s\nwant\n%s", pid, got, want)
		}
	}
	if w.lost != 3 {
		t.Errorf("lost %d, want 3", w.lost)
	}
}

// TestMmapComplete: a process's mappings from the records are complete,
// and mapsOf takes them before /proc/PID/maps, only while no record was
// lost.
func TestMmapComplete(t *testing.T) {
	w := &mmapWatch{byPID: map[uint32][]execMap{10: {{start: 0x5000, length: 0x1000, pgoff: 0x3000, path: "/bin/x"}}}}
	const want = "5000-6000 r-xp 00003000 00:00 0 /bin/x\n"
	if got := string(w.complete(10)); got != want {
		t.Errorf("complete: %q, want %q", got, want)
	}
	if got := w.complete(11); got != nil {
		t.Errorf("complete for a process without mappings: %q, want nil", got)
	}
	w.lost = 1
	if got := w.complete(10); got != nil {
		t.Errorf("complete after a lost record: %q, want nil", got)
	}
}

// FuzzMmapRecords: any byte stream applies without panicking, and what
// it builds renders as maps lines that parse back.
func FuzzMmapRecords(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 56, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '/', 'x', 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte("7f00-8000 r-xp 00000000 08:01 12 /lib/a b.so\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		w := &mmapWatch{byPID: map[uint32][]execMap{}}
		w.apply(b)
		for pid := range w.byPID {
			out := w.maps(pid)
			if n := strings.Count(string(out), "\n"); len(parseProcMaps(out)) > n {
				t.Fatalf("%d lines parsed from %d", len(parseProcMaps(out)), n)
			}
		}
		for _, m := range parseProcMaps(b) {
			if m.start+m.length < m.start {
				t.Fatalf("mapping %+v wraps", m)
			}
		}
	})
}
