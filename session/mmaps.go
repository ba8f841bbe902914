package session

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmapWatch follows the executable mappings of the processes a session
// traces by pid (-c, -x) and of their descendants, for --backtrace, through
// the kernel's perf mmap records: a dummy software event per CPU, inherited
// by children, records each executable mmap, exec and fork. Those records
// outlive the process, so a trace's return addresses can be placed in their
// binaries even when the process exited before /proc/PID/maps could be read
// (a short -c command ends right after its failing call).
//
// Unmappings are not recorded: a later mapping of an address wins over an
// earlier one.
type mmapWatch struct {
	rings []*perfRing
	fds   []int // events writing into another event's ring

	mu    sync.Mutex
	byPID map[uint32][]execMap // newest last
	// execd are the processes whose exec was seen: a fork record that
	// sorts after it (CPU clocks drift a little apart under load) must
	// not put the parent's mappings back over the new image's.
	execd map[uint32]bool
	lost  uint64 // records the kernel dropped (a ring was full)
}

// execMap is one executable mapping: run-time start, length, file offset.
type execMap struct {
	start, length, pgoff uint64
	path                 string
}

// perfRing is one CPU's event and its mapped ring buffer.
type perfRing struct {
	fd   int
	mem  []byte
	data []byte // the data pages, a power of two long
}

// Perf record types and bits (include/uapi/linux/perf_event.h).
const (
	perfRecordMmap   = 1
	perfRecordLost   = 2
	perfRecordComm   = 3
	perfRecordFork   = 7
	perfMiscCommExec = 0x2000
	perfRingPages    = 16
	perfHeadOffset   = 1024 // data_head in struct perf_event_mmap_page
	perfTailOffset   = 1032
)

// watchMmaps starts following pids' mappings: their current ones from
// /proc/PID/maps, later ones from the perf records.
func watchMmaps(pids []int) (*mmapWatch, error) {
	w := &mmapWatch{byPID: map[uint32][]execMap{}}
	cpus, err := onlineCPUs()
	if err != nil {
		return nil, err
	}
	page := os.Getpagesize()
	// One ring per CPU; every watched thread's event on that CPU writes
	// into it (PERF_EVENT_IOC_SET_OUTPUT).
	ringOf := map[int]*perfRing{}
	opened := map[int]bool{} // tids with events
	for _, pid := range pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid)); err == nil {
			w.byPID[uint32(pid)] = parseProcMaps(b)
		}
		// Per-task events follow one thread and the tasks it creates
		// after: every thread of the process needs one (a Go program,
		// like the -c gate, may exec from any thread, which then takes
		// the process's pid). Listed again until no new thread shows.
		for round := 0; round < 4; round++ {
			tids := threadsOf(pid)
			added := false
			for _, tid := range tids {
				if opened[tid] {
					continue
				}
				opened[tid], added = true, true
				for _, cpu := range cpus {
					if err := w.openEvent(tid, cpu, page, ringOf); err != nil {
						w.close()
						return nil, fmt.Errorf("following the mappings of process %d: %w", pid, err)
					}
				}
			}
			if !added {
				break
			}
		}
	}
	return w, nil
}

// threadsOf lists the thread ids of process pid (just pid when they
// cannot be listed).
func threadsOf(pid int) []int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return []int{pid}
	}
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids
}

// openEvent opens the dummy event of thread tid on cpu, writing into that
// CPU's ring (mapped by the first event opened there).
func (w *mmapWatch) openEvent(tid, cpu, page int, ringOf map[int]*perfRing) error {
	attr := &unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_DUMMY,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Bits: unix.PerfBitInherit | unix.PerfBitMmap | unix.PerfBitComm | unix.PerfBitCommExec | unix.PerfBitTask | unix.PerfBitSampleIDAll |
			unix.PerfBitUseClockID,
		// Every record ends with its time: the rings of different
		// CPUs are merged in time order. The time is CLOCK_MONOTONIC's,
		// one clock for all CPUs: perf's default (the CPU's local
		// clock) drifts between CPUs, and an exec record stamped after
		// the new image's mappings from another CPU wiped them (a
		// trace's libc frames then found nothing mapped).
		Sample_type: unix.PERF_SAMPLE_TIME,
		Clockid:     unix.CLOCK_MONOTONIC,
	}
	fd, err := unix.PerfEventOpen(attr, tid, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil // the thread ended meanwhile
		}
		return fmt.Errorf("perf_event_open: %w", err)
	}
	if r, ok := ringOf[cpu]; ok {
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_OUTPUT, r.fd); err != nil {
			unix.Close(fd)
			return fmt.Errorf("sharing the perf ring: %w", err)
		}
		w.fds = append(w.fds, fd)
		return nil
	}
	mem, err := unix.Mmap(fd, 0, (1+perfRingPages)*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("mapping the perf ring: %w", err)
	}
	r := &perfRing{fd: fd, mem: mem, data: mem[page:]}
	ringOf[cpu] = r
	w.rings = append(w.rings, r)
	return nil
}

