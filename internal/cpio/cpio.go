// Package cpio writes the "newc" cpio archives the Linux kernel unpacks as
// an initramfs. Only what an initramfs needs: directories, regular files and
// symlinks, owned by root, with fixed timestamps so the same inputs give the
// same bytes.
package cpio

import (
	"fmt"
	"io"
	"strings"
)

// Writer appends entries to an archive. Entries must name their parent
// directories first, as the kernel creates them in order.
type Writer struct {
	w    io.Writer
	ino  uint32
	err  error
	done bool
}

// NewWriter starts an archive on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w, ino: 1} }

const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
)

// Dir adds a directory.
func (w *Writer) Dir(name string, perm uint32) error {
	return w.entry(name, modeDir|perm&0o7777, nil)
}

// File adds a regular file.
func (w *Writer) File(name string, perm uint32, data []byte) error {
	return w.entry(name, modeFile|perm&0o7777, data)
}

// Symlink adds a symbolic link to target.
func (w *Writer) Symlink(name, target string) error {
	return w.entry(name, modeSymlink|0o777, []byte(target))
}

// Close writes the trailer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.done {
		return w.err
	}
	w.done = true
	if w.err == nil {
		w.header("TRAILER!!!", 0, 0, 0)
	}
	return w.err
}

func (w *Writer) entry(name string, mode uint32, data []byte) error {
	if w.done {
		return fmt.Errorf("cpio: entry %q after Close", name)
	}
	name = strings.TrimPrefix(name, "/")
	if name == "" || strings.Contains(name, "\x00") {
		return fmt.Errorf("cpio: bad entry name %q", name)
	}
	w.ino++
	w.header(name, w.ino, mode, len(data))
	w.write(data)
	w.pad(len(data))
	if w.err != nil {
		return fmt.Errorf("cpio: write %q: %w", name, w.err)
	}
	return nil
}

func (w *Writer) header(name string, ino, mode uint32, size int) {
	nlink := 1
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize (with NUL), check.
	h := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	w.write([]byte(h))
	w.write([]byte(name + "\x00"))
	w.pad(len(h) + len(name) + 1)
}

func (w *Writer) pad(n int) {
	if r := n % 4; r != 0 {
		w.write(make([]byte, 4-r))
	}
}

func (w *Writer) write(b []byte) {
	if w.err == nil && len(b) > 0 {
		_, w.err = w.w.Write(b)
	}
}
