// Package alsasink plays PCM on an ALSA hardware device through the
// kernel's ioctl interface (github.com/gen2brain/alsa, no alsa-lib, no cgo).
//
// It negotiates the device's real capabilities (no plugins convert for us),
// recovers from under-runs and counts them, pauses at once by dropping the
// device buffer, and can drive a hardware mixer control for volume. The
// kernel sits behind the small backend and pcm interfaces so that the
// negotiation and recovery logic is tested against a fake.
package alsasink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/speakerbox/speakerbox/audio"
)

// pcm is an open, configured playback stream: the part of *alsa.PCM the sink
// uses.
type pcm interface {
	// Write queues whole frames, blocking while the buffer is full. It
	// returns the frames taken; EPIPE means an under-run happened (the
	// stream is stopped and needs Prepare), ESTRPIPE a system suspend.
	Write(p []byte) (frames int, err error)
	Prepare() error
	Drop() error
	Drain() error
	Delay() (frames int, err error)
	Close() error
}

// backend opens hardware PCMs: the seam between the sink and the kernel.
type backend interface {
	// caps refines the full parameter space of the device. A device that
	// another program holds fails with EBUSY.
	caps(a Address) (Caps, error)
	// open configures the device with h and returns what the driver granted.
	open(a Address, h hwConfig, startThreshold int) (pcm, hwConfig, error)
	// cards returns the contents of /proc/asound/cards.
	cards() ([]byte, error)
}

// Options configure a Sink. The zero value of each field is its default.
type Options struct {
	Device string             // "hw:0,0", "hw:Loopback,0", "Loopback"; default hw:0,0
	Format audio.SampleFormat // 0: the caller's, else the best the device takes
	Buffer time.Duration      // device buffer; default DefaultBuffer
	Period time.Duration      // 0: about 20 ms
	Mixer  string             // mixer control for hardware volume; "" = none
	// RangeDB is how many dB of the mixer control the volume slider spans
	// (audio.volume_range_db): the top of the control down; 0 means
	// DefaultVolumeRangeDB. Used only with a Mixer whose control has a dB
	// description.
	RangeDB float64
	Log     *slog.Logger
}

// Sink is an ALSA playback device. Like every audio.Sink it is driven from
// one goroutine; Xruns may be read from any.
type Sink struct {
	opts  Options
	log   *slog.Logger
	be    backend
	proc  fs.FS // for the owner of a busy device
	mixer mixerOpener

	addr    Address
	pcm     pcm
	want    audio.Format
	hw      hwConfig
	silence []byte // one period of zeros, written before Drain
	xruns   atomic.Uint64

	vol    volumeState
	closed bool
}

var (
	_ audio.Sink        = (*Sink)(nil)
	_ audio.XrunCounter = (*Sink)(nil)
)

// New returns an unopened ALSA sink on the kernel's devices. The device name
// is checked now; the device itself is opened by Open. With a mixer
// configured the result also implements audio.HardwareVolume.
func New(opts Options) (audio.Sink, error) {
	return newSink(opts, kernel{}, os.DirFS("/"), kernelMixer)
}

