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
