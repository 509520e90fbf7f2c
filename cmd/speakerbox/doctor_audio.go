package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/alsasink"
	"github.com/speakerbox/speakerbox/audio/alsasink/alsactl"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
)

// doctorAudio lists what the sound hardware offers and checks that the
// configured output can play 44.1 kHz stereo. It plays nothing and writes
// no file. Sound hardware the configuration does not use is listed, but
// its absence is no problem.
func doctorAudio(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) > 0 {
			return usagef("doctor audio takes no arguments, got %q", args)
		}
		cards, err := alsasink.Probe()
		if err != nil && a.cfg.Audio.Output != "alsa" {
			fmt.Fprintf(a.stdout, "ALSA: %v (not used: audio.output is %s)\n", err, a.cfg.Audio.Output)
		} else {
			writeALSAReport(a.stdout, cards, err)
		}
		return checkOutput(ctx, a.stdout, a.cfg)
	}
}

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
	if !c.Takes(audio.CDStereo()) && !c.Takes(audio.Format{Rate: 44100, Channels: 1, Sample: audio.S16LE}) {
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
		} else if name, ok := alsasink.MixerName(c); ok {
			line += fmt.Sprintf(" (audio.mixer: %q)", name)
		}
		fmt.Fprintln(w, line)
	}
}

// checkOutput says what the configuration selects and asks the sink
// whether it can play.
func checkOutput(ctx context.Context, w io.Writer, cfg *config.Config) error {
	au := cfg.Audio
	fmt.Fprintf(w, "configured: %s\n", au.Describe())

	sink, err := newSink(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	checker, ok := sink.(audio.Checker)
	if !ok {
		return &notApplicable{fmt.Sprintf("audio.output %s cannot be checked without playing", au.Output)}
	}
	line, err := checker.Check(ctx)
	if err != nil {
		var busy *alsasink.BusyError
		if errors.As(err, &busy) && strings.Contains(busy.Owner, "(speakerbox)") {
			fmt.Fprintf(w, "NOTE: %s is in use by speakerbox (%s); stop the service to check it\n", au.Device, busy.Owner)
			return nil
		}
		return err
	}
	fmt.Fprintf(w, "OK: %s\n", line)
	return nil
}