func newSink(opts Options, be backend, proc fs.FS, mixer mixerOpener) (audio.Sink, error) {
	if opts.Device == "" {
		opts.Device = "hw:0,0"
	}
	if _, err := parseDeviceName(opts.Device); err != nil {
		return nil, err
	}
	if opts.Buffer == 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.RangeDB < 0 || math.IsNaN(opts.RangeDB) || math.IsInf(opts.RangeDB, 0) {
		return nil, fmt.Errorf("hardware volume range %v dB must be a positive number (audio.volume_range_db)", opts.RangeDB)
	}
	if opts.Period < 0 || opts.Buffer < 0 || (opts.Period > 0 && opts.Period*minPeriods > opts.Buffer) {
		return nil, fmt.Errorf("ALSA buffer time %v must hold at least %d periods of %v (audio.buffer, audio.period)", opts.Buffer, minPeriods, opts.Period)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sink{opts: opts, log: log.With("device", opts.Device), be: be, proc: proc, mixer: mixer}
	s.vol.log = s.log.With("mixer", opts.Mixer)
	s.vol.rangeDB = opts.RangeDB
	if opts.Mixer != "" {
		return &VolumeSink{s}, nil
	}
	return s, nil
}

// BusyError reports a device that another program holds open.
type BusyError struct {
	Device string
	Owner  string // "pid 1234 (aplay)" when the kernel tells us
	Err    error
}

func (e *BusyError) Error() string {
	who := "another program"
	if e.Owner != "" {
		who += " (" + e.Owner + ")"
	}
	return fmt.Sprintf("ALSA device %q is busy: %s has it open; stop it or choose another device (audio.device)", e.Device, who)
}

func (e *BusyError) Unwrap() error { return e.Err }

// Open negotiates want with the device and opens it. Opening an open sink
// with the same want keeps the device as it is; a different want reopens it.
func (s *Sink) Open(want audio.Format) (audio.Format, error) {
	if want.Rate <= 0 || want.Channels <= 0 || want.Sample.BytesPerSample() == 0 {
		return audio.Format{}, fmt.Errorf("open ALSA device %q: invalid format %s", s.opts.Device, want)
	}
	if s.pcm != nil {
		if want == s.want {
			return s.hw.format(), nil
		}
		s.closePCM()
	}
	s.closed = false

	procCards, err := s.be.cards()
	if err != nil {
		return audio.Format{}, fmt.Errorf("open ALSA device %q: list sound cards: %w", s.opts.Device, err)
	}
	addr, err := ResolveDevice(s.opts.Device, procCards)
	if err != nil {
		return audio.Format{}, err
	}
	caps, err := s.be.caps(addr)
	if err != nil {
		return audio.Format{}, s.openError(addr, err)
	}
	h, err := negotiate(s.opts.Device, want, s.opts.Format, s.opts.Buffer, s.opts.Period, caps)
	if err != nil {
		return audio.Format{}, err
	}

	p, got, err := s.openNegotiated(addr, h)
	if err != nil {
		return audio.Format{}, s.openError(addr, err)
	}
	// The library asks for "at least" our rate and the driver may round
	// up; we do not resample, so anything else is a refusal.
	if got.Rate != h.Rate || got.Channels != h.Channels {
		_ = p.Close()
		reason := fmt.Sprintf("the driver granted %d Hz %d ch instead of %d Hz %d ch", got.Rate, got.Channels, h.Rate, h.Channels)
		return audio.Format{}, &OfferError{Device: s.opts.Device, Want: want, Reason: reason, Caps: caps}
	}
	s.addr, s.pcm, s.want, s.hw = addr, p, want, got
	s.silence = make([]byte, got.PeriodFrames*got.format().FrameBytes())
	s.log.Info("ALSA device open", "hw", addr.String(), "format", got.format().String(),
		"period_frames", got.PeriodFrames, "periods", got.Periods,
		"buffer", time.Duration(int64(got.bufferFrames())*int64(time.Second)/int64(got.Rate)))

	if s.opts.Mixer != "" {
		if err := s.vol.open(s.mixer, addr.Card, s.opts.Mixer); err != nil {
			s.closePCM()
			return audio.Format{}, fmt.Errorf("open ALSA device %q: %w", s.opts.Device, err)
		}
	}
	return got.format(), nil
}

// openNegotiated asks the driver for h. Some drivers refuse a period count
// or buffer size that the unrestricted refine allowed (their limits depend
// on the sample format, which the refine left open), so on EINVAL we retry
// with fewer periods before giving up.
func (s *Sink) openNegotiated(addr Address, h hwConfig) (pcm, hwConfig, error) {
	for {
		// Start once the buffer is full but one period: the stream begins
		// with maximum slack against under-runs, and the threshold stays
		// below the buffer size (the library's MMAP path never starts at
		// exactly the buffer size; keep the same margin here).
		start := h.bufferFrames() - h.PeriodFrames
		p, got, err := s.be.open(addr, h, start)
		if err == nil {
			return p, got, nil
		}
		if !errors.Is(err, syscall.EINVAL) || h.Periods <= minPeriods {
			return nil, hwConfig{}, err
		}
		s.log.Debug("ALSA driver refused parameters; trying fewer periods", "params", h.String(), "err", err)
		h.Periods = max(minPeriods, h.Periods/2)
	}
}

func isBusy(err error) bool { return errors.Is(err, syscall.EBUSY) }

func (s *Sink) openError(addr Address, err error) error {
	if isBusy(err) {
		return &BusyError{Device: s.opts.Device, Owner: pcmOwner(s.proc, addr), Err: err}
	}
	if errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("open ALSA device %q: no such device (%s); list the devices with 'speakerbox doctor audio' or cat /proc/asound/cards: %w", s.opts.Device, addr, err)
	}
	return fmt.Errorf("open ALSA device %q (%s): %w", s.opts.Device, addr, err)
}

