// Package kmod finds the kernel modules a test guest needs, in load order,
// in an extracted Debian kernel package. The packages ship no modules.dep
// (depmod runs at install time), so dependencies come from each module's
// own modinfo "depends=" field.
package kmod

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Depends reads the "depends=" modinfo field of a .ko file's bytes. Module
// names come back as written there (with '-' or '_').
func Depends(ko []byte) []string {
	// modinfo strings are NUL-terminated "key=value" entries; "depends=" can
	// also appear inside other strings, so require a NUL before it.
	for _, field := range bytes.Split(ko, []byte{0}) {
		if v, ok := bytes.CutPrefix(field, []byte("depends=")); ok {
			var out []string
			for _, d := range strings.Split(string(v), ",") {
				if d = strings.TrimSpace(d); d != "" {
					out = append(out, d)
				}
			}
			return out
		}
	}
	return nil
}

// Canon spells a module name the way the kernel compares them: '-' and '_'
// are the same.
func Canon(name string) string { return strings.ReplaceAll(name, "-", "_") }

// Tree is the set of module files under one /lib/modules/<version> directory.
type Tree struct {
	files   map[string]string // canonical name -> path
	builtin map[string]bool   // canonical names built into the kernel
}

// Open indexes the .ko files under dir and reads modules.builtin if present.
// Compressed modules (.ko.xz, .ko.zst) are not supported: Debian's 6.1
// kernels ship plain .ko, and a later kernel that compresses them fails here
// with a message rather than at boot.
func Open(dir string) (*Tree, error) {
	t := &Tree{files: map[string]string{}, builtin: map[string]bool{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		switch {
		case strings.HasSuffix(name, ".ko"):
			t.files[Canon(strings.TrimSuffix(name, ".ko"))] = p
		case strings.HasSuffix(name, ".ko.xz"), strings.HasSuffix(name, ".ko.zst"):
			return fmt.Errorf("module %s is compressed: decompressing is not supported", p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index modules in %s: %w", dir, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				t.builtin[Canon(strings.TrimSuffix(filepath.Base(l), ".ko"))] = true
			}
		}
	}
	return t, nil
}

// Module is one module to load.
type Module struct {
	Name string // canonical name
	Path string // file in the tree
}

// Resolve returns the modules to insmod, dependencies first, for the named
// modules. A name that is built into the kernel needs nothing; a name that
// is neither a file nor built in is an error.
func (t *Tree) Resolve(names ...string) ([]Module, error) {
	var (
		out   []Module
		state = map[string]int{} // 1 visiting, 2 done
		visit func(string, []string) error
	)
	visit = func(n string, chain []string) error {
		n = Canon(n)
		switch state[n] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("module dependency cycle: %s", strings.Join(append(chain, n), " -> "))
		}
		p, ok := t.files[n]
		if !ok {
			if t.builtin[n] {
				state[n] = 2
				return nil
			}
			return fmt.Errorf("module %s (needed by %s) is neither in the package nor built in",
				n, strings.Join(append(chain, "guest"), " <- "))
		}
		state[n] = 1
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read module %s: %w", n, err)
		}
		for _, d := range Depends(b) {
			if err := visit(d, append(chain, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, Module{Name: n, Path: p})
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