// onlineCPUs lists the CPUs perf events can be opened on.
func onlineCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, err
	}
	var cpus []int
	for _, r := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err1 := strconv.Atoi(lo)
		z := a
		var err2 error
		if isRange {
			z, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || z < a {
			return nil, fmt.Errorf("/sys/devices/system/cpu/online: %q is not a CPU list", b)
		}
		for c := a; c <= z; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// close releases the events and their rings.
func (w *mmapWatch) close() {
	for _, fd := range w.fds {
		unix.Close(fd)
	}
	for _, r := range w.rings {
		unix.Munmap(r.mem)
		unix.Close(r.fd)
	}
	w.rings, w.fds = nil, nil
}

// drain applies every record the rings hold, in time order.
func (w *mmapWatch) drain() {
	w.mu.Lock()
	defer w.mu.Unlock()
	var recs []perfRecord
	for _, r := range w.rings {
		head := atomic.LoadUint64((*uint64)(unsafe.Pointer(&r.mem[perfHeadOffset])))
		tail := atomic.LoadUint64((*uint64)(unsafe.Pointer(&r.mem[perfTailOffset])))
		size := uint64(len(r.data))
		if head-tail > size {
			tail = head - size // cannot happen: the kernel never overwrites unread data
		}
		buf := make([]byte, head-tail)
		for i := range buf {
			buf[i] = r.data[(tail+uint64(i))%size]
		}
		recs = append(recs, splitRecords(buf)...)
		atomic.StoreUint64((*uint64)(unsafe.Pointer(&r.mem[perfTailOffset])), head)
	}
	w.applyRecords(recs)
}

// perfRecord is one record of a ring: its type, misc bits, body (without
// the trailing time) and time.
type perfRecord struct {
	typ  uint32
	misc uint16
	body []byte
	time uint64
}

// splitRecords splits one ring's bytes into records; a malformed record
// ends the stream. Each record ends with its u64 time (sample_id_all with
// PERF_SAMPLE_TIME).
func splitRecords(b []byte) []perfRecord {
	le := binary.LittleEndian
	var out []perfRecord
	for len(b) >= 8 {
		typ, misc, size := le.Uint32(b), le.Uint16(b[4:]), int(le.Uint16(b[6:]))
		if size < 16 || size > len(b) {
			break
		}
		out = append(out, perfRecord{typ: typ, misc: misc, body: b[8 : size-8], time: le.Uint64(b[size-8:])})
		b = b[size:]
	}
	return out
}

// apply updates the table from one ring's bytes.
func (w *mmapWatch) apply(b []byte) { w.applyRecords(splitRecords(b)) }

// applyRecords updates the table from records of any rings, in time
// order.
func (w *mmapWatch) applyRecords(recs []perfRecord) {
	le := binary.LittleEndian
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].time < recs[j].time })
	for _, r := range recs {
		typ, misc, rec := r.typ, r.misc, r.body
		switch typ {
		case perfRecordMmap: // pid, tid, addr, len, pgoff, filename
			if len(rec) < 40 {
				continue
			}
			pid := le.Uint32(rec)
			name := rec[32:]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			w.byPID[pid] = append(w.byPID[pid], execMap{start: le.Uint64(rec[8:]), length: le.Uint64(rec[16:]), pgoff: le.Uint64(rec[24:]), path: string(name)})
		case perfRecordComm: // pid, tid, comm: an exec starts afresh
			if len(rec) >= 8 && misc&perfMiscCommExec != 0 {
				pid := le.Uint32(rec)
				delete(w.byPID, pid)
				if w.execd == nil {
					w.execd = map[uint32]bool{}
				}
				w.execd[pid] = true
			}
		case perfRecordFork: // pid, ppid, tid, ptid, time
			if len(rec) >= 16 {
				pid, ppid := le.Uint32(rec), le.Uint32(rec[4:])
				// A child's own records (an exec, mappings) may sort
				// before its fork's: they win.
				if _, seen := w.byPID[pid]; pid != ppid && !seen && !w.execd[pid] {
					w.byPID[pid] = append([]execMap(nil), w.byPID[ppid]...)
				}
			}
		case perfRecordLost: // id, lost
			if len(rec) >= 16 {
				w.lost += le.Uint64(rec[8:])
			}
		}
	}
}

// maps renders pid's executable mappings in /proc/PID/maps's format,
// newest first; nil when none is known.
func (w *mmapWatch) maps(pid uint32) []byte {
	w.drain()
	w.mu.Lock()
	defer w.mu.Unlock()
	ms := w.byPID[pid]
	if len(ms) == 0 {
		return nil
	}
	var b bytes.Buffer
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		fmt.Fprintf(&b, "%x-%x r-xp %08x 00:00 0 %s\n", m.start, m.start+m.length, m.pgoff, m.path)
	}
	return b.Bytes()
}

// complete is maps(pid) when no record was lost; nil otherwise.
func (w *mmapWatch) complete(pid uint32) []byte {
	b := w.maps(pid)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lost > 0 {
		return nil
	}
	return b
}

// parseProcMaps keeps the executable mappings of /proc/PID/maps's text;
// lines it cannot read are left out.
func parseProcMaps(b []byte) []execMap {
	var out []execMap
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || len(f[1]) != 4 || f[1][2] != 'x' {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		off, err3 := strconv.ParseUint(f[2], 16, 64)
		if !ok || err1 != nil || err2 != nil || err3 != nil || end < start {
			continue
		}
		out = append(out, execMap{start: start, length: end - start, pgoff: off, path: afterFields(line, 5)})
	}
	return out
}

// afterFields is what follows the first n space-separated fields of line,
// without its leading spaces (a path may hold spaces).
func afterFields(line string, n int) string {
	for range n {
		line = strings.TrimLeft(line, " ")
		i := strings.IndexByte(line, ' ')
		if i < 0 {
			return ""
		}
		line = line[i:]
	}
	return strings.TrimLeft(line, " ")
}