// maxStalls bounds how often a write may fail without moving any frame, so
// a device that keeps failing after recovery is an error, not a spin.
const maxStalls = 3

// Write plays whole frames, blocking at the device's pace. An under-run is
// counted, logged and recovered from; the frames not yet taken are written
// after the recovery, so the stream loses nothing but time.
func (s *Sink) Write(p []byte) (int, error) {
	if s.pcm == nil {
		return 0, fmt.Errorf("write to ALSA device %q: not open", s.opts.Device)
	}
	fb := s.hw.format().FrameBytes()
	if len(p)%fb != 0 {
		return 0, fmt.Errorf("write to ALSA device %q: %d bytes is not a whole number of %d-byte frames", s.opts.Device, len(p), fb)
	}
	written, stalls := 0, 0
	for written < len(p) {
		n, err := s.pcm.Write(p[written:])
		if n > 0 {
			written += n * fb
			stalls = 0
		}
		if err == nil {
			continue
		}
		if stalls++; stalls > maxStalls {
			return written, fmt.Errorf("write to ALSA device %q: no progress after recovery: %w", s.opts.Device, err)
		}
		switch {
		case errors.Is(err, syscall.EINTR), errors.Is(err, syscall.EAGAIN):
			continue
		case errors.Is(err, syscall.EPIPE):
			count := s.xruns.Add(1)
			s.log.Warn("ALSA under-run; recovering", "xruns", count)
		case errors.Is(err, syscall.ESTRPIPE):
			s.log.Warn("ALSA device was suspended; restarting the stream")
		default:
			return written, fmt.Errorf("write to ALSA device %q: %w", s.opts.Device, err)
		}
		if perr := s.pcm.Prepare(); perr != nil {
			return written, fmt.Errorf("recover ALSA device %q after %v: %w", s.opts.Device, err, perr)
		}
	}
	return written, nil
}

// Pause drops what the device holds so the sound stops at once, and
// re-prepares it so that the next Write starts it again.
func (s *Sink) Pause() error {
	if s.pcm == nil {
		return nil
	}
	if err := s.pcm.Drop(); err != nil {
		return fmt.Errorf("pause ALSA device %q: %w", s.opts.Device, err)
	}
	if err := s.pcm.Prepare(); err != nil {
		return fmt.Errorf("pause ALSA device %q: prepare: %w", s.opts.Device, err)
	}
	return nil
}

// Resume needs no device call: Pause left the stream prepared, and the next
// Write starts it once the start threshold is reached.
func (s *Sink) Resume() error {
	if s.pcm == nil {
		return fmt.Errorf("resume ALSA device %q: not open", s.opts.Device)
	}
	return nil
}

// Drain plays out everything written, then leaves the device prepared for
// more. One period of silence goes first: some drivers (snd-aloop among
// them, and DACs whose FIFO is cut when the stream stops) lose the last few
// milliseconds at stop, and those should be silence, not music.
func (s *Sink) Drain() error {
	if s.pcm == nil {
		return nil
	}
	if _, err := s.Write(s.silence); err != nil {
		return fmt.Errorf("drain ALSA device %q: %w", s.opts.Device, err)
	}
	if err := s.pcm.Drain(); err != nil && !errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("drain ALSA device %q: %w", s.opts.Device, err)
	}
	if err := s.pcm.Prepare(); err != nil {
		return fmt.Errorf("drain ALSA device %q: prepare: %w", s.opts.Device, err)
	}
	return nil
}

