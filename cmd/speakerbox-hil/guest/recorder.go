package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gen2brain/alsa"
	"golang.org/x/sys/unix"

	"github.com/speakerbox/speakerbox/cmd/speakerbox-hil/internal/pcm"
)

// loopbackCard finds the snd-aloop card's index in /proc/asound/cards.
func loopbackCard() (int, error) {
	f, err := os.Open("/proc/asound/cards")
	if err != nil {
		return 0, fmt.Errorf("find loopback card: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		idx, rest, ok := strings.Cut(l, " ")
		if ok && strings.HasPrefix(strings.TrimSpace(rest), "[Loopback") {
			return strconv.Atoi(idx)
		}
	}
	return 0, errors.New("find loopback card: no [Loopback] in /proc/asound/cards (is snd-aloop loaded?)")
}

func alsaFormat(f pcm.Format) (alsa.PcmFormat, error) {
	switch f.ALSAName() {
	case "S16_LE":
		return alsa.SNDRV_PCM_FORMAT_S16_LE, nil
	case "S32_LE":
		return alsa.SNDRV_PCM_FORMAT_S32_LE, nil
	case "S24_3LE":
		return alsa.SNDRV_PCM_FORMAT_S24_3LE, nil
	case "FLOAT_LE":
		return alsa.SNDRV_PCM_FORMAT_FLOAT_LE, nil
	}
	return 0, fmt.Errorf("no ALSA format for %v", f)
}

// recorder captures the loopback's capture side into memory from before
// the player starts until it is stopped. The first frame of sound is
// timestamped, because that is the moment the player's audio reached the
// "speaker" (within one period).
type recorder struct {
	pcm    *alsa.PCM
	format pcm.Format
	period int // frames per read

	mu         sync.Mutex
	data       []byte
	firstSound time.Time // zero until sound arrived
	soundCh    chan struct{}
	started    chan struct{}
	stop       atomic.Bool
	done       chan error
}

// startRecorder opens hw:card,1 and starts reading. maxDur bounds memory.
func startRecorder(card int, f pcm.Format, maxDur time.Duration) (*recorder, error) {
	af, err := alsaFormat(f)
	if err != nil {
		return nil, err
	}
	// A deep buffer (about 740 ms) rides out the moments the guest's one
	// vCPU is busy decoding for the player or the host is loaded, and a
	// stop threshold of one buffer makes an overrun an error we count
	// instead of the kernel silently overwriting unread audio.
	const period, periods = 1024, 32
	cfg := alsa.Config{Channels: uint32(f.Channels), Rate: uint32(f.Rate), Format: af, PeriodSize: period, PeriodCount: periods,
		StopThreshold: period * periods}
	p, err := alsa.PcmOpen(uint(card), 1, alsa.PCM_IN, &cfg)
	if err != nil {
		return nil, fmt.Errorf("open capture hw:%d,1 for %v: %w", card, f, err)
	}
	if got := int(p.Rate()); got != f.Rate {
		p.Close()
		return nil, fmt.Errorf("capture hw:%d,1 runs at %d Hz, not %d", card, got, f.Rate)
	}
	r := &recorder{
		pcm: p, format: f, period: int(p.PeriodSize()),
		data:    make([]byte, 0, int(maxDur.Seconds()*float64(f.Rate))*f.FrameBytes()),
		soundCh: make(chan struct{}), started: make(chan struct{}), done: make(chan error, 1),
	}
	go r.loop()
	select {
	case <-r.started:
	case err := <-r.done:
		p.Close()
		return nil, fmt.Errorf("capture hw:%d,1: %w", card, err)
	case <-time.After(2 * time.Second):
		r.stop.Store(true)
		return nil, fmt.Errorf("capture hw:%d,1 delivered nothing within 2s", card)
	}
	return r, nil
}

func (r *recorder) loop() {
	// The recorder must not lose to the player for the guest's one vCPU:
	// a higher priority for this thread only (Linux nice is per thread).
	runtime.LockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, 0, -10)
	fb := r.format.FrameBytes()
	buf := make([]byte, r.period*fb)
	first := true
	for !r.stop.Load() {
		n, err := r.pcm.Read(buf)
		now := time.Now()
		if err != nil {
			r.done <- err
			return
		}
		chunk := buf[:n*fb]
		r.mu.Lock()
		if r.firstSound.IsZero() {
			if i := pcm.FirstSound(chunk, fb); i >= 0 {
				// Read returned when the last frame of the chunk arrived;
				// the first sound came (n-i) frames before that.
				r.firstSound = now.Add(-time.Duration(n-i) * time.Second / time.Duration(r.format.Rate))
				close(r.soundCh)
			}
		}
		if len(r.data)+len(chunk) <= cap(r.data) {
			r.data = append(r.data, chunk...)
		}
		r.mu.Unlock()
		if first {
			first = false
			close(r.started)
		}
	}
	r.done <- nil
}

