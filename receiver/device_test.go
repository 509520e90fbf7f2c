package receiver

import (
	"slices"
	"strconv"
	"testing"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"

	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// 1. Stored credentials are enough: the device registers with NEW_DEVICE
// on the dealer's connection id, with its capabilities and the initial
// volume, without any phone.
func TestDeviceRegistersAtStart(t *testing.T) {
	e := newDevEnv(t)
	id, err := e.ds.WaitConnection(e.ctx, 1)
	e.must(err)
	p := e.waitPut("anything", func(spotifytest.ConnectStatePut) bool { return true })
	if p.Reason != connectpb.PutStateReason_NEW_DEVICE || p.ConnectionID != id || p.DeviceID != devID {
		t.Fatalf("first PUT: reason %v, connection %q (want %q), device %q", p.Reason, p.ConnectionID, id, p.DeviceID)
	}
	if p.Request.GetIsActive() {
		t.Fatal("active before any phone")
	}
	info := p.Request.GetDevice().GetDeviceInfo()
	caps := info.GetCapabilities()
	if info.GetName() != "Kitchen" || info.GetVolume() != 32768 || info.GetDeviceId() != devID || caps.GetVolumeSteps() != 64 {
		t.Fatalf("device info %v", info)
	}
	if !caps.GetCanBePlayer() || !caps.GetIsControllable() || !caps.GetSupportsTransferCommand() || !caps.GetSupportsLogout() ||
		!caps.GetCommandAcks() || caps.GetSupportsSetBackendMetadata() {
		t.Fatalf("capabilities %v", caps)
	}
	// The login5 token of this chain authorised the PUT, and the player
	// got the volume before anything played.
	if got := p.Header.Get("Authorization"); got == "" || !e.f.Login5().Valid(got[len("Bearer "):]) {
		t.Fatalf("Authorization %q", got)
	}
	if _, err := e.player.waitCall(e.ctx, 0, "volume 32768"); err != nil {
		t.Fatal(err)
	}
	if dials, _ := e.dialer.state(); dials != 1 {
		t.Fatalf("%d access point logins", dials)
	}
	e.stop()
	// Shutdown leaves the apps at once.
	if _, err := e.sp.WaitConnectStateInactive(e.ctx, 1); err != nil {
		t.Fatal(err)
	}
	names := e.hooks.Names()
	if !slices.Contains(names, hooks.SessionConnected) || !slices.Contains(names, hooks.SessionDisconnected) {
		t.Fatalf("hooks %v", names)
	}
}

// 2. Transfer, then every command: the reply, the published state and the
// player calls.
func TestDeviceTransferAndCommands(t *testing.T) {
	e := newDevEnv(t)
	_, err := e.ds.WaitConnection(e.ctx, 1)
	e.must(err)
	e.waitPut("NEW_DEVICE", func(p spotifytest.ConnectStatePut) bool { return p.Reason == connectpb.PutStateReason_NEW_DEVICE })

	if !e.transfer(5, e.clock.Now().UnixMilli()) {
		t.Fatal("transfer refused")
	}
	// The position counts from the transfer's timestamp: a few ms.
	at, err := e.player.waitLoad(e.ctx, 0, turi(0), 5000)
	e.must(err)
	p := e.playingTrack(turi(0))
	if p.Request.GetLastCommandSentByDeviceId() != phoneID || p.Request.GetLastCommandMessageId() == 0 {
		t.Fatalf("last command %d from %q", p.Request.GetLastCommandMessageId(), p.Request.GetLastCommandSentByDeviceId())
	}
	if ps := p.Request.GetDevice().GetPlayerState(); ps.GetContextUri() != albumContext(1).Uri || ps.GetPlaybackSpeed() != 1 || len(ps.GetNextTracks()) != 4 {
		t.Fatalf("player state %v", ps)
	}

	check := func(name string, cmd map[string]any, call string, ok func(*connectpb.PutStateRequest) bool) {
		t.Helper()
		if !e.command(cmd) {
			t.Fatalf("%s refused", name)
		}
		if call != "" {
			at, err = e.player.waitCall(e.ctx, at, call)
			e.must(err)
		}
		e.waitPut(name, func(p spotifytest.ConnectStatePut) bool { return ok(p.Request) })
	}
	ps := func(r *connectpb.PutStateRequest) *connectpb.PlayerState { return r.GetDevice().GetPlayerState() }

	check("pause", map[string]any{"endpoint": "pause"}, "pause", func(r *connectpb.PutStateRequest) bool {
		return ps(r).GetIsPaused() && ps(r).GetPlaybackSpeed() == 0
	})
	check("resume", map[string]any{"endpoint": "resume"}, "resume", func(r *connectpb.PutStateRequest) bool {
		return !ps(r).GetIsPaused() && ps(r).GetPlaybackSpeed() == 1
	})
	check("seek_to", map[string]any{"endpoint": "seek_to", "value": 5000}, "seek 5000", func(r *connectpb.PutStateRequest) bool {
		return ps(r).GetPositionAsOfTimestamp() >= 5000 && ps(r).GetPositionAsOfTimestamp() < 6000
	})
	check("seek_to relative", map[string]any{"endpoint": "seek_to", "position": 7000, "relative": "beginning"}, "seek 7000",
		func(r *connectpb.PutStateRequest) bool { return ps(r).GetPositionAsOfTimestamp() >= 7000 })
	check("skip_next", map[string]any{"endpoint": "skip_next"}, "load "+turi(1)+" 0 false", func(r *connectpb.PutStateRequest) bool {
		return ps(r).GetTrack().GetUri() == turi(1) && ps(r).GetIndex().GetTrack() == 1
	})
	check("skip_next to a track", map[string]any{"endpoint": "skip_next", "track": map[string]any{"uri": turi(3), "uid": "u3"}},
		"load "+turi(3)+" 0 false", func(r *connectpb.PutStateRequest) bool { return ps(r).GetTrack().GetUri() == turi(3) })
	check("skip_prev", map[string]any{"endpoint": "skip_prev"}, "load "+turi(2)+" 0 false", func(r *connectpb.PutStateRequest) bool {
		return ps(r).GetTrack().GetUri() == turi(2)
	})
	check("shuffle", map[string]any{"endpoint": "set_shuffling_context", "value": true}, "", func(r *connectpb.PutStateRequest) bool {
		return ps(r).GetOptions().GetShufflingContext()
	})
	check("unshuffle", map[string]any{"endpoint": "set_shuffling_context", "value": false}, "", func(r *connectpb.PutStateRequest) bool {
		return !ps(r).GetOptions().GetShufflingContext()
	})
	check("repeat", map[string]any{"endpoint": "set_repeating_context", "value": true}, "", func(r *connectpb.PutStateRequest) bool {
		return ps(r).GetOptions().GetRepeatingContext()
	})
	check("repeat track", map[string]any{"endpoint": "set_repeating_track", "value": true}, "", func(r *connectpb.PutStateRequest) bool {
		return ps(r).GetOptions().GetRepeatingTrack()
	})
	check("add_to_queue", map[string]any{"endpoint": "add_to_queue", "track": map[string]any{"uri": turi(7)}}, "",
		func(r *connectpb.PutStateRequest) bool {
			next := ps(r).GetNextTracks()
			return len(next) > 0 && next[0].GetUri() == turi(7) && next[0].GetProvider() == "queue"
		})
	check("set_queue", map[string]any{"endpoint": "set_queue", "next_tracks": []map[string]any{
		{"uri": turi(8), "uid": "q8", "metadata": map[string]string{"is_queued": "true"}},
		{"uri": turi(7), "uid": "q7", "metadata": map[string]string{"is_queued": "true"}},
	}}, "", func(r *connectpb.PutStateRequest) bool {
		next := ps(r).GetNextTracks()
		return len(next) > 1 && next[0].GetUri() == turi(8) && next[1].GetUri() == turi(7) && next[0].GetProvider() == "queue"
	})

	// Malformed commands are refused and change nothing.
	for _, bad := range []map[string]any{
		{"endpoint": "set_shuffling_context"},
		{"endpoint": "seek_to"},
		{"endpoint": "play"},
		{"endpoint": "no_such_command"},
	} {
		if e.command(bad) {
			t.Fatalf("%v accepted", bad)
		}
	}

	// Volume from the app: the player, the apps, the state directory.
	e.message("hm://connect-state/v1/connect/volume", &connectpb.SetVolumeCommand{Volume: 1000})
	at, err = e.player.waitCall(e.ctx, at, "volume 1000")
	e.must(err)
	e.waitPut("VOLUME_CHANGED", func(p spotifytest.ConnectStatePut) bool {
		return p.Request.GetDevice().GetDeviceInfo().GetVolume() == 1000 && p.Request.GetIsActive()
	})
	names := e.hooks.Names()
	for _, want := range []string{hooks.VolumeChanged, hooks.ShuffleChanged, hooks.RepeatChanged} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s hook in %v", want, names)
		}
	}
	e.stop()
	if v := readVolumeFile(t, e.dir); v != "1000" {
		t.Fatalf("remembered volume %q", v)
	}
	// Every request got exactly one reply.
	for i := 1; i <= e.keyN; i++ {
		if r := e.ds.Replies("key-" + strconv.Itoa(i)); len(r) != 1 {
			t.Fatalf("key-%d: replies %v", i, r)
		}
	}

	// The next start uses the remembered volume, not the initial one.
	e2 := newDevEnvIn(t, e.dir)
	p = e2.waitPut("NEW_DEVICE", func(p spotifytest.ConnectStatePut) bool { return p.Reason == connectpb.PutStateReason_NEW_DEVICE })
	if v := p.Request.GetDevice().GetDeviceInfo().GetVolume(); v != 1000 {
		t.Fatalf("volume after restart %d", v)
	}
}

