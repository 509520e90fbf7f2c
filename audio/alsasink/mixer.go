package alsasink

import (
	"fmt"
	"strings"
	"sync"

	"github.com/speakerbox/speakerbox/audio/alsasink/alsactl"
)

// volumeControl is one integer mixer element used as the volume.
type volumeControl interface {
	Range() (lo, hi int64)
	// Set writes raw to every channel of the control.
	Set(raw int64) error
	Close() error
}

// mixerOpener finds the control called name on a card.
type mixerOpener func(card int, name string) (volumeControl, error)

// ctlDevice is the part of *alsactl.Ctl the mixer lookup uses.
type ctlDevice interface {
	List() ([]alsactl.ID, error)
	Info(alsactl.ID) (alsactl.Info, error)
	WriteInts(alsactl.ID, []int64) error
	Close() error
}

func kernelMixer(card int, name string) (volumeControl, error) {
	c, err := alsactl.Open(card)
	if err != nil {
		return nil, err
	}
	vc, err := findVolume(c, name)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return vc, nil
}

// findVolume looks name up the way people write it: the element name
// ("PCM Playback Volume") or the simple name alsamixer shows ("PCM").
func findVolume(c ctlDevice, name string) (volumeControl, error) {
	ids, err := c.List()
	if err != nil {
		return nil, err
	}
	for _, want := range elementNames(name) {
		for _, id := range ids {
			if id.Name != want {
				continue
			}
			info, err := c.Info(id)
			if err != nil {
				return nil, err
			}
			if !isVolume(info) {
				return nil, fmt.Errorf("ALSA mixer control %q is not a writable volume (type %s, range %d..%d)", id.Name, info.TypeName(), info.Min, info.Max)
			}
			return &ctlVolume{c: c, info: info}, nil
		}
	}
	var volumes []string
	for _, id := range ids {
		if info, err := c.Info(id); err == nil {
			if simple, ok := MixerName(info); ok {
				volumes = append(volumes, fmt.Sprintf("%q", simple))
			}
		}
	}
	if len(volumes) == 0 {
		return nil, fmt.Errorf("no ALSA mixer control %q: this card has no volume controls (leave audio.mixer empty for software volume)", name)
	}
	return nil, fmt.Errorf("no ALSA mixer control %q (volume controls on this card: %s)", name, strings.Join(volumes, ", "))
}

// MixerName is the name to give as the mixer (audio.mixer) for a control
// that can serve as the volume: the simple name alsamixer shows, "PCM" for
// "PCM Playback Volume". ok is false for any other control. findVolume
// takes this name back (elementNames is its inverse).
func MixerName(c alsactl.Info) (name string, ok bool) {
	if !isVolume(c) || !strings.HasSuffix(c.ID.Name, "Volume") {
		return "", false
	}
	return strings.TrimSuffix(strings.TrimSuffix(c.ID.Name, " Volume"), " Playback"), true
}

// elementNames are the control names a mixer name may stand for, in the
// order findVolume tries them: itself, then the two forms MixerName shortens.
func elementNames(mixer string) []string {
	return []string{mixer, mixer + " Playback Volume", mixer + " Volume"}
}

// isVolume: an integer control we can write with a range to map onto.
func isVolume(c alsactl.Info) bool {
	return c.Type == alsactl.TypeInteger && c.Writable() && c.Count > 0 && c.Max > c.Min
}

type ctlVolume struct {
	c    ctlDevice
	info alsactl.Info
	vals []int64
}

func (v *ctlVolume) Range() (int64, int64) { return v.info.Min, v.info.Max }

func (v *ctlVolume) Set(raw int64) error {
	if v.vals == nil {
		v.vals = make([]int64, v.info.Count)
	}
	for i := range v.vals {
		v.vals[i] = raw
	}
	return v.c.WriteInts(v.info.ID, v.vals)
}

func (v *ctlVolume) Close() error { return v.c.Close() }

// volumeState remembers the level so that a volume set before the device
// opens (or while it is closed) is applied when it opens. SetVolume may come
// from another goroutine than the player's, hence the lock.
type volumeState struct {
	mu    sync.Mutex
	ctl   volumeControl
	level uint16
	have  bool
}

func (v *volumeState) open(mo mixerOpener, card int, name string) error {
	ctl, err := mo(card, name)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ctl = ctl
	if v.have {
		return v.applyLocked()
	}
	return nil
}

func (v *volumeState) set(level uint16) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.level, v.have = level, true
	if v.ctl == nil {
		return nil
	}
	return v.applyLocked()
}

// applyLocked maps Spotify's 0..65535 linearly onto the control's raw
// steps. Most DAC volume controls step in fixed dB (TLV dB scale), so this
// is a logarithmic curve in loudness, which is what a volume knob should be.
func (v *volumeState) applyLocked() error {
	lo, hi := v.ctl.Range()
	raw := lo + (hi-lo)*int64(v.level)/65535
	return v.ctl.Set(raw)
}

func (v *volumeState) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ctl != nil {
		_ = v.ctl.Close()
		v.ctl = nil
	}
}
