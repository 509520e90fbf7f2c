package alsasink

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/speakerbox/speakerbox/audio/alsasink/alsactl"
)

// volumeControl is one integer mixer element used as the volume, on a
// control device handle of its own.
type volumeControl interface {
	Range() (lo, hi int64)
	// DB is the control's TLV data (its dB description); nil when it has
	// none.
	DB() ([]uint32, error)
	// Get reads the value of the loudest channel.
	Get() (int64, error)
	// Set writes raw to every channel of the control.
	Set(raw int64) error
	// Subscribe asks for change events of the card; WaitChange then
	// blocks until this control's value changed (or may have). It fails
	// once the control is closed, from any goroutine, or removed.
	Subscribe() error
	WaitChange() error
	Close() error
}

// mixerOpener finds the control called name on a card.
type mixerOpener func(card int, name string) (volumeControl, error)

// ctlDevice is the part of *alsactl.Ctl the mixer uses.
type ctlDevice interface {
	List() ([]alsactl.ID, error)
	Info(alsactl.ID) (alsactl.Info, error)
	TLV(alsactl.ID) ([]uint32, error)
	ReadInts(alsactl.ID, int) ([]int64, error)
	WriteInts(alsactl.ID, []int64) error
	Subscribe() error
	ReadEvents([]alsactl.Event) (int, error)
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
	evs  [8]alsactl.Event
}

func (v *ctlVolume) Range() (int64, int64) { return v.info.Min, v.info.Max }

func (v *ctlVolume) DB() ([]uint32, error) {
	if v.info.Access&alsactl.AccessTLVRead == 0 {
		return nil, nil
	}
	return v.c.TLV(v.info.ID)
}

func (v *ctlVolume) Get() (int64, error) {
	vals, err := v.c.ReadInts(v.info.ID, int(min(v.info.Count, 128)))
	if err != nil {
		return 0, err
	}
	if len(vals) == 0 {
		return 0, fmt.Errorf("read ALSA control %q: no values", v.info.ID.Name)
	}
	return slices.Max(vals), nil
}

func (v *ctlVolume) Set(raw int64) error {
	if v.vals == nil {
		v.vals = make([]int64, v.info.Count)
	}
	for i := range v.vals {
		v.vals[i] = raw
	}
	return v.c.WriteInts(v.info.ID, v.vals)
}

func (v *ctlVolume) Subscribe() error { return v.c.Subscribe() }

// errControlRemoved: the card or the control went away (a USB DAC
// unplugged, a driver unloaded).
var errControlRemoved = errors.New("the mixer control was removed")

func (v *ctlVolume) WaitChange() error {
	for {
		n, err := v.c.ReadEvents(v.evs[:])
		if err != nil {
			return err
		}
		changed := false
		for _, ev := range v.evs[:n] {
			if ev.Type != alsactl.EventElem || ev.ID.Numid != v.info.ID.Numid {
				continue
			}
			if ev.Mask == alsactl.EventRemove {
				return errControlRemoved
			}
			if ev.Mask&alsactl.EventValue != 0 {
				changed = true
			}
		}
		if changed {
			return nil
		}
	}
}

func (v *ctlVolume) Close() error { return v.c.Close() }

// volumeState remembers the level so that a volume set before the device
// opens (or while it is closed) is applied when it opens, and what the
// hardware holds, so that a watcher tells our own writes from changes made
// elsewhere. SetVolume may come from another goroutine than the player's,
// and the watcher runs in its own, hence the lock.
type volumeState struct {
	rangeDB float64
	log     *slog.Logger

	mu    sync.Mutex
	ctl   volumeControl
	vmap  volumeMap
	level uint16
	have  bool
	// hwRaw is the value the control holds as far as we know (written by
	// us or seen by the watcher), and hwLevel the level it stands for.
	hwRaw   int64
	hwLevel uint16
	hwKnown bool
	// noted: the way the volume maps onto the control was logged.
	noted bool
}

// mapFor builds the volume map of a control, and logs once how the volume
// maps onto it.
func (v *volumeState) mapFor(ctl volumeControl) volumeMap {
	lo, hi := ctl.Range()
	tlv, err := ctl.DB()
	if err != nil {
		tlv = nil
		err = fmt.Errorf("its dB description cannot be read: %w", err)
	} else {
		var m volumeMap
		m, err = newVolumeMap(lo, hi, tlv, v.rangeDB)
		if err == nil {
			v.noteOnce(func() {
				v.log.Info("hardware volume follows the mixer control's dB scale",
					"from_db", m.db.floor/100, "to_db", m.db.top/100)
			})
			return m
		}
	}
	v.noteOnce(func() {
		v.log.Warn("hardware volume maps onto the mixer control's raw steps, not dB", "reason", err.Error(), "min", lo, "max", hi)
	})
	return volumeMap{lo: lo, hi: hi}
}

func (v *volumeState) noteOnce(f func()) {
	v.mu.Lock()
	done := v.noted
	v.noted = true
	v.mu.Unlock()
	if !done {
		f()
	}
}

func (v *volumeState) open(mo mixerOpener, card int, name string) error {
	ctl, err := mo(card, name)
	if err != nil {
		return err
	}
	m := v.mapFor(ctl)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ctl, v.vmap = ctl, m
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

// applyLocked sets the control to the level. The level the hardware
// already stands for (a change made on it and reported) keeps its exact
// value, so that the report coming back as a volume does not move it.
func (v *volumeState) applyLocked() error {
	raw := v.vmap.raw(v.level)
	if v.hwKnown && v.hwLevel == v.level {
		raw = v.hwRaw
	}
	if err := v.ctl.Set(raw); err != nil {
		v.hwKnown = false
		return err
	}
	v.hwRaw, v.hwLevel, v.hwKnown = raw, v.level, true
	return nil
}

func (v *volumeState) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ctl != nil {
		_ = v.ctl.Close()
		v.ctl = nil
	}
}