// newDevEnvIn starts a device with an existing state directory.
func newDevEnvIn(t *testing.T, dir string) *devEnv {
	return newDevEnv(t, func(c *DeviceConfig) { c.StateDir = dir })
}

// A play command with a bare context uri: the loop resolves it through
// spclient in the background and feeds the result back; a volume change
// on the hardware mixer is reported to the apps, not sent back to the
// player.
func TestDeviceResolvesContextAndReportsMixerVolume(t *testing.T) {
	local := make(chan uint32)
	e := newDevEnv(t, func(c *DeviceConfig) { c.LocalVolume = local })
	ctxURI := albumContext(1).Uri
	e.sp.SetSpclientContext(ctxURI, albumContext(3))
	_, err := e.ds.WaitConnection(e.ctx, 1)
	e.must(err)
	e.waitPut("NEW_DEVICE", func(p spotifytest.ConnectStatePut) bool { return p.Reason == connectpb.PutStateReason_NEW_DEVICE })
	if !e.command(map[string]any{"endpoint": "play", "context": map[string]any{"uri": ctxURI},
		"play_origin": map[string]any{"feature_identifier": "album"}}) {
		t.Fatal("play refused")
	}
	at, err := e.player.waitCall(e.ctx, 0, "load "+turi(0)+" 0 false")
	e.must(err)
	p := e.playingTrack(turi(0))
	if n := len(p.Request.GetDevice().GetPlayerState().GetNextTracks()); n != 2 {
		t.Fatalf("%d next tracks from the resolved context, want 2", n)
	}

	select {
	case local <- 4242:
	case <-e.ctx.Done():
		t.Fatal(e.ctx.Err())
	}
	e.volumePut(4242)
	if slices.Contains(e.player.Calls()[at:], "volume 4242") {
		t.Fatal("a hardware volume change was sent back to the player")
	}
	e.stop()
	if v := readVolumeFile(t, e.dir); v != "4242" {
		t.Fatalf("remembered volume %q", v)
	}
}
