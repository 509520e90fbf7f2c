package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/decode"
)

// checkPlayFiles looks at the files named to `speakerbox play` before
// anything plays: a file that cannot be opened, or (when plain Ogg Vorbis
// is expected) one that is some other format, is a mistake on the command
// line, said once with what the file is, not three times as a damaged
// stream. Encrypted files are opaque until decrypted, so with a key only
// their existence is checked; the player reports what is wrong inside.
func checkPlayFiles(files []string, encrypted bool) error {
	var problems []string
	for _, name := range files {
		if err := checkPlayFile(name, encrypted); err != nil {
			problems = append(problems, err.Error())
		}
	}
	switch len(problems) {
	case 0:
		return nil
	case 1:
		return usagef("play: %s", problems[0])
	}
	return usagef("play: %d files cannot be played:\n  %s", len(problems), strings.Join(problems, "\n  "))
}

func checkPlayFile(name string, encrypted bool) error {
	f, err := os.Open(name)
	if err != nil {
		return err // *PathError: "open NAME: no such file or directory"
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return err
	} else if st.IsDir() {
		return fmt.Errorf("%s is a directory; name the files in it", name)
	}
	if encrypted {
		return nil
	}
	var nv *decode.NotVorbisError
	if err := decode.Sniff(f); errors.As(err, &nv) {
		return fmt.Errorf("%s: %w; play takes Ogg Vorbis (convert with e.g. oggenc or ffmpeg -c:a libvorbis)", name, err)
	} else if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// interruptOnCancel makes a sink that can block on its reader (a pipe
// nobody reads) give up as soon as ctx ends, so that a SIGTERM is obeyed at
// once and not after the shutdown grace. The returned stop undoes it.
func interruptOnCancel(ctx context.Context, sink audio.Sink) (stop func() bool) {
	if in, ok := sink.(audio.Interrupter); ok {
		return context.AfterFunc(ctx, in.Interrupt)
	}
	return func() bool { return false }
}
