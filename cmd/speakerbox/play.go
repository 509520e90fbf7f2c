package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/gain"
	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/receiver/playback"
)

func playCommand() *command {
	return &command{
		name:    "play",
		args:    "FILE...",
		summary: "play local Ogg Vorbis files (or Spotify-format encrypted ones) through the speaker's audio pipeline",
		setup: func(fs *flag.FlagSet) runFunc {
			key := fs.String("key", "", "audio key (32 hex digits) of Spotify-format encrypted files; without it the files are plain Ogg Vorbis")
			output := fs.String("output", "", "output for this run: alsa, pipe, wav or null (default: audio.output)")
			volume := fs.Int("volume", -1, "volume in percent, 0..100 (default: audio.initial_volume)")
			normalise := fs.String("normalise", "", "loudness normalisation for this run: off, track, album or auto (default: audio.normalisation)")
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) == 0 {
					return usagef("play needs at least one FILE")
				}
				cfg := *a.cfg
				if *output != "" {
					cfg.Audio.Output = *output
				}
				if *volume != -1 {
					if *volume < 0 || *volume > 100 {
						return usagef("--volume %d: want 0..100", *volume)
					}
					cfg.Audio.InitialVolume = *volume
				}
				if *normalise != "" {
					if _, err := gain.ParseNormMode(*normalise); err != nil {
						return usagef("--normalise: %v", err)
					}
					cfg.Audio.Normalisation = *normalise
				}
				// --output may break a rule across keys (audio.mixer
				// needs alsa): the configuration's own check says so.
				err := config.Validate(&cfg, func(key string) string {
					if key == "audio.output" && *output != "" {
						return "play --output"
					}
					return a.loaded.Source(key)
				})
				if err != nil {
					return err
				}
				var k []byte
				if *key != "" {
					var err error
					k, err = hex.DecodeString(*key)
					if err != nil || len(k) != 16 {
						return usagef("--key: want 32 hex digits (16 bytes)")
					}
				}
				if err := checkPlayFiles(args, k != nil); err != nil {
					return err
				}
				sink, err := newSink(&cfg, a.log)
				if err != nil {
					return usagef("%v", err)
				}
				defer interruptOnCancel(ctx, sink)()
				progress := io.Discard
				if isTerminal(a.stderr) {
					progress = a.stderr
				}
				out, _, err := openOutput(ctx, a, nil)
				if err != nil {
					return err
				}
				defer closeOutput(a, out)
				return playFiles(ctx, &cfg, sink, args, k, progress, a.log, out)
			}
		},
	}
}

// playerConfig maps the configuration onto the player's settings (the
// receiver uses the same mapping).
func playerConfig(c *config.Config, sink audio.Sink, log *slog.Logger) (player.Config, error) {
	a := c.Audio
	curve, err := gain.ParseCurve(a.VolumeCurve)
	if err != nil {
		return player.Config{}, fmt.Errorf("audio.volume_curve: %w", err)
	}
	norm, err := gain.ParseNormMode(a.Normalisation)
	if err != nil {
		return player.Config{}, fmt.Errorf("audio.normalisation: %w", err)
	}
	sample, err := a.SampleFormat()
	if err != nil {
		return player.Config{}, err
	}
	if sample == 0 {
		sample = audio.S16LE // what the player produces when the sink may choose
	}
	period := a.Period
	if period <= 0 {
		period = 20 * time.Millisecond
	}
	return player.Config{
		Sink:           sink,
		Sample:         sample,
		Dither:         a.Dither,
		Buffer:         a.Buffer,
		Period:         period,
		Volume:         gain.Volume{Curve: curve, RangeDB: a.VolumeRangeDB, MaxPercent: a.MaxVolume},
		Normalisation:  gain.Normalisation{Mode: norm, PregainDB: a.NormalisationPregainDB},
		InitialVolume:  uint16(a.InitialVolume * 65535 / 100),
		HardwareVolume: a.Mixer != "",
		KeepOutputOpen: a.KeepOutputOpen,
		Logger:         log,
	}, nil
}

// playFiles plays files back to back as a gapless queue and returns when
// the last has ended, or ctx is cancelled. It fails if any file could not
// be played.
func playFiles(ctx context.Context, c *config.Config, sink audio.Sink, files []string, key []byte, progress io.Writer, log *slog.Logger, out *playback.Output) error {
	pc, err := playerConfig(c, sink, log)
	if err != nil {
		return err
	}
	pc.Gate = out // amplifier on and warmed up before the device opens
	// Hooks and relay, as under the receiver: on the player's output
	// goroutine, in order with the gate's own (amp_on before playing).
	pc.Observe = out.Observe
	// Nobody waits for a paused file here: close the output when done.
	pc.KeepOutputOpen = false
	tracks := make([]player.Track, len(files))
	for i, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("play: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("play: %w", err)
		}
		// The index keeps the IDs unique when a file is named twice.
		tracks[i] = player.Track{ID: fmt.Sprintf("%d:%s", i, name), Source: f, Size: st.Size(), Key: key}
	}
	p, err := player.NewPlayer(pc)
	if err != nil {
		return err
	}
	defer p.Close()
	out.Attach(p)
	q, err := playback.NewQueue(p, tracks)
	if err != nil {
		return err
	}
	err = q.Run(ctx, func(i int, e player.Event) {
		if i < 0 {
			return
		}
		switch e.Type {
		case player.TrackStarted:
			fmt.Fprint(progress, "\r\x1b[K") // the log line replaces the progress line
			log.Info("playing", "file", files[i], "duration", time.Duration(e.DurationMs)*time.Millisecond)
		case player.Position:
			fmt.Fprintf(progress, "\r%s  %s / %s ", filepath.Base(files[i]), clock(e.PositionMs), clock(e.DurationMs))
		case player.TrackError:
			fmt.Fprintln(progress)
			log.Error("cannot play file", "file", files[i], "err", e.Err)
		}
	})
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintln(progress)
		return nil // interrupted: an orderly end
	case err != nil:
		return fmt.Errorf("play: %w", err)
	}
	fmt.Fprintln(progress)
	playback.WaitAmplifierOff(ctx, p, out, log)
	if failed := q.Failed(); len(failed) > 0 {
		names := make([]string, len(failed))
		for j, i := range failed {
			names[j] = files[i]
		}
		return fmt.Errorf("play: %d of %d files could not be played: %s", len(failed), len(files), strings.Join(names, ", "))
	}
	return nil
}

func clock(ms int64) string {
	s := ms / 1000
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
