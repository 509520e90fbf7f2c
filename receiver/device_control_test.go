package receiver

import (
	"errors"
	"slices"
	"testing"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"

	"github.com/speakerbox/speakerbox/receiver/connect"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// control runs c and fails the test on an error.
func (e *devEnv) control(c Control) {
	e.t.Helper()
	if err := e.dev.Control(e.ctx, c); err != nil {
		e.t.Fatalf("Control(%v): %v", c.Kind, err)
	}
}

// Before any app chose the speaker there is nothing to control, except
// the volume, which is the speaker's own: it reaches the player, the
// state directory, the hooks and the apps' device list. Bad values are
// refused before anything happens.
func TestDeviceControlBeforeSession(t *testing.T) {
	e := newDevEnv(t)
	_, err := e.ds.WaitConnection(e.ctx, 1)
	e.must(err)
	e.waitPut("NEW_DEVICE", func(p spotifytest.ConnectStatePut) bool { return p.Reason == connectpb.PutStateReason_NEW_DEVICE })

	for _, c := range []Control{{Kind: ControlPlay}, {Kind: ControlPause}, {Kind: ControlNext},
		{Kind: ControlPrevious}, {Kind: ControlSeek, PositionMs: 1000}} {
		if err := e.dev.Control(e.ctx, c); !errors.Is(err, ErrNoSession) {
			t.Fatalf("Control(%v) before a session: %v, want ErrNoSession", c.Kind, err)
		}
	}
	for _, c := range []Control{{Kind: ControlVolume, Volume: 65536}, {Kind: ControlSeek, PositionMs: -1}, {Kind: 0}, {Kind: 42}} {
		if err := e.dev.Control(e.ctx, c); !errors.Is(err, ErrInvalidControl) {
			t.Fatalf("Control(%+v): %v, want ErrInvalidControl", c, err)
		}
	}
	calls := len(e.player.Calls())

	e.control(Control{Kind: ControlVolume, Volume: 1000})
	if _, err := e.player.waitCall(e.ctx, calls, "volume 1000"); err != nil {
		t.Fatal(err)
	}
	if st := e.dev.Status(); st.Volume != 1000 || st.State != SessionConnected || st.TrackURI != "" {
		t.Fatalf("status after the volume: %+v", st)
	}
	p := e.volumePut(1000)
	if p.Reason != connectpb.PutStateReason_VOLUME_CHANGED || p.Request.GetIsActive() {
		t.Fatalf("volume PUT: reason %v, active %v", p.Reason, p.Request.GetIsActive())
	}
	if ev, err := e.hooks.wait(e.ctx, hooks.VolumeChanged); err != nil || ev.Vars["VOLUME"] != "1000" {
		t.Fatalf("volume hook %v: %v", ev, err)
	}
	// Every refused control left the player alone.
	if got := e.player.Calls()[calls:]; !slices.Equal(got, []string{"volume 1000"}) {
		t.Fatalf("player calls %q", got)
	}
	e.stop()
	if v := readVolumeFile(t, e.dir); v != "1000" {
		t.Fatalf("remembered volume %q", v)
	}
}

// Each control drives the player and reaches the apps through a PUT, as
// the same command from an app does; the status follows at once.
func TestDeviceControlDrivesPlayerAndApps(t *testing.T) {
	e := newDevEnv(t)
	e.startPlaying()
	at := len(e.player.Calls())
	ps := func(p spotifytest.ConnectStatePut) *connectpb.PlayerState {
		return p.Request.GetDevice().GetPlayerState()
	}
	check := func(c Control, call string, what string, ok func(*connectpb.PlayerState) bool) {
		t.Helper()
		e.control(c)
		if call != "" {
			var err error
			at, err = e.player.waitCall(e.ctx, at, call)
			e.must(err)
		}
		e.waitPut(what, func(p spotifytest.ConnectStatePut) bool {
			return p.Request.GetIsActive() && p.Reason == connectpb.PutStateReason_PLAYER_STATE_CHANGED && ok(ps(p))
		})
	}

	check(Control{Kind: ControlPause}, "pause", "paused", func(s *connectpb.PlayerState) bool {
		return s.GetIsPaused() && s.GetPlaybackSpeed() == 0
	})
	if st := e.dev.Status(); st.State != SessionPaused || !st.Paused || st.TrackURI != turi(0) || st.DurationMs != trackMs {
		t.Fatalf("status after pause: %+v", st)
	}
	check(Control{Kind: ControlPlay}, "resume", "resumed", func(s *connectpb.PlayerState) bool {
		return !s.GetIsPaused() && s.GetPlaybackSpeed() == 1
	})
	if st := e.dev.Status(); st.State != SessionPlaying || st.Paused {
		t.Fatalf("status after play: %+v", st)
	}
	// Paused from here on, so that positions do not move with the clock.
	check(Control{Kind: ControlPause}, "pause", "paused", func(s *connectpb.PlayerState) bool { return s.GetIsPaused() })
	check(Control{Kind: ControlSeek, PositionMs: 5000}, "seek 5000", "at 5 s", func(s *connectpb.PlayerState) bool {
		return s.GetPositionAsOfTimestamp() == 5000
	})
	if st := e.dev.Status(); st.PositionMs != 5000 || st.PositionAt.IsZero() {
		t.Fatalf("status after seek: %+v", st)
	}
	// Beyond the end: refused, nothing sent to the player.
	if err := e.dev.Control(e.ctx, Control{Kind: ControlSeek, PositionMs: trackMs + 1}); !errors.Is(err, ErrInvalidControl) {
		t.Fatalf("seek beyond the end: %v", err)
	}
	check(Control{Kind: ControlNext}, "load "+turi(1)+" 0 true", "track 1", func(s *connectpb.PlayerState) bool {
		return s.GetTrack().GetUri() == turi(1) && s.GetIndex().GetTrack() == 1
	})
	if st := e.dev.Status(); st.TrackURI != turi(1) || st.PositionMs != 0 {
		t.Fatalf("status after next: %+v", st)
	}
	// At 0 s "previous" goes back a track; more than 3 s in, it restarts.
	check(Control{Kind: ControlPrevious}, "load "+turi(0)+" 0 true", "track 0", func(s *connectpb.PlayerState) bool {
		return s.GetTrack().GetUri() == turi(0)
	})
	check(Control{Kind: ControlSeek, PositionMs: 10000}, "seek 10000", "at 10 s", func(s *connectpb.PlayerState) bool {
		return s.GetPositionAsOfTimestamp() == 10000
	})
	check(Control{Kind: ControlPrevious}, "seek 0", "restarted", func(s *connectpb.PlayerState) bool {
		return s.GetTrack().GetUri() == turi(0) && s.GetPositionAsOfTimestamp() == 0
	})
	e.control(Control{Kind: ControlVolume, Volume: 2000})
	_, err := e.player.waitCall(e.ctx, at, "volume 2000")
	e.must(err)
	if p := e.volumePut(2000); !p.Request.GetIsActive() || ps(p).GetTrack().GetUri() != turi(0) {
		t.Fatalf("volume PUT lost the session: %v", p.Request)
	}
}

// While the chain to Spotify is rebuilt the music goes on, and so does
// the control API: a pause reaches the player at once, and the next
// registration shows the apps the paused state.
func TestDeviceControlDuringRebuild(t *testing.T) {
	gd := &gateDialer{gate: make(chan struct{}, 1)}
	gd.gate <- struct{}{} // the first login goes through
	e := newDevEnvPre(t, func(e *devEnv) { gd.devDialer = e.dialer }, func(c *DeviceConfig) { c.Dialer = gd })
	e.startPlaying()
	at := len(e.player.Calls())
	_, conns := e.dialer.state()
	conns[0].lose()
	st := e.waitStatus("playing, offline", func(st Status) bool { return !st.Online })
	if st.State != SessionPlaying || st.TrackURI != turi(0) {
		t.Fatalf("during the rebuild: %+v", st)
	}
	e.control(Control{Kind: ControlPause})
	if _, err := e.player.waitCall(e.ctx, at, "pause"); err != nil {
		t.Fatal(err)
	}
	if st := e.dev.Status(); st.State != SessionPaused || st.Online {
		t.Fatalf("paused during the rebuild: %+v", st)
	}
	gd.gate <- struct{}{} // the rebuild may log in now
	id2, err := e.ds.WaitConnection(e.ctx, 2)
	e.must(err)
	p := e.waitPut("NEW_DEVICE on "+id2, func(p spotifytest.ConnectStatePut) bool {
		return p.ConnectionID == id2 && p.Reason == connectpb.PutStateReason_NEW_DEVICE
	})
	if ps := p.Request.GetDevice().GetPlayerState(); !p.Request.GetIsActive() || !ps.GetIsPaused() || ps.GetTrack().GetUri() != turi(0) {
		t.Fatalf("registration after the rebuild: active %v, %v", p.Request.GetIsActive(), ps)
	}
	e.waitStatus("paused, online", func(st Status) bool { return st.Online && st.State == SessionPaused })
}

// The owner's settings through the device's loop, with no session: a new
// name is announced to the apps in full; a lower cap lowers the volume on
// the player and in the apps; autoplay is taken; bad values are refused.
func TestDeviceSettingsWhileRunning(t *testing.T) {
	e := newDevEnv(t)
	_, err := e.ds.WaitConnection(e.ctx, 1)
	e.must(err)
	e.waitPut("NEW_DEVICE", func(p spotifytest.ConnectStatePut) bool { return p.Reason == connectpb.PutStateReason_NEW_DEVICE })

	e.must(e.dev.SetName(e.ctx, "Living room"))
	e.waitPut("the new name", func(p spotifytest.ConnectStatePut) bool {
		return p.Reason == connectpb.PutStateReason_NEW_DEVICE && p.Request.GetDevice().GetDeviceInfo().GetName() == "Living room"
	})

	calls := len(e.player.Calls())
	e.must(e.dev.SetMaxVolume(e.ctx, 20000)) // the volume is 32768
	if _, err := e.player.waitCall(e.ctx, calls, "volume 20000"); err != nil {
		t.Fatal(err)
	}
	e.volumePut(20000)
	if st := e.dev.Status(); st.Volume != 20000 {
		t.Fatalf("status volume %d after the cap", st.Volume)
	}
	e.must(e.dev.SetAutoplay(e.ctx, connect.AutoplayOff))

	for _, err := range []error{e.dev.SetName(e.ctx, ""), e.dev.SetMaxVolume(e.ctx, 65536), e.dev.SetAutoplay(e.ctx, 9)} {
		if !errors.Is(err, ErrInvalidControl) {
			t.Errorf("a bad setting: %v, want ErrInvalidControl", err)
		}
	}
}