// Delay is the audio queued in the device: what was written and not yet
// heard.
func (s *Sink) Delay() time.Duration {
	if s.pcm == nil {
		return 0
	}
	frames, err := s.pcm.Delay()
	if err != nil || frames <= 0 {
		return 0
	}
	return time.Duration(int64(frames) * int64(time.Second) / int64(s.hw.Rate))
}

// Describe says how the open device is set up ("" when closed), for
// diagnostics.
func (s *Sink) Describe() string {
	if s.pcm == nil {
		return ""
	}
	return fmt.Sprintf("%s as %s, period %d frames x %d = %v buffer", s.addr, s.hw.format(), s.hw.PeriodFrames, s.hw.Periods,
		time.Duration(int64(s.hw.bufferFrames())*int64(time.Second)/int64(s.hw.Rate)).Round(time.Millisecond))
}

// Xruns is how many under-runs the device has had since New.
func (s *Sink) Xruns() uint64 { return s.xruns.Load() }

// Close releases the device (what is still queued is dropped).
func (s *Sink) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closePCM()
}

func (s *Sink) closePCM() error {
	s.vol.close()
	if s.pcm == nil {
		return nil
	}
	err := s.pcm.Close()
	s.pcm = nil
	s.want = audio.Format{}
	if err != nil {
		return fmt.Errorf("close ALSA device %q: %w", s.opts.Device, err)
	}
	return nil
}

// VolumeSink is an ALSA sink with a hardware mixer control: it also
// implements audio.HardwareVolume.
type VolumeSink struct{ *Sink }

var _ audio.HardwareVolume = VolumeSink{}

// SetVolume sets the mixer control (0..65535 on Spotify's scale). Before
// Open the value is kept and applied when the device opens.
func (v VolumeSink) SetVolume(vol uint16) error {
	if err := v.vol.set(vol); err != nil {
		return fmt.Errorf("set volume on ALSA device %q: %w", v.opts.Device, err)
	}
	return nil
}

// pcmOwner reads who holds a busy device from /proc/asound, so that the
// error can name the program ("pid 1234 (snapclient)"). Best effort: "" if
// the kernel does not say.
func pcmOwner(proc fs.FS, a Address) string {
	if proc == nil {
		return ""
	}
	for sub := 0; sub < 8; sub++ {
		b, err := fs.ReadFile(proc, fmt.Sprintf("proc/asound/card%d/pcm%dp/sub%d/status", a.Card, a.Device, sub))
		if err != nil {
			break
		}
		pid := ownerPID(string(b))
		if pid == "" {
			continue
		}
		// The kernel records the thread that opened the device, and a Go
		// program (or any threaded one) may open it from a thread other
		// than its first: name the process, which is what users can see
		// and stop.
		if st, err := fs.ReadFile(proc, "proc/"+pid+"/status"); err == nil {
			if tgid := statusField(string(st), "Tgid"); tgid != "" {
				pid = tgid
			}
		}
		comm, err := fs.ReadFile(proc, "proc/"+pid+"/comm")
		if err != nil {
			return "pid " + pid
		}
		return fmt.Sprintf("pid %s (%s)", pid, strings.TrimSpace(string(comm)))
	}
	return ""
}

// ownerPID finds "owner_pid   : 1234" in a PCM status file.
func ownerPID(status string) string { return statusField(status, "owner_pid") }

// statusField finds the decimal value of "key: 1234" in a /proc status file.
func statusField(status, key string) string {
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != key {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" || strings.Trim(v, "0123456789") != "" {
			return ""
		}
		return v
	}
	return ""
}

var _ audio.Checker = (*Sink)(nil)

// Check opens the device once for audio.CDStereo (and the mixer control,
// when one is configured) and closes it again: nothing is played.
func (s *Sink) Check(ctx context.Context) (string, error) {
	got, err := s.Open(audio.CDStereo())
	if err != nil {
		return "", err
	}
	desc := s.Describe()
	if err := s.Close(); err != nil {
		return "", err
	}
	line := "plays 44100 Hz stereo: " + desc
	if got.Channels == 1 {
		line += "; the device is mono: both channels are mixed into one"
	}
	return line, nil
}
