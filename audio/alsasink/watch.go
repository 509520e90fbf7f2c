package alsasink

import (
	"context"
	"errors"
	"fmt"
)

// WatchVolume reports the changes made to the mixer control from outside
// (alsamixer, amixer, a knob wired to the control) as volumes 0..65535,
// mapped back through the same curve SetVolume uses, so that the app's
// slider shows what the knob did. SetVolume's own writes are not reported.
// A change reported here also becomes the level the sink restores when it
// opens the device again.
//
// Call it on the very sink the player writes the volume through: what
// tells our writes from others' is kept in the sink. It opens a control
// device handle of its own on the card of the sink's device, now: an
// error means the card or the control is not there. Events
// are read until ctx is done, or until the control goes away (a USB DAC
// unplugged), which is logged. The channel is closed after the handle has
// been released; receive until then to wait for it. A value waits on the
// channel until it is received; later changes are read from the control
// after that, so a slow receiver gets the latest value, not a backlog.
func (v VolumeSink) WatchVolume(ctx context.Context) (<-chan uint32, error) {
	procCards, err := v.be.cards()
	if err != nil {
		return nil, fmt.Errorf("watch ALSA mixer control %q: list sound cards: %w", v.opts.Mixer, err)
	}
	addr, err := ResolveDevice(v.opts.Device, procCards)
	if err != nil {
		return nil, fmt.Errorf("watch ALSA mixer control %q: %w", v.opts.Mixer, err)
	}
	ctl, err := v.mixer(addr.Card, v.opts.Mixer)
	if err != nil {
		return nil, fmt.Errorf("watch ALSA mixer control %q: %w", v.opts.Mixer, err)
	}
	// Subscribe before the first read, so that no change falls between.
	if err := ctl.Subscribe(); err != nil {
		_ = ctl.Close()
		return nil, fmt.Errorf("watch ALSA mixer control %q: %w", v.opts.Mixer, err)
	}
	m := v.vol.mapFor(ctl)
	if err := v.vol.seed(ctl, m); err != nil {
		_ = ctl.Close()
		return nil, fmt.Errorf("watch ALSA mixer control %q: %w", v.opts.Mixer, err)
	}
	v.vol.log.Info("watching the mixer control for changes made outside speakerbox", "card", addr.Card)

	out := make(chan uint32)
	go func() {
		defer close(out)
		// Close is what ends a WaitChange that is waiting for the kernel.
		stop, closed := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(closed)
			select {
			case <-ctx.Done():
			case <-stop:
			}
			_ = ctl.Close()
		}()
		v.watch(ctx, ctl, m, out)
		close(stop)
		<-closed
	}()
	return out, nil
}

func (v VolumeSink) watch(ctx context.Context, ctl volumeControl, m volumeMap, out chan<- uint32) {
	for {
		err := ctl.WaitChange()
		var level uint16
		var changed bool
		if err == nil {
			level, changed, err = v.vol.seen(ctl, m)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, errControlRemoved) {
				v.vol.log.Warn("the mixer control went away; changes made on it are no longer reported")
			} else {
				v.vol.log.Warn("watching the mixer control failed; changes made on it are no longer reported", "err", err)
			}
			return
		}
		if !changed {
			continue
		}
		v.vol.log.Debug("mixer control changed outside speakerbox", "volume", level)
		select {
		case out <- uint32(level):
		case <-ctx.Done():
			return
		}
	}
}

// seen reads the control (through the watcher's handle) and compares it
// with what the hardware is known to hold. A different value is a change
// made elsewhere: it becomes the known value and the level to restore, and
// changed is true when its level differs from the known one. Reading under
// the lock orders it against SetVolume's writes, so that the event of our
// own write always finds the value we wrote.
func (v *volumeState) seen(ctl volumeControl, m volumeMap) (level uint16, changed bool, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	raw, err := ctl.Get()
	if err != nil {
		return 0, false, err
	}
	if v.hwKnown && raw == v.hwRaw {
		return v.hwLevel, false, nil
	}
	level = m.level(raw)
	changed = !v.hwKnown || level != v.hwLevel
	v.hwRaw, v.hwLevel, v.hwKnown = raw, level, true
	v.level, v.have = level, true
	return level, changed, nil
}

// seed takes what the control holds when the watch starts as known, if
// nothing is known yet; it is not a change, and a level set before the
// device opened stays the one to apply.
func (v *volumeState) seed(ctl volumeControl, m volumeMap) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	raw, err := ctl.Get()
	if err != nil {
		return err
	}
	if !v.hwKnown {
		v.hwRaw, v.hwLevel, v.hwKnown = raw, m.level(raw), true
	}
	return nil
}
