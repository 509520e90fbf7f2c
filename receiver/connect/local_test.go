package connect

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/receiver/hooks"
)

// localFixtures are states a local command meets: idle, playing, paused
// with a queue, resolving a context, stopped at the end, and one 10 s into
// a track (so that "previous" has something to restart).
func localFixtures(t *testing.T) map[string]State {
	fx := fuzzFixtures(t)
	m := map[string]State{"idle": fx[0], "playing": fx[1], "busy": fx[2], "resolving": fx[3], "paged": fx[4]}
	cfg := testConfig()
	cfg.Autoplay = AutoplayOff
	s := New(cfg, 1, -1)
	s, effs := step(t, s, t0, request("p", playCmd(albumContext(1), nil)))
	s, _ = step(t, s, t0, TrackEnded{PlaybackID: one[PlayerLoad](t, effs).PlaybackID})
	m["ended"] = s
	p := playing(t, 4)
	p, _ = step(t, p, t0, request("n", map[string]any{"endpoint": "skip_next"}))
	p, _ = step(t, p, t0, TrackStarted{PlaybackID: p.playbackID, DurationMs: 200000})
	m["second track"] = p
	return m
}

// appEquivalent is the app's command for a local one.
func appEquivalent(c LocalCommand) Event {
	switch c.Kind {
	case LocalPlay:
		return request("app", map[string]any{"endpoint": "resume"})
	case LocalPause:
		return request("app", map[string]any{"endpoint": "pause"})
	case LocalNext:
		return request("app", map[string]any{"endpoint": "skip_next"})
	case LocalPrevious:
		return request("app", map[string]any{"endpoint": "skip_prev", "options": map[string]any{"allow_seeking": true}})
	case LocalSeek:
		return request("app", map[string]any{"endpoint": "seek_to", "value": c.PositionMs})
	case LocalSetVolume:
		b, _ := proto.Marshal(&connectpb.SetVolumeCommand{Volume: int32(c.Volume)})
		return VolumeMessage{Payload: b}
	}
	panic(c.Kind)
}

// sameEffects compares the effects of a local command (after its
// LocalReply) with the app's (after its Reply): the same player calls,
// hooks and publish, except the app's command ack in the PUT.
func sameEffects(t *testing.T, local, app []Effect) {
	t.Helper()
	if len(app) > 0 {
		if _, ok := app[0].(Reply); ok {
			app = app[1:]
		}
	}
	local = local[1:]
	if len(local) != len(app) {
		t.Fatalf("local effects %v, app's %v", local, app)
	}
	for i := range local {
		lp, lok := local[i].(Publish)
		ap, aok := app[i].(Publish)
		if lok && aok {
			a := proto.Clone(ap.Request).(*connectpb.PutStateRequest)
			a.LastCommandMessageId, a.LastCommandSentByDeviceId = lp.Request.LastCommandMessageId, lp.Request.LastCommandSentByDeviceId
			if !proto.Equal(lp.Request, a) || lp.ConnectionID != ap.ConnectionID {
				t.Fatalf("publish differs:\nlocal %v\napp   %v", lp.Request, a)
			}
			continue
		}
		if !reflect.DeepEqual(local[i], app[i]) {
			t.Fatalf("effect %d: local %#v, app's %#v", i, local[i], app[i])
		}
	}
}

// A local command does exactly what the same command from an app does
// (player calls, hooks, publish), in every fixture; a refusal changes
// nothing and says why.
func TestLocalCommandsActLikeTheApp(t *testing.T) {
	cmds := []LocalCommand{
		{Kind: LocalPlay}, {Kind: LocalPause}, {Kind: LocalNext}, {Kind: LocalPrevious},
		{Kind: LocalSeek, PositionMs: 0}, {Kind: LocalSeek, PositionMs: 42000}, {Kind: LocalSeek, PositionMs: 200000},
		{Kind: LocalSetVolume, Volume: 0}, {Kind: LocalSetVolume, Volume: 1234}, {Kind: LocalSetVolume, Volume: MaxVolume},
	}
	now := t0.Add(10 * time.Second)
	for name, s := range localFixtures(t) {
		for _, c := range cmds {
			t.Run(fmt.Sprintf("%s/%v %d %d", name, c.Kind, c.PositionMs, c.Volume), func(t *testing.T) {
				ls, leffs := step(t, s, now, c)
				r, ok := leffs[0].(LocalReply)
				if !ok || len(of[LocalReply](leffs)) != 1 {
					t.Fatalf("effects %v: want one LocalReply first", leffs)
				}
				as, aeffs := step(t, s, now, appEquivalent(c))
				appOK := true
				if rs := of[Reply](aeffs); len(rs) == 1 {
					appOK = rs[0].Success
				}
				if (r.Err == nil) != appOK {
					t.Fatalf("local %v, app's success %v", r.Err, appOK)
				}
				if r.Err != nil {
					if len(leffs) != 1 || !reflect.DeepEqual(ls, s) {
						t.Fatalf("a refused command changed something: %v", leffs)
					}
					if !errors.Is(r.Err, ErrInactive) && !errors.Is(r.Err, ErrNoTrack) && !errors.Is(r.Err, ErrStarting) {
						t.Fatalf("refused with %v", r.Err)
					}
					return
				}
				sameEffects(t, leffs, aeffs)
				// The app's command is acknowledged in the state; ours is not.
				as.lastCmdID, as.lastCmdFrom = ls.lastCmdID, ls.lastCmdFrom
				if !reflect.DeepEqual(ls, as) {
					t.Fatalf("states differ after %v", c.Kind)
				}
			})
		}
	}
}

