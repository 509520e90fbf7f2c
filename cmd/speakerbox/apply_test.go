package main

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/localapi"
	"github.com/speakerbox/speakerbox/receiver/connect"
	"github.com/speakerbox/speakerbox/receiver/playback"
)

// liveFake records what the settings call, in order.
type liveFake struct {
	mu      sync.Mutex
	calls   []string
	failDev error
	failAmp error
}

func (f *liveFake) add(s string) { f.mu.Lock(); f.calls = append(f.calls, s); f.mu.Unlock() }

func (f *liveFake) take() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := strings.Join(f.calls, " ")
	f.calls = nil
	return s
}

type liveDevice struct{ f *liveFake }

func (d liveDevice) SetName(_ context.Context, n string) error {
	d.f.add("device.name=" + n)
	return d.f.failDev
}

func (d liveDevice) SetMaxVolume(_ context.Context, v uint32) error {
	d.f.add("device.max=" + strconv.Itoa(int(v)))
	return d.f.failDev
}

func (d liveDevice) SetAutoplay(_ context.Context, a connect.Autoplay) error {
	d.f.add("device.autoplay=" + strconv.Itoa(int(a)))
	return d.f.failDev
}

type liveNamed struct {
	f    *liveFake
	what string
}

func (n liveNamed) SetName(name string) { n.f.add(n.what + ".name=" + name) }

type liveAmp struct{ f *liveFake }

func (a liveAmp) SetAmpTimings(w, i time.Duration) error {
	a.f.add("amp=" + w.String() + "/" + i.String())
	return a.f.failAmp
}

type liveCap struct{ f *liveFake }

func (c liveCap) SetMaxVolume(p int) { c.f.add("player.max=" + strconv.Itoa(p)) }

// Each live key reaches its setters; the cap goes to the mixer's Connect
// volume or to the player's software volume; the relay's timings go as a
// pair; refusals and failures are errors (the page then says "restart
// needed"), and nothing is called before the parts are wired.
func TestLiveSettings(t *testing.T) {
	cfg := &config.Config{GPIO: config.GPIO{Warmup: 500 * time.Millisecond, IdleTimeout: 5 * time.Minute}}
	s := newLiveSettings(cfg, slog.New(slog.DiscardHandler))
	fn := s.funcs()
	ctx := context.Background()
	if err := fn["name"](ctx, "Kitchen"); !errors.Is(err, localapi.ErrUnavailable) {
		t.Fatalf("before wiring: %v, want ErrUnavailable", err)
	}
	for _, k := range config.SettingKeys() {
		_, live := fn[k]
		next := strings.Join(nextStartKeys(), ",") == k
		if want := k != "gpio.relay_line" && k != "gpio.active_low" && !next; live != want {
			t.Errorf("%s: applied live %v, want %v", k, live, want)
		}
	}

	f := &liveFake{}
	parts := liveParts{device: liveDevice{f}, discovery: liveNamed{f, "zeroconf"}, heading: liveNamed{f, "api"}, amp: liveAmp{f}, softCap: liveCap{f}}
	s.wire(parts)
	for _, tc := range []struct {
		key   string
		value any
		want  string
	}{
		{"name", "Living room", "device.name=Living room zeroconf.name=Living room api.name=Living room"},
		{"audio.max_volume", 60, "player.max=60"},
		{"autoplay", "off", "device.autoplay=" + strconv.Itoa(int(connect.AutoplayOff))},
		{"autoplay", "auto", "device.autoplay=" + strconv.Itoa(int(connect.AutoplayFollowApp))},
		{"gpio.warmup", "2s", "amp=2s/5m0s"},
		{"gpio.idle_timeout", "1m0s", "amp=2s/1m0s"},
	} {
		if err := fn[tc.key](ctx, tc.value); err != nil {
			t.Errorf("%s=%v: %v", tc.key, tc.value, err)
		}
		if got := f.take(); got != tc.want {
			t.Errorf("%s=%v: calls %q, want %q", tc.key, tc.value, got, tc.want)
		}
	}
	parts.hardware = true
	s.wire(parts)
	if err := fn["audio.max_volume"](ctx, 50); err != nil || f.take() != "device.max="+strconv.Itoa(int(percentToVolume(50))) {
		t.Errorf("hardware cap: %v", err)
	}

	// Refused or failed: an error, and a failed timing is not kept.
	if err := fn["name"](ctx, ""); err == nil || f.take() != "" {
		t.Error("an empty name was applied")
	}
	f.failDev = errors.New("loop stopped")
	if err := fn["name"](ctx, "X"); err == nil || f.take() != "device.name=X" {
		t.Errorf("a failed rename: %v; want an error and discovery left alone", err)
	}
	f.failAmp = errors.New("relay gone")
	if err := fn["gpio.warmup"](ctx, "9s"); err == nil {
		t.Error("a failed timing reported applied")
	}
	f.failAmp = nil
	f.take()
	if err := fn["gpio.idle_timeout"](ctx, "3m"); err != nil || f.take() != "amp=2s/3m0s" {
		t.Errorf("after a failed warm-up the pair is not the old warm-up with the new timeout")
	}
	// No relay: nothing to time, nothing wrong.
	f.failAmp = playback.ErrNoRelay
	if err := fn["gpio.warmup"](ctx, "1s"); err != nil {
		t.Errorf("without a relay: %v", err)
	}
	if err := fn["gpio.warmup"](ctx, "soon"); err == nil {
		t.Error("a bad duration was taken")
	}
}