// Stop ends the capture and returns what was recorded and when the first
// sound arrived (zero if none did).
func (r *recorder) Stop() ([]byte, time.Time, int, error) {
	r.stop.Store(true)
	err := <-r.done
	xruns := r.pcm.Xruns()
	r.pcm.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.data, r.firstSound, xruns, err
}

// playSelf is the agent's own player: the reference followed by a buffer
// of silence (snd-aloop drops what was not yet forwarded when playback
// stops), then drain.
func playSelf(card int, a pcm.Audio) error { return playSelfWithStop(card, a, 1024, 16, 0, 0, false) }

// playSelfWithStop is playSelf with the device geometry given and, if
// stopFor > 0, a pause of stopFor after stopAfter frames: our own
// under-run, to compare with speakerbox's.
func playSelfWithStop(card int, a pcm.Audio, period, periods, stopAfter int, stopFor time.Duration, silenceFill bool) error {
	af, err := alsaFormat(a.Format)
	if err != nil {
		return err
	}
	cfg := alsa.Config{Channels: uint32(a.Format.Channels), Rate: uint32(a.Format.Rate), Format: af,
		PeriodSize: uint32(period), PeriodCount: uint32(periods), StartThreshold: uint32(period * (periods - 1)), StopThreshold: uint32(period * periods)}
	if silenceFill {
		cfg.SilenceThreshold, cfg.SilenceSize = uint32(period*periods), uint32(period*periods)
	}
	p, err := alsa.PcmOpen(uint(card), 0, alsa.PCM_OUT, &cfg)
	if err != nil {
		return fmt.Errorf("open playback hw:%d,0: %w", card, err)
	}
	defer p.Close()
	// gen2brain/alsa asks for "at least" the rate; a silent 48 kHz would
	// not be the test we meant.
	if int(p.Rate()) != a.Format.Rate {
		return fmt.Errorf("playback hw:%d,0 opened at %d Hz, not %d", card, p.Rate(), a.Format.Rate)
	}
	fb := a.Format.FrameBytes()
	data := append(append([]byte(nil), a.Data...), make([]byte, int(p.BufferSize())*fb)...)
	stopped := stopFor == 0
	for off := 0; off < len(data); {
		if !stopped && off >= stopAfter*fb {
			stopped = true
			time.Sleep(stopFor)
		}
		end := min(off+int(p.PeriodSize())*fb, len(data))
		n, err := p.Write(data[off:end])
		if err != nil {
			return fmt.Errorf("write playback: %w", err)
		}
		off += n * fb
	}
	if err := p.Drain(); err != nil {
		return fmt.Errorf("drain playback: %w", err)
	}
	if x := p.Xruns(); x != 0 && stopFor == 0 {
		return fmt.Errorf("own player had %d xruns", x)
	}
	return nil
}

// playbackRates asks the driver which rates hw:card,0 offers now.
func playbackRates(card int) (lo, hi uint32, err error) {
	pp, err := alsa.PcmParamsGet(uint(card), 0, alsa.PCM_OUT)
	if err != nil {
		return 0, 0, fmt.Errorf("query hw:%d,0: %w", card, err)
	}
	if lo, err = pp.Min(alsa.SNDRV_PCM_HW_PARAM_RATE); err != nil {
		return 0, 0, err
	}
	hi, err = pp.Max(alsa.SNDRV_PCM_HW_PARAM_RATE)
	return lo, hi, err
}