func TestLocalCommandsRefused(t *testing.T) {
	fx := localFixtures(t)
	cases := []struct {
		name string
		s    State
		c    LocalCommand
		want error
	}{
		{"play before any app", fx["idle"], LocalCommand{Kind: LocalPlay}, ErrInactive},
		{"pause before any app", fx["idle"], LocalCommand{Kind: LocalPause}, ErrInactive},
		{"next before any app", fx["idle"], LocalCommand{Kind: LocalNext}, ErrInactive},
		{"seek before any app", fx["idle"], LocalCommand{Kind: LocalSeek, PositionMs: 1}, ErrInactive},
		{"pause at the end", fx["ended"], LocalCommand{Kind: LocalPause}, ErrNoTrack},
		{"seek at the end", fx["ended"], LocalCommand{Kind: LocalSeek, PositionMs: 1}, ErrNoTrack},
		{"next while resolving", fx["resolving"], LocalCommand{Kind: LocalNext}, ErrStarting},
		{"previous while resolving", fx["resolving"], LocalCommand{Kind: LocalPrevious}, ErrStarting},
		{"seek past the end", fx["playing"], LocalCommand{Kind: LocalSeek, PositionMs: 200001}, ErrOutOfRange},
		{"seek before the start", fx["playing"], LocalCommand{Kind: LocalSeek, PositionMs: -1}, ErrOutOfRange},
		{"volume above the scale", fx["idle"], LocalCommand{Kind: LocalSetVolume, Volume: MaxVolume + 1}, ErrOutOfRange},
		{"unknown kind", fx["playing"], LocalCommand{Kind: 99}, ErrUnknownCommand},
		{"zero kind", fx["playing"], LocalCommand{}, ErrUnknownCommand},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns, effs := step(t, tc.s, t0.Add(time.Second), tc.c)
			if len(effs) != 1 {
				t.Fatalf("effects %v", effs)
			}
			if r := effs[0].(LocalReply); !errors.Is(r.Err, tc.want) {
				t.Fatalf("err %v, want %v", r.Err, tc.want)
			}
			if !reflect.DeepEqual(ns, tc.s) {
				t.Fatal("a refused command changed the state")
			}
		})
	}
}

// The volume needs no session: the player, the state directory, the hook
// and a publish (held by the loop until there is a connection).
func TestLocalVolumeWithoutSession(t *testing.T) {
	cfg := testConfig()
	cfg.MaxVolume = 50000
	s := New(cfg, 1, -1)
	s, effs := step(t, s, t0, LocalCommand{Kind: LocalSetVolume, Volume: 60000})
	if _, ok := effs[0].(LocalReply); !ok || effs[0].(LocalReply).Err != nil {
		t.Fatalf("effects %v", effs)
	}
	if s.Volume() != 50000 || one[PlayerSetVolume](t, effs).Volume != 50000 || one[SaveVolume](t, effs).Volume != 50000 {
		t.Fatalf("volume %d (capped at 50000), effects %v", s.Volume(), effs)
	}
	if h := one[Hook](t, effs); h.Event.Name != hooks.VolumeChanged {
		t.Fatal(h)
	}
	if r := published(t, effs); r.PutStateReason != connectpb.PutStateReason_VOLUME_CHANGED || r.IsActive {
		t.Fatal(r)
	}
	if sn := s.Snapshot(); sn.Active || sn.Volume != 50000 || sn.TrackURI != "" {
		t.Fatalf("snapshot %+v", sn)
	}
}

