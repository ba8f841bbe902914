package session

import (
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/cilium/ebpf"
)

// loadCollection creates cs's maps and loads its programs as
// ebpf.NewCollection does, but concurrently: the maps at once, then the
// programs on one worker per CPU, the largest first. The verifier's time
// is per program and most of a session's start, so the statement programs
// verify side by side.
func loadCollection(cs *ebpf.CollectionSpec) (_ *ebpf.Collection, err error) {
	coll := &ebpf.Collection{Maps: map[string]*ebpf.Map{}, Programs: map[string]*ebpf.Program{}}
	defer func() {
		if err != nil {
			coll.Close()
		}
	}()
	var mu sync.Mutex
	var errs []error
	run := func(names []string, workers int, do func(name string) error) {
		next := make(chan string)
		var wg sync.WaitGroup
		for range min(workers, len(names)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for name := range next {
					if err := do(name); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			}()
		}
		for _, name := range names {
			next <- name
		}
		close(next)
		wg.Wait()
	}

	var maps []string
	for name := range cs.Maps {
		maps = append(maps, name)
	}
	sort.Strings(maps)
	run(maps, len(maps), func(name string) error {
		m, err := ebpf.NewMap(cs.Maps[name])
		if err != nil {
			return fmt.Errorf("map %s: %w", name, err)
		}
		mu.Lock()
		coll.Maps[name] = m
		mu.Unlock()
		return nil
	})
	if len(errs) > 0 {
		return nil, errs[0]
	}

	var progs []string
	for name := range cs.Programs {
		progs = append(progs, name)
	}
	sort.Slice(progs, func(i, j int) bool {
		a, b := len(cs.Programs[progs[i]].Instructions), len(cs.Programs[progs[j]].Instructions)
		return a > b || a == b && progs[i] < progs[j]
	})
	run(progs, runtime.NumCPU(), func(name string) error {
		ps := cs.Programs[name].Copy()
		for i := range ps.Instructions {
			ins := &ps.Instructions[i]
			if !ins.IsLoadFromMap() || ins.Reference() == "" {
				continue
			}
			m := coll.Maps[ins.Reference()] // read only while programs load
			if m == nil {
				return fmt.Errorf("program %s: no map %s", name, ins.Reference())
			}
			if err := ins.AssociateMap(m); err != nil {
				return fmt.Errorf("program %s: map %s: %w", name, ins.Reference(), err)
			}
		}
		p, err := ebpf.NewProgram(ps)
		if err != nil {
			return fmt.Errorf("program %s: %w", name, err)
		}
		mu.Lock()
		coll.Programs[name] = p
		mu.Unlock()
		return nil
	})
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return coll, nil
}
