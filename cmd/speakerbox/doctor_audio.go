package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/alsasink"
	"github.com/speakerbox/speakerbox/audio/alsasink/alsactl"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
)

// doctorAudio lists what the sound hardware offers and checks that the
// configured output can play 44.1 kHz stereo. It plays nothing and writes
// no file.
func doctorAudio(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) > 0 {
			return usagef("doctor audio takes no arguments, got %q", args)
		}
		cards, err := alsasink.Probe()
		writeALSAReport(a.stdout, cards, err)
		return checkOutput(a.stdout, a.cfg, a.log)
	}
}

// cdStereo is what every Spotify track needs from the output.
var cdStereo = audio.Format{Rate: 44100, Channels: 2, Sample: audio.S16LE}

func writeALSAReport(w io.Writer, cards []alsasink.CardReport, err error) {
	if err != nil {
		fmt.Fprintf(w, "ALSA: %v\n", err)
		return
	}
	if len(cards) == 0 {
		fmt.Fprintln(w, "ALSA: no sound cards")
		return
	}
	fmt.Fprintln(w, "ALSA cards:")
	for _, c := range cards {
		fmt.Fprintf(w, "card %d %q: %s\n", c.Index, c.ID, c.Name)
		if len(c.PCMs) == 0 {
			fmt.Fprintln(w, "  no playback devices")
		}
		for _, p := range c.PCMs {
			fmt.Fprintf(w, "  hw:%d,%d (hw:%s,%d) %s\n", p.Card, p.Device, c.ID, p.Device, p.Name)
			switch {
			case p.Err != nil && p.Owner != "":
				fmt.Fprintf(w, "    busy: held by %s\n", p.Owner)
			case p.Err != nil:
				fmt.Fprintf(w, "    cannot query: %v\n", p.Err)
			default:
				writeCaps(w, p.Caps)
			}
		}
		writeControls(w, c.Controls, c.ControlsErr)
	}
}

func writeCaps(w io.Writer, c alsasink.Caps) {
	fmt.Fprintf(w, "    formats:  %s\n", strings.Join(c.FormatNames(), ", "))
	fmt.Fprintf(w, "    rates:    %s Hz\n", c.Rates)
	fmt.Fprintf(w, "    channels: %s\n", c.Channels)
	fmt.Fprintf(w, "    period:   %s frames; periods %s\n", c.PeriodSize, c.Periods)
	fmt.Fprintf(w, "    buffer:   %s frames (%s at 44.1 kHz)\n", c.BufferSize, framesToTime(c.BufferSize))
	if !c.Takes(cdStereo) && !c.Takes(audio.Format{Rate: 44100, Channels: 1, Sample: audio.S16LE}) {
		fmt.Fprintln(w, "    note:     cannot take 44.1 kHz in any format speakerbox produces")
	}
}

func framesToTime(r alsasink.Range) string {
	d := func(n int) time.Duration {
		return (time.Duration(n) * time.Second / 44100).Round(100 * time.Microsecond)
	}
	if r.Min == r.Max {
		return d(r.Min).String()
	}
	return d(r.Min).String() + " to " + d(r.Max).String()
}

func writeControls(w io.Writer, ctls []alsactl.Info, err error) {
	if err != nil {
		fmt.Fprintf(w, "  mixer controls: cannot list: %v\n", err)
		return
	}
	if len(ctls) == 0 {
		fmt.Fprintln(w, "  mixer controls: none")
		return
	}
	fmt.Fprintln(w, "  mixer controls:")
	for _, c := range ctls {
		line := fmt.Sprintf("    %q", c.ID.Name)
		// Drivers repeat a name per PCM device or index (snd-aloop has
		// one set per substream); say which one this is.
		if c.ID.Device != 0 || c.ID.Subdevice != 0 || c.ID.Index != 0 {
			line += fmt.Sprintf(" [device %d subdevice %d index %d]", c.ID.Device, c.ID.Subdevice, c.ID.Index)
		}
		line += fmt.Sprintf(" %s x%d", c.TypeName(), c.Count)
		if c.Type == alsactl.TypeInteger || c.Type == alsactl.TypeInteger64 {
			line += fmt.Sprintf(" %d..%d", c.Min, c.Max)
		}
		if !c.Writable() {
			line += " read-only"
		} else if c.Type == alsactl.TypeInteger && strings.HasSuffix(c.ID.Name, "Volume") {
			simple := strings.TrimSuffix(strings.TrimSuffix(c.ID.Name, " Volume"), " Playback")
			line += fmt.Sprintf(" (audio.mixer: %q)", simple)
		}
		fmt.Fprintln(w, line)
	}
}

// checkOutput says what the configuration selects and whether it can play.
func checkOutput(w io.Writer, cfg *config.Config, log *slog.Logger) error {
	au := cfg.Audio
	fmt.Fprintf(w, "configured: audio.output %s", au.Output)
	switch au.Output {
	case "alsa":
		fmt.Fprintf(w, ", audio.device %q, audio.format %s, audio.buffer %v, audio.period %v", au.Device, au.Format, au.Buffer, au.Period)
		if au.Mixer != "" {
			fmt.Fprintf(w, ", audio.mixer %q", au.Mixer)
		} else {
			fmt.Fprint(w, ", software volume")
		}
	case "pipe", "wav":
		fmt.Fprintf(w, ", audio.path %q, audio.format %s", au.Path, au.Format)
	}
	fmt.Fprintln(w)

	sink, err := newSink(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	switch au.Output {
	case "wav":
		// Opening would create or truncate the file; check the directory.
		if au.Path == "-" {
			fmt.Fprintln(w, "OK: WAV to standard output")
			return nil
		}
		dir := filepath.Dir(au.Path)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("audio.path %q: directory %q does not exist", au.Path, dir)
		}
		fmt.Fprintf(w, "OK: WAV file %s (written as fast as the pipeline runs)\n", au.Path)
		return nil
	case "pipe":
		if au.Path != "-" {
			st, err := os.Stat(au.Path)
			if err != nil {
				return fmt.Errorf("audio.path %q: %w (create the FIFO with mkfifo, or let snapserver create it)", au.Path, err)
			}
			if st.Mode()&fs.ModeNamedPipe == 0 {
				// Opening would truncate it.
				fmt.Fprintf(w, "OK: raw PCM into the regular file %s (not a FIFO: no pacing)\n", au.Path)
				return nil
			}
		}
	}
	got, err := sink.Open(cdStereo)
	if err != nil {
		var busy *alsasink.BusyError
		if errors.As(err, &busy) && strings.Contains(busy.Owner, "(speakerbox)") {
			fmt.Fprintf(w, "NOTE: %s is in use by speakerbox (%s); stop the service to check it\n", au.Device, busy.Owner)
			return nil
		}
		return err
	}
	defer sink.Close()
	desc := got.String()
	if d, ok := sink.(interface{ Describe() string }); ok {
		desc = d.Describe()
	}
	fmt.Fprintf(w, "OK: plays 44100 Hz stereo: %s\n", desc)
	if got.Channels == 1 {
		fmt.Fprintln(w, "note: the device is mono; both channels are mixed into one")
	}
	return nil
}