func TestSnapshot(t *testing.T) {
	s := playing(t, 3) // track 0 started at t0, 200 s
	s, _ = step(t, s, t0.Add(5*time.Second), request("s", map[string]any{"endpoint": "set_shuffling_context", "value": true}))
	sn := s.Snapshot()
	want := Snapshot{Active: true, TrackURI: turi(0), ContextURI: albumContext(1).Uri, Loaded: true,
		PositionMs: 0, PositionAt: t0.UnixMilli(), DurationMs: 200000, Volume: 32768, Shuffle: true}
	if sn != want {
		t.Fatalf("snapshot\n%+v\nwant\n%+v", sn, want)
	}
	s, _ = step(t, s, t0.Add(7*time.Second), LocalCommand{Kind: LocalPause})
	if sn := s.Snapshot(); !sn.Paused || sn.PositionMs != 7000 || sn.PositionAt != t0.Add(7*time.Second).UnixMilli() {
		t.Fatalf("paused snapshot %+v", sn)
	}
	s, _ = step(t, s, t0, Shutdown{})
	if sn := s.Snapshot(); sn != (Snapshot{Volume: 32768, Shuffle: true}) {
		t.Fatalf("after shutdown %+v", sn)
	}
}

// The owner's settings while running: a new name is announced in full
// (NEW_DEVICE); a lower cap brings the volume down on the player and in
// the apps, and caps what an app asks later; autoplay decides the next end
// of a context. The State given to New keeps its Config.
func TestLocalSettings(t *testing.T) {
	s := playing(t, 2)
	before := s.Clone()
	ns, effs := step(t, s, t0.Add(time.Second), LocalCommand{Kind: LocalSetName, Name: "Living room"})
	if r := effs[0].(LocalReply); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := published(t, effs); r.PutStateReason != connectpb.PutStateReason_NEW_DEVICE || r.Device.DeviceInfo.Name != "Living room" {
		t.Fatalf("publish after the rename: %v", r)
	}
	if before.DeviceInfo().Name != "Kitchen" || s.DeviceInfo().Name != "Kitchen" {
		t.Fatal("the rename changed an older State")
	}

	ns, effs = step(t, ns, t0.Add(2*time.Second), LocalCommand{Kind: LocalSetMaxVolume, MaxVolume: 20000})
	if ns.Volume() != 20000 || one[PlayerSetVolume](t, effs).Volume != 20000 || one[SaveVolume](t, effs).Volume != 20000 {
		t.Fatalf("volume %d after a cap of 20000 (was 32768), effects %v", ns.Volume(), effs)
	}
	if r := published(t, effs); r.Device.DeviceInfo.Volume != 20000 {
		t.Fatalf("published volume %d", r.Device.DeviceInfo.Volume)
	}
	ns, _ = step(t, ns, t0.Add(3*time.Second), LocalCommand{Kind: LocalSetVolume, Volume: MaxVolume})
	if ns.Volume() != 20000 {
		t.Fatalf("volume %d after asking for the top under a cap of 20000", ns.Volume())
	}
	// A higher cap lowers nothing and raises nothing.
	ns, effs = step(t, ns, t0.Add(4*time.Second), LocalCommand{Kind: LocalSetMaxVolume, MaxVolume: 0})
	if ns.Volume() != 20000 || len(effs) != 1 {
		t.Fatalf("volume %d, effects %v after lifting the cap", ns.Volume(), effs)
	}

	// Autoplay: the end of the context loads a station or not, as the
	// last setting says.
	for _, tc := range []struct {
		from, to Autoplay
		want     bool
	}{{AutoplayOn, AutoplayOff, false}, {AutoplayOff, AutoplayOn, true}, {AutoplayOn, AutoplayOn, true}} {
		cfg := testConfig()
		cfg.Autoplay = tc.from
		a := New(cfg, 1, -1)
		a, effs = step(t, a, t0, request("p", playCmd(albumContext(1), nil)))
		a, _ = step(t, a, t0, LocalCommand{Kind: LocalSetAutoplay, Autoplay: tc.to})
		_, effs = step(t, a, t0, TrackEnded{PlaybackID: one[PlayerLoad](t, effs).PlaybackID})
		got := false
		for _, e := range effs {
			_, ok := e.(LoadAutoplay)
			got = got || ok
		}
		if got != tc.want {
			t.Errorf("autoplay %v then %v: a station loaded %v, want %v (effects %v)", tc.from, tc.to, got, tc.want, effs)
		}
	}

	for _, c := range []LocalCommand{{Kind: LocalSetName}, {Kind: LocalSetMaxVolume, MaxVolume: MaxVolume + 1}, {Kind: LocalSetAutoplay, Autoplay: 7}} {
		ns, effs := step(t, s, t0, c)
		if r := effs[0].(LocalReply); !errors.Is(r.Err, ErrOutOfRange) || len(effs) != 1 || !reflect.DeepEqual(ns, s) {
			t.Errorf("%v %+v: %v, effects %v; want refused, nothing changed", c.Kind, c, r.Err, effs)
		}
	}
}
