package tracer

import (
	"context"
	"fmt"

	"github.com/whythefail/whythefail/debuginfod"
	"github.com/whythefail/whythefail/probe"
	"github.com/whythefail/whythefail/probe/spec"
	"github.com/whythefail/whythefail/target"
)

// ListConfig says what to list, as stap -L or -l does.
type ListConfig struct {
	Spec      *spec.Spec
	DebugDirs []string
	// Debuginfod, when set, returns the client to ask for missing debug
	// info (nil for none); it is called once the spec is known to be
	// listable, so that the spec's error comes first.
	Debuginfod func() (*debuginfod.Client, error)
	// Vars lists each point's variables (-L); without, names only (-l).
	Vars bool
	// Verbose lists every point unmerged, with its address and file
	// offset, as stap -v -L does.
	Verbose bool
	// Release is the kernel release (stap -r) whose debug info kernel
	// and module specs use; "" means the running kernel's.
	Release string
}

// List returns the rows stap -L (or -l) prints for cfg.Spec. Like
// Prepare it reads files only; the points are listed, never attached, so
// they follow SystemTap's listing rules (probe.Resolver.List).
func List(cfg ListConfig) ([]string, error) {
	s := cfg.Spec
	if cfg.Release != "" && s.Target == spec.Process {
		return nil, fmt.Errorf("-r %s names a kernel release: it applies to kernel and module(\"NAME\") probe points only", cfg.Release)
	}
	opts := target.Options{}
	if cfg.Debuginfod != nil {
		client, err := cfg.Debuginfod()
		if err != nil {
			return nil, err
		}
		opts.Debuginfod = client
	}
	if len(cfg.DebugDirs) > 0 {
		opts.DebugDirs = append(append([]string(nil), cfg.DebugDirs...), target.DefaultDebugDirs...)
	}
	f, err := openListTarget(s, opts, cfg.Release)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Lazy: with the function index cached, only the units the spec can
	// select are indexed.
	pts, err := probe.NewLazyResolver(f).List(s)
	if err != nil {
		return nil, err
	}
	if !cfg.Verbose {
		return probe.List(pts, cfg.Vars), nil
	}
	rows := make([]string, 0, len(pts))
	for _, p := range pts {
		line := p.String()
		if cfg.Vars {
			line = p.Listing()
		}
		rows = append(rows, fmt.Sprintf("%s /* pc=%#x offset=%#x */", line, p.Addr, p.FileOffset))
	}
	return rows, nil
}

// openListTarget opens the Binary s names: a program, the kernel or a
// module of release rel.
func openListTarget(s *spec.Spec, opts target.Options, rel string) (target.Binary, error) {
	kopts := target.KernelOptions{Release: rel, DebugDirs: opts.DebugDirs, Debuginfod: opts.Debuginfod}
	switch s.Target {
	case spec.Kernel:
		return target.OpenKernel(context.Background(), kopts)
	case spec.Module:
		return target.OpenModule(context.Background(), s.Path, kopts)
	}
	return target.Open(target.FindExecutable(s.Path), opts)
}
