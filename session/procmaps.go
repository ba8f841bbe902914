package session

import (
	"fmt"
	"os"
	"sync"
)

// mapsCache keeps each traced process's latest /proc/PID/maps, for
// --backtrace: a trace's return addresses are placed in their binaries
// with the mappings the process had. The maps are read again on each
// trace with a stack copy (libraries may have been loaded since); when the
// process has exited by then, the copy read earlier is what is left.
type mapsCache struct {
	mu    sync.Mutex
	byPID map[uint32][]byte
}

// mapsOf is the memory map of process pid for a trace's backtrace: the
// mappings the perf records gave (-c, -x) when none was lost, else read
// now while the process lives, else the copy read when the process was
// announced. The records come first: a trace often arrives while its
// process exits (a short -c command ends right after its failing call),
// and /proc/PID/maps read then may hold only some of the mappings (the
// kernel tears them down between the reads of one file), which lost a
// library loaded with dlopen.
func (s *Session) mapsOf(pid uint32) []byte {
	if s.mmaps != nil {
		if b := s.mmaps.complete(pid); b != nil {
			return b
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid)); err == nil && len(b) > 0 {
		return b
	}
	if s.mmaps != nil {
		if b := s.mmaps.maps(pid); b != nil {
			return b
		}
	}
	return s.maps.read(pid)
}

// read returns pid's maps now, or the last copy when it cannot be read.
func (c *mapsCache) read(pid uint32) []byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byPID == nil {
		c.byPID = map[uint32][]byte{}
	}
	if err == nil && len(b) > 0 {
		c.byPID[pid] = b
		return b
	}
	return c.byPID[pid]
}
