package alsasink

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
	"unsafe"

	"github.com/gen2brain/alsa"
	"golang.org/x/sys/unix"
)

// kernel is the backend on the real kernel, through gen2brain/alsa.
type kernel struct{}

func (kernel) cards() ([]byte, error) {
	b, err := os.ReadFile("/proc/asound/cards")
	if errors.Is(err, fs.ErrNotExist) {
		// No sound support at all: numeric addresses then fail at open
		// with "no such device", which says it better.
		return nil, nil
	}
	return b, err
}

func (kernel) caps(a Address) (Caps, error) {
	pp, err := alsa.PcmParamsGet(uint(a.Card), uint(a.Device), alsa.PCM_OUT)
	if err != nil {
		return Caps{}, err
	}
	return capsFromParams(pp)
}

func (kernel) open(a Address, h hwConfig, start int) (pcm, hwConfig, error) {
	cfg := alsa.Config{
		Channels:       uint32(h.Channels),
		Rate:           uint32(h.Rate),
		PeriodSize:     uint32(h.PeriodFrames),
		PeriodCount:    uint32(h.Periods),
		Format:         pcmFormat(h.Sample),
		StartThreshold: uint32(start),
		// An under-run is declared when the buffer is empty, not before.
		StopThreshold: uint32(h.bufferFrames()),
		// The kernel overwrites what has been played with silence. Without
		// it, a device that runs on past an under-run before the driver
		// notices (snd-aloop and other timer-driven drivers do) plays the
		// stale buffer again: half a second of old music instead of a gap.
		SilenceThreshold: uint32(h.bufferFrames()),
		SilenceSize:      uint32(h.bufferFrames()),
	}
	p, err := alsa.PcmOpen(uint(a.Card), uint(a.Device), alsa.PCM_OUT|alsa.PCM_NORESTART, &cfg)
	if err != nil {
		return nil, hwConfig{}, err
	}
	got := h
	got.Rate = int(p.Rate())
	got.Channels = int(p.Channels())
	got.PeriodFrames = int(p.PeriodSize())
	got.Periods = int(p.PeriodCount())
	if got.PeriodFrames != h.PeriodFrames || got.Periods != h.Periods {
		// The library derives the thresholds from what we asked for; the
		// driver rounded the period, so set them again from what it
		// granted (the start threshold must stay below the buffer size).
		cfg.PeriodSize, cfg.PeriodCount = uint32(got.PeriodFrames), uint32(got.Periods)
		cfg.StartThreshold = uint32(got.bufferFrames() - got.PeriodFrames)
		cfg.StopThreshold = uint32(got.bufferFrames())
		cfg.SilenceThreshold = uint32(got.bufferFrames())
		cfg.SilenceSize = uint32(got.bufferFrames())
		if err := p.SetConfig(&cfg); err != nil {
			_ = p.Close()
			return nil, hwConfig{}, err
		}
	}
	if err := p.Prepare(); err != nil {
		_ = p.Close()
		return nil, hwConfig{}, err
	}
	return &kernelPCM{p: p, fd: p.Fd(), frameBytes: got.format().FrameBytes()}, got, nil
}

// snd_xferi: { snd_pcm_sframes_t result; void *buf; snd_pcm_uframes_t
// frames; }, three C longs on every Linux architecture, which Go's int,
// uintptr and uint match.
type xferi struct {
	result int
	buf    uintptr
	frames uint
}

// SNDRV_PCM_IOCTL_WRITEI_FRAMES = _IOW('A', 0x50, struct snd_xferi)
var ioctlWriteiFrames = 1<<30 | unsafe.Sizeof(xferi{})<<16 | 'A'<<8 | 0x50

// kernelPCM adapts *alsa.PCM to the pcm seam. Writes go straight to the
// WRITEI ioctl instead of through alsa.PCM.Write: that takes an `any` (an
// allocation per call on the audio hot path) and recovers from under-runs
// itself, while we want to count and log each one.
type kernelPCM struct {
	p          *alsa.PCM
	fd         uintptr
	frameBytes int
	x          xferi
}

func (k *kernelPCM) Write(b []byte) (int, error) {
	frames := len(b) / k.frameBytes
	if frames == 0 {
		return 0, nil
	}
	k.x = xferi{buf: uintptr(unsafe.Pointer(&b[0])), frames: uint(frames)}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, k.fd, ioctlWriteiFrames, uintptr(unsafe.Pointer(&k.x)))
	runtime.KeepAlive(b)
	if e != 0 {
		return 0, e
	}
	return k.x.result, nil
}

func (k *kernelPCM) Prepare() error { return k.p.Prepare() }
func (k *kernelPCM) Drop() error    { return k.p.Stop() }
func (k *kernelPCM) Drain() error   { return k.p.Drain() }
func (k *kernelPCM) Close() error   { return k.p.Close() }

func (k *kernelPCM) Delay() (int, error) { return k.p.Delay() }
