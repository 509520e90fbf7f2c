package receiver

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/speakerbox/speakerbox/internal/statedir"
	"github.com/speakerbox/speakerbox/receiver/connect"
)

// volumeFile holds the last volume (0..65535, decimal) in the state
// directory.
const volumeFile = "volume"

// loadVolume reads the remembered volume; -1 when there is none yet.
func loadVolume(dir string) (int64, error) {
	path := filepath.Join(dir, volumeFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return -1, fmt.Errorf("read remembered volume: %w", err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v < 0 || v > connect.MaxVolume {
		return -1, fmt.Errorf("read remembered volume %q: want a number 0..%d", path, connect.MaxVolume)
	}
	return v, nil
}

// volumeSaver writes the volume from its own goroutine, latest value
// winning, so that a burst of volume changes costs the state machine's
// goroutine nothing and the disk one write per value it could not skip.
type volumeSaver struct {
	dir  string
	log  *slog.Logger
	next chan uint32 // cap 1: the value not yet written
	done chan struct{}
}

func newVolumeSaver(dir string, log *slog.Logger) *volumeSaver {
	s := &volumeSaver{dir: dir, log: log, next: make(chan uint32, 1), done: make(chan struct{})}
	go s.run()
	return s
}

// save hands over v. Only the loop goroutine calls it, so draining and
// sending cannot race with another sender.
func (s *volumeSaver) save(v uint32) {
	select {
	case <-s.next:
	default:
	}
	s.next <- v
}

// close writes the last value handed over and waits for the goroutine.
func (s *volumeSaver) close() {
	close(s.next)
	<-s.done
}

func (s *volumeSaver) run() {
	defer close(s.done)
	for v := range s.next {
		data := []byte(strconv.FormatUint(uint64(v), 10) + "\n")
		if err := statedir.WriteFileAtomic(filepath.Join(s.dir, volumeFile), data, 0o644); err != nil {
			s.log.Warn("could not remember the volume", "err", err)
		}
	}
}
