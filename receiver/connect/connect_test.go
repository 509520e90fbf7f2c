package connect

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/receiver/hooks"
)

func TestNewDeviceAndCapabilities(t *testing.T) {
	s := New(testConfig(), 1, -1)
	if s.WantsTick() || s.Active() || s.ConnectionID() != "" {
		t.Fatal("a new state is idle")
	}
	if _, effs := step(t, s, t0, Tick{}); len(effs) != 0 {
		t.Fatalf("an idle tick has effects: %v", effs)
	}
	s, effs := step(t, s, t0, ConnectionID{ID: "conn1"})
	if s.ConnectionID() != "conn1" {
		t.Fatal(s.ConnectionID())
	}
	if v := one[PlayerSetVolume](t, effs); v.Volume != 32768 {
		t.Fatalf("first connection sets volume %d, want the initial 32768", v.Volume)
	}
	pub := one[Publish](t, effs)
	req := pub.Request
	if pub.ConnectionID != "conn1" || req.PutStateReason != connectpb.PutStateReason_NEW_DEVICE || req.IsActive {
		t.Fatalf("publish %v reason %v active %v", pub.ConnectionID, req.PutStateReason, req.IsActive)
	}
	di := req.GetDevice().GetDeviceInfo()
	caps := di.GetCapabilities()
	if di.GetClientId() != ClientID || di.GetDeviceId() != ownID || di.GetName() != "Kitchen" || di.GetVolume() != 32768 || !di.GetCanPlay() {
		t.Fatalf("device info %v", di)
	}
	if caps.GetSupportsSetBackendMetadata() || caps.GetVolumeSteps() != 100 || !caps.GetCommandAcks() || !caps.GetSupportsTransferCommand() || !caps.GetIsControllable() || caps.GetSupportsRemoteSleepTimer() || caps.GetSupportsDj() {
		t.Fatalf("capabilities %v", caps)
	}
	if ps := req.GetDevice().GetPlayerState(); ps.GetPlaybackSpeed() != 1 || ps.GetIsPlaying() || ps.GetTrack() != nil {
		t.Fatalf("idle player state %v", ps)
	}
	// A reconnect: NEW_DEVICE again with the new id, volume not re-applied.
	_, effs = step(t, s, t0.Add(time.Minute), ConnectionID{ID: "conn2"})
	none[PlayerSetVolume](t, effs)
	if p := one[Publish](t, effs); p.ConnectionID != "conn2" || p.Request.PutStateReason != connectpb.PutStateReason_NEW_DEVICE {
		t.Fatalf("reconnect publish %v", p)
	}
	// A playing device keeps its state across a reconnect.
	s = playing(t, 3)
	_, effs = step(t, s, t0.Add(time.Second), ConnectionID{ID: "conn3"})
	req = published(t, effs)
	if !req.IsActive || req.GetDevice().GetPlayerState().GetTrack().GetUri() != turi(0) || req.PutStateReason != connectpb.PutStateReason_NEW_DEVICE {
		t.Fatalf("reconnect while playing: %v", req)
	}
}

func TestVolume(t *testing.T) {
	cfg := testConfig()
	cfg.MaxVolume = 50000
	if v := New(cfg, 1, 1000).Volume(); v != 1000 {
		t.Fatalf("remembered volume: %d", v)
	}
	if v := New(cfg, 1, 60000).Volume(); v != 50000 {
		t.Fatalf("remembered volume above the cap: %d", v)
	}
	s := New(cfg, 1, -1)
	s, _ = step(t, s, t0, ConnectionID{ID: "c"})
	vol := func(v int32) VolumeMessage {
		b, _ := proto.Marshal(&connectpb.SetVolumeCommand{Volume: v})
		return VolumeMessage{Payload: b}
	}
	s, effs := step(t, s, t0, vol(40000))
	if one[PlayerSetVolume](t, effs).Volume != 40000 || one[SaveVolume](t, effs).Volume != 40000 {
		t.Fatalf("effects %v", effs)
	}
	if h := one[Hook](t, effs); h.Event.Name != hooks.VolumeChanged || h.Event.Vars["VOLUME"] != "40000" {
		t.Fatalf("hook %v", h)
	}
	if r := published(t, effs); r.PutStateReason != connectpb.PutStateReason_VOLUME_CHANGED || r.Device.DeviceInfo.Volume != 40000 {
		t.Fatalf("publish %v", r)
	}
	// Above the cap: capped, and the capped value is published.
	s, effs = step(t, s, t0, vol(65535))
	if s.Volume() != 50000 || one[PlayerSetVolume](t, effs).Volume != 50000 || published(t, effs).Device.DeviceInfo.Volume != 50000 {
		t.Fatalf("capped volume %d, effects %v", s.Volume(), effs)
	}
	// Same again: nothing to set, still published so the app snaps back.
	s, effs = step(t, s, t0, vol(65535))
	none[PlayerSetVolume](t, effs)
	published(t, effs)
	s, _ = step(t, s, t0, vol(-5))
	if s.Volume() != 0 {
		t.Fatalf("negative volume gave %d", s.Volume())
	}
	// A hardware knob: reported, not sent back to the player.
	s, effs = step(t, s, t0, LocalVolume{Volume: 12345})
	none[PlayerSetVolume](t, effs)
	if s.Volume() != 12345 || one[SaveVolume](t, effs).Volume != 12345 {
		t.Fatalf("local volume %d %v", s.Volume(), effs)
	}
	// Garbage payload: ignored.
	ns, effs := step(t, s, t0, VolumeMessage{Payload: []byte{0xff, 0xff, 0xff}})
	if len(effs) != 0 || !reflect.DeepEqual(ns, s) {
		t.Fatalf("garbage volume message changed something: %v", effs)
	}
}

func TestPlayPublishesWhatAppsRead(t *testing.T) {
	s := New(testConfig(), 1, -1)
	s, _ = step(t, s, t0, ConnectionID{ID: "c"})
	key := "k1"
	s, effs := step(t, s, t0, request(key, playCmd(albumContext(5), map[string]any{
		"skip_to":          map[string]any{"track_uid": "u2"},
		"seek_to":          5000,
		"initially_paused": true,
	})))
	replied(t, effs, key, true)
	ld := one[PlayerLoad](t, effs)
	if ld.URI != turi(2) || ld.PositionMs != 5000 || !ld.Paused || ld.PlaybackID == "" {
		t.Fatalf("load %+v", ld)
	}
	if h := one[Hook](t, effs); h.Event.Name != hooks.SessionClientChanged || h.Event.Vars["CLIENT_ID"] != phoneID {
		t.Fatalf("hook %v", h)
	}
	req := published(t, effs)
	ps := req.Device.PlayerState
	if !req.IsActive || req.LastCommandMessageId != msgIDOf(key) || req.LastCommandSentByDeviceId != phoneID {
		t.Fatalf("request %v", req)
	}
	if ps.ContextUri != albumContext(1).Uri || ps.ContextUrl == "" || ps.ContextMetadata["context_description"] != "An album" {
		t.Fatalf("context fields %v", ps)
	}
	if ps.Track.GetUri() != turi(2) || ps.Track.GetUid() != "u2" || ps.Track.GetProvider() != "context" || ps.Index.GetTrack() != 2 {
		t.Fatalf("track %v index %v", ps.Track, ps.Index)
	}
	if !ps.IsPlaying || !ps.IsPaused || !ps.IsBuffering || ps.PlaybackSpeed != 0 || ps.PositionAsOfTimestamp != 5000 || ps.Timestamp != t0.UnixMilli() {
		t.Fatalf("playback fields %v", ps)
	}
	if len(ps.PrevTracks) != 2 || len(ps.NextTracks) != 2 || ps.NextTracks[0].Uri != turi(3) || ps.PlayOrigin.GetDeviceIdentifier() != phoneID || ps.PlayOrigin.GetFeatureIdentifier() != "album" || ps.SessionId == "" || ps.PlaybackId != ld.PlaybackID {
		t.Fatalf("lists/session %v", ps)
	}
	// Started (paused), then resumed: speed 1, position moves.
	s, effs = step(t, s, t0.Add(time.Second), TrackStarted{PlaybackID: ld.PlaybackID, PositionMs: 5000, DurationMs: 180000})
	ps = published(t, effs).Device.PlayerState
	if ps.IsBuffering || ps.Duration != 180000 || ps.PlaybackSpeed != 0 {
		t.Fatalf("started %v", ps)
	}
	s, effs = step(t, s, t0.Add(2*time.Second), request("k2", map[string]any{"endpoint": "resume"}))
	replied(t, effs, "k2", true)
	one[PlayerResume](t, effs)
	ps = published(t, effs).Device.PlayerState
	if ps.PlaybackSpeed != 1 || ps.IsPaused {
		t.Fatalf("resumed %v", ps)
	}
	if got := s.PlayerState(t0.Add(12 * time.Second).UnixMilli()).PositionAsOfTimestamp; got != 15000 {
		t.Fatalf("position 10 s after resume = %d, want 15000", got)
	}
}

// TestCommands runs every command on a playing state.
func TestCommands(t *testing.T) {
	at := t0.Add(10 * time.Second) // 10 s into track 0
	cases := []struct {
		name  string
		cmd   map[string]any
		check func(t *testing.T, s State, effs []Effect)
	}{
		{"pause", map[string]any{"endpoint": "pause"}, func(t *testing.T, s State, effs []Effect) {
			one[PlayerPause](t, effs)
			ps := published(t, effs).Device.PlayerState
			if !ps.IsPaused || ps.PlaybackSpeed != 0 || ps.PositionAsOfTimestamp != 10000 {
				t.Fatalf("%v", ps)
			}
		}},
		{"resume while playing", map[string]any{"endpoint": "resume"}, func(t *testing.T, s State, effs []Effect) {
			none[PlayerResume](t, effs)
		}},
		{"seek value", map[string]any{"endpoint": "seek_to", "value": 42000}, func(t *testing.T, s State, effs []Effect) {
			if one[PlayerSeek](t, effs).PositionMs != 42000 || published(t, effs).Device.PlayerState.PositionAsOfTimestamp != 42000 {
				t.Fatal(effs)
			}
		}},
		{"seek beginning", map[string]any{"endpoint": "seek_to", "position": 7000, "relative": "beginning"}, func(t *testing.T, s State, effs []Effect) {
			if one[PlayerSeek](t, effs).PositionMs != 7000 {
				t.Fatal(effs)
			}
		}},
		{"seek current", map[string]any{"endpoint": "seek_to", "position": 5000, "relative": "current"}, func(t *testing.T, s State, effs []Effect) {
			if one[PlayerSeek](t, effs).PositionMs != 15000 {
				t.Fatal(effs)
			}
		}},
		{"seek past the end is clamped", map[string]any{"endpoint": "seek_to", "value": 999999}, func(t *testing.T, s State, effs []Effect) {
			if one[PlayerSeek](t, effs).PositionMs != 200000 {
				t.Fatal(effs)
			}
		}},
		{"skip_next", map[string]any{"endpoint": "skip_next"}, func(t *testing.T, s State, effs []Effect) {
			if one[PlayerLoad](t, effs).URI != turi(1) || published(t, effs).Device.PlayerState.Index.GetTrack() != 1 {
				t.Fatal(effs)
			}
		}},
		{"skip_next to a track", map[string]any{"endpoint": "skip_next", "track": map[string]any{"uri": turi(3), "uid": "u3"}}, func(t *testing.T, s State, effs []Effect) {
			ps := published(t, effs).Device.PlayerState
			if one[PlayerLoad](t, effs).URI != turi(3) || ps.Index.GetTrack() != 3 || len(ps.PrevTracks) != 3 {
				t.Fatal(ps)
			}
		}},
		{"skip_prev at the start restarts", map[string]any{"endpoint": "skip_prev"}, func(t *testing.T, s State, effs []Effect) {
			if one[PlayerSeek](t, effs).PositionMs != 0 {
				t.Fatal(effs)
			}
		}},
		{"shuffle on", map[string]any{"endpoint": "set_shuffling_context", "value": true}, func(t *testing.T, s State, effs []Effect) {
			ps := published(t, effs).Device.PlayerState
			if h := one[Hook](t, effs); h.Event.Name != hooks.ShuffleChanged || h.Event.Vars["SHUFFLE"] != "true" || !ps.Options.ShufflingContext {
				t.Fatal(effs)
			}
			if ps.Track.Uri != turi(0) || len(ps.NextTracks) != 4 {
				t.Fatal(ps)
			}
		}},
		{"repeat context", map[string]any{"endpoint": "set_repeating_context", "value": true}, func(t *testing.T, s State, effs []Effect) {
			if h := one[Hook](t, effs); h.Event.Name != hooks.RepeatChanged || !published(t, effs).Device.PlayerState.Options.RepeatingContext {
				t.Fatal(effs)
			}
		}},
		{"repeat track", map[string]any{"endpoint": "set_repeating_track", "value": true}, func(t *testing.T, s State, effs []Effect) {
			if !published(t, effs).Device.PlayerState.Options.RepeatingTrack {
				t.Fatal(effs)
			}
		}},
		{"set_options", map[string]any{"endpoint": "set_options", "repeating_context": true, "shuffling_context": true}, func(t *testing.T, s State, effs []Effect) {
			o := published(t, effs).Device.PlayerState.Options
			if !o.RepeatingContext || !o.ShufflingContext || o.RepeatingTrack {
				t.Fatal(o)
			}
		}},
		{"add_to_queue", map[string]any{"endpoint": "add_to_queue", "track": map[string]any{"uri": turi(50)}}, func(t *testing.T, s State, effs []Effect) {
			nt := published(t, effs).Device.PlayerState.NextTracks
			if nt[0].Uri != turi(50) || nt[0].Provider != "queue" || nt[0].Uid != "q1" || nt[0].Metadata["is_queued"] != "true" || nt[1].Uri != turi(1) {
				t.Fatal(nt)
			}
		}},
		{"set_queue", map[string]any{"endpoint": "set_queue", "next_tracks": []map[string]any{
			{"uri": turi(60), "uid": "q7", "metadata": map[string]string{"is_queued": "true"}},
			{"uri": turi(61), "provider": "queue"},
			{"uri": turi(1), "uid": "u1", "provider": "context"},
		}}, func(t *testing.T, s State, effs []Effect) {
			nt := published(t, effs).Device.PlayerState.NextTracks
			if len(nt) != 6 || nt[0].Uri != turi(60) || nt[0].Uid != "q7" || nt[1].Uri != turi(61) || nt[1].Uid != "q8" || nt[2].Uri != turi(1) {
				t.Fatal(nt)
			}
		}},
		{"set_queue empty clears", map[string]any{"endpoint": "set_queue", "next_tracks": []any{}}, func(t *testing.T, s State, effs []Effect) {
			if len(s.queue) != 0 {
				t.Fatal(s.queue)
			}
		}},
		{"update_context", map[string]any{"endpoint": "update_context", "context": map[string]any{
			"uri": albumContext(1).Uri, "metadata": map[string]string{"extra": "x"},
			"restrictions": map[string]any{"disallow_skipping_prev_reasons": []string{"r"}},
		}}, func(t *testing.T, s State, effs []Effect) {
			ps := published(t, effs).Device.PlayerState
			if ps.ContextMetadata["extra"] != "x" || ps.ContextMetadata["context_description"] != "An album" || len(ps.ContextRestrictions.GetDisallowSkippingPrevReasons()) != 1 {
				t.Fatal(ps)
			}
		}},
		{"update_context of another context", map[string]any{"endpoint": "update_context", "context": map[string]any{"uri": "spotify:playlist:" + id22(5), "metadata": map[string]string{"extra": "x"}}}, func(t *testing.T, s State, effs []Effect) {
			if published(t, effs).Device.PlayerState.ContextMetadata["extra"] != "" {
				t.Fatal("metadata of another context merged")
			}
		}},
		{"transfer with empty data", map[string]any{"endpoint": "transfer"}, func(t *testing.T, s State, effs []Effect) {
			none[PlayerLoad](t, effs)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := playing(t, 5)
			ns, effs := step(t, s, at, request("key-"+tc.name, tc.cmd))
			replied(t, effs, "key-"+tc.name, true)
			if r := published(t, effs); r.LastCommandMessageId != msgIDOf("key-"+tc.name) {
				t.Fatalf("last_command_message_id %d", r.LastCommandMessageId)
			}
			tc.check(t, ns, effs)
		})
	}
}

// TestMalformed: every malformed command is refused and changes nothing.
func TestMalformed(t *testing.T) {
	raw := func(key, s string) Request { return Request{Key: key, Payload: []byte(s)} }
	bad := []Request{
		raw("empty", ``),
		raw("not json", `{{{`),
		raw("no command", `{"message_id":1}`),
		raw("command null", `{"command":null}`),
		raw("no endpoint", `{"command":{}}`),
		raw("unknown endpoint", `{"command":{"endpoint":"set_sleep_timer"}}`),
		raw("wrong types", `{"message_id":"x","command":{"endpoint":"pause"}}`),
		request("shuffle no value", map[string]any{"endpoint": "set_shuffling_context"}),
		request("shuffle string value", map[string]any{"endpoint": "set_shuffling_context", "value": "yes"}),
		request("repeat ctx no value", map[string]any{"endpoint": "set_repeating_context"}),
		request("repeat track null", map[string]any{"endpoint": "set_repeating_track", "value": nil}),
		request("seek no value", map[string]any{"endpoint": "seek_to"}),
		request("seek bool", map[string]any{"endpoint": "seek_to", "value": true}),
		request("seek bad relative", map[string]any{"endpoint": "seek_to", "position": 1, "relative": "end"}),
		request("play no context", map[string]any{"endpoint": "play", "play_origin": map[string]any{}}),
		request("play no play_origin", map[string]any{"endpoint": "play", "context": albumContext(2)}),
		request("play bad context uri", playCmd(&connectpb.Context{Uri: "http://evil"}, nil)),
		request("play empty context", playCmd(&connectpb.Context{}, nil)),
		request("play bad skip uri", playCmd(albumContext(2), map[string]any{"skip_to": map[string]any{"track_uri": "spotify:track:short"}})),
		request("play negative index", playCmd(albumContext(2), map[string]any{"skip_to": map[string]any{"track_index": -1}})),
		request("transfer garbage", map[string]any{"endpoint": "transfer", "data": []byte{0xff, 0x01, 0x02}}),
		request("transfer no context", transferCmd(&connectpb.TransferState{Playback: &connectpb.Playback{}}, nil)),
		request("transfer bad track", transferCmd(&connectpb.TransferState{
			CurrentSession: &connectpb.Session{Context: albumContext(2)},
			Playback:       &connectpb.Playback{CurrentTrack: &connectpb.ContextTrack{Uri: "spotify:track:x"}},
		}, nil)),
		request("transfer bad queue", transferCmd(&connectpb.TransferState{
			CurrentSession: &connectpb.Session{Context: albumContext(2)},
			Queue:          &connectpb.Queue{Tracks: []*connectpb.ContextTrack{{Uri: "nope"}}},
		}, nil)),
		request("add_to_queue no track", map[string]any{"endpoint": "add_to_queue"}),
		request("add_to_queue bad uri", map[string]any{"endpoint": "add_to_queue", "track": map[string]any{"uri": "spotify:album:" + id22(1)}}),
		request("set_queue missing", map[string]any{"endpoint": "set_queue"}),
		request("set_queue bad uri", map[string]any{"endpoint": "set_queue", "next_tracks": []map[string]any{{"uri": "x", "provider": "queue"}}}),
		request("update_context missing", map[string]any{"endpoint": "update_context"}),
		request("update_context bad uri", map[string]any{"endpoint": "update_context", "context": map[string]any{"uri": "bad uri"}}),
		request("skip_next bad track", map[string]any{"endpoint": "skip_next", "track": map[string]any{"uri": "spotify:track:!"}}),
		request("skip_next unknown track", map[string]any{"endpoint": "skip_next", "track": map[string]any{"uri": turi(777)}}),
		request("skip_next empty track", map[string]any{"endpoint": "skip_next", "track": map[string]any{}}),
	}
	fixtures := map[string]State{
		"idle":    New(testConfig(), 1, -1),
		"playing": playing(t, 4),
	}
	for fname, s := range fixtures {
		for _, req := range bad {
			t.Run(fname+"/"+req.Key, func(t *testing.T) {
				before := s.Clone()
				ns, effs := step(t, s, t0.Add(time.Second), req)
				replied(t, effs, req.Key, false)
				if len(effs) != 1 {
					t.Fatalf("a refused command has effects: %v", effs)
				}
				if !reflect.DeepEqual(ns, before) {
					t.Fatal("a refused command changed the state")
				}
				at := t0.Add(time.Second).UnixMilli()
				if !proto.Equal(ns.PutState(at, 4), before.PutState(at, 4)) {
					t.Fatal("published state differs")
				}
			})
		}
	}
	// Commands that need something playing are refused when idle.
	idle := New(testConfig(), 1, -1)
	for _, ep := range []string{"pause", "resume", "skip_next", "skip_prev"} {
		_, effs := step(t, idle, t0, request(ep, map[string]any{"endpoint": ep}))
		replied(t, effs, ep, false)
	}
	_, effs := step(t, idle, t0, request("seek", map[string]any{"endpoint": "seek_to", "value": 1}))
	replied(t, effs, "seek", false)
}

func transferState(paused bool, pos int32, ts time.Time, cur int) *connectpb.TransferState {
	return &connectpb.TransferState{
		Options: &connectpb.ContextPlayerOptions{RepeatingContext: true},
		Playback: &connectpb.Playback{
			Timestamp: ts.UnixMilli(), PositionAsOfTimestamp: pos, IsPaused: paused, PlaybackSpeed: 1,
			CurrentTrack: &connectpb.ContextTrack{Uri: turi(cur), Uid: "u" + string(rune('0'+cur))},
		},
		CurrentSession: &connectpb.Session{
			PlayOrigin:        &connectpb.PlayOrigin{FeatureIdentifier: "playlist"},
			Context:           albumContext(5),
			CurrentUid:        "u" + string(rune('0'+cur)),
			OriginalSessionId: proto.String("sess-1"),
		},
	}
}

func TestTransfer(t *testing.T) {
	base := New(testConfig(), 1, -1)
	base, _ = step(t, base, t0, ConnectionID{ID: "c"})
	now := t0.Add(time.Minute)
	cases := []struct {
		name   string
		ts     *connectpb.TransferState
		opts   map[string]any
		pos    int64
		paused bool
	}{
		{"playing: position advanced by now-timestamp", transferState(false, 10000, now.Add(-3*time.Second), 2), nil, 13000, false},
		{"paused: position as is", transferState(true, 10000, now.Add(-3*time.Second), 2), nil, 10000, true},
		{"restore_paused resume", transferState(true, 10000, now.Add(-3*time.Second), 2), map[string]any{"restore_paused": "resume"}, 10000, false},
		{"restore_paused pause", transferState(false, 10000, now, 2), map[string]any{"restore_paused": "pause"}, 10000, true},
		{"restore_position beginning", transferState(false, 10000, now.Add(-time.Second), 2), map[string]any{"restore_position": "beginning"}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, effs := step(t, base, now, request("tr", transferCmd(tc.ts, tc.opts)))
			replied(t, effs, "tr", true)
			ld := one[PlayerLoad](t, effs)
			if ld.URI != turi(2) || ld.PositionMs != tc.pos || ld.Paused != tc.paused {
				t.Fatalf("load %+v, want pos %d paused %v", ld, tc.pos, tc.paused)
			}
			req := published(t, effs)
			ps := req.Device.PlayerState
			if !req.IsActive || ps.SessionId != "sess-1" || !ps.Options.RepeatingContext || ps.PlayOrigin.DeviceIdentifier != phoneID || ps.PlayOrigin.FeatureIdentifier != "playlist" || ps.Index.GetTrack() != 2 {
				t.Fatalf("%v", req)
			}
			// Duration known at start: a position past it is clamped.
			s, _ = step(t, s, now, TrackStarted{PlaybackID: ld.PlaybackID, PositionMs: tc.pos, DurationMs: 5000})
			if p := s.PlayerState(now.UnixMilli()).PositionAsOfTimestamp; p > 5000 {
				t.Fatalf("position %d past the duration", p)
			}
		})
	}
	t.Run("without play_origin or options", func(t *testing.T) {
		ts := transferState(false, 0, now, 1)
		ts.CurrentSession.PlayOrigin = nil
		ts.Options = nil
		_, effs := step(t, base, now, request("tr", transferCmd(ts, nil)))
		replied(t, effs, "tr", true)
		if po := published(t, effs).Device.PlayerState.PlayOrigin; po.GetDeviceIdentifier() != phoneID {
			t.Fatal(po)
		}
	})
	t.Run("current track not in the context", func(t *testing.T) {
		ts := transferState(false, 4000, now, 1)
		ts.Playback.CurrentTrack = &connectpb.ContextTrack{Uri: turi(444)}
		ts.CurrentSession.CurrentUid = ""
		_, effs := step(t, base, now, request("tr", transferCmd(ts, nil)))
		if ld := one[PlayerLoad](t, effs); ld.URI != turi(444) || ld.PositionMs != 4000 {
			t.Fatal(ld)
		}
		if nt := published(t, effs).Device.PlayerState.NextTracks; nt[0].Uri != turi(0) {
			t.Fatal(nt)
		}
	})
	t.Run("clamped to the duration in metadata", func(t *testing.T) {
		ts := transferState(false, 10000, now.Add(-time.Hour), 1)
		ts.Playback.CurrentTrack.Metadata = map[string]string{"duration": "120000"}
		_, effs := step(t, base, now, request("tr", transferCmd(ts, nil)))
		if ld := one[PlayerLoad](t, effs); ld.PositionMs != 120000 {
			t.Fatalf("position %d", ld.PositionMs)
		}
	})
	t.Run("queue and is_playing_queue", func(t *testing.T) {
		ts := transferState(false, 0, now, 1)
		ts.Queue = &connectpb.Queue{IsPlayingQueue: true, Tracks: []*connectpb.ContextTrack{{Uri: turi(70), Uid: "q4"}, {Uri: turi(71)}}}
		s, effs := step(t, base, now, request("tr", transferCmd(ts, nil)))
		if ld := one[PlayerLoad](t, effs); ld.URI != turi(70) {
			t.Fatalf("load %v", ld)
		}
		ps := published(t, effs).Device.PlayerState
		if ps.Track.Provider != "queue" || ps.Index != nil || ps.NextTracks[0].Uri != turi(71) || ps.NextTracks[0].Uid != "q5" || ps.NextTracks[1].Uri != turi(2) {
			t.Fatalf("%v", ps)
		}
		_ = s
	})
	t.Run("context resolved first, claimed early", func(t *testing.T) {
		ts := transferState(false, 0, now, 3)
		ts.CurrentSession.Context = &connectpb.Context{Uri: "spotify:playlist:" + id22(1), Metadata: map[string]string{"mine": "1"}}
		s, effs := step(t, base, now, request("tr", transferCmd(ts, nil)))
		replied(t, effs, "tr", true)
		none[PlayerLoad](t, effs)
		lc := one[LoadContext](t, effs)
		ps := published(t, effs).Device.PlayerState
		if lc.URI != "spotify:playlist:"+id22(1) || !ps.IsBuffering || ps.Track.GetUri() != turi(3) {
			t.Fatalf("%v %v", lc, ps)
		}
		resolved := albumContext(5)
		resolved.Uri = lc.URI
		resolved.Metadata = map[string]string{"mine": "theirs", "other": "2"}
		s, effs = step(t, s, now, ContextLoaded{ID: lc.ID, Context: resolved})
		if ld := one[PlayerLoad](t, effs); ld.URI != turi(3) {
			t.Fatalf("load %v", ld)
		}
		md := published(t, effs).Device.PlayerState.ContextMetadata
		if md["mine"] != "1" || md["other"] != "2" {
			t.Fatalf("merged metadata %v", md)
		}
		// A late duplicate result is ignored.
		ns, effs := step(t, s, now, ContextLoaded{ID: lc.ID, Context: resolved})
		if len(effs) != 0 || !reflect.DeepEqual(ns, s) {
			t.Fatal("stale load result acted on")
		}
	})
	t.Run("resolve failure stops", func(t *testing.T) {
		ts := transferState(false, 0, now, 3)
		ts.CurrentSession.Context = &connectpb.Context{Uri: "spotify:playlist:" + id22(1)}
		s, effs := step(t, base, now, request("tr", transferCmd(ts, nil)))
		lc := one[LoadContext](t, effs)
		s, effs = step(t, s, now, ContextLoaded{ID: lc.ID, Err: errors.New("404")})
		one[PlayerStop](t, effs)
		one[AmplifierIdle](t, effs)
		if ps := published(t, effs).Device.PlayerState; ps.IsPlaying {
			t.Fatal(ps)
		}
		_ = s
	})
}

func TestQueueOrder(t *testing.T) {
	s := playing(t, 3)
	for i, n := range []int{90, 91, 92} {
		var effs []Effect
		s, effs = step(t, s, t0, request("q", map[string]any{"endpoint": "add_to_queue", "track": map[string]any{"uri": turi(n)}}))
		replied(t, effs, "q", true)
		_ = i
	}
	nt := s.PlayerState(t0.UnixMilli()).NextTracks
	want := []string{turi(90), turi(91), turi(92), turi(1), turi(2)}
	var got []string
	for _, x := range nt {
		got = append(got, x.Uri)
	}
	if !slices.Equal(got, want) || nt[0].Uid != "q1" || nt[2].Uid != "q3" {
		t.Fatalf("next tracks %v", got)
	}
	// The queue plays first, in order, then the context continues after
	// the track that was playing.
	var order []string
	for range 5 {
		pid := s.playbackID
		var effs []Effect
		s, effs = step(t, s, t0, TrackEnded{PlaybackID: pid})
		order = append(order, one[PlayerLoad](t, effs).URI)
	}
	if !slices.Equal(order, want) {
		t.Fatalf("played %v, want %v", order, want)
	}
	// Skip to a queued track drops those before it.
	s = playing(t, 3)
	for _, n := range []int{90, 91, 92} {
		s, _ = step(t, s, t0, request("q", map[string]any{"endpoint": "add_to_queue", "track": map[string]any{"uri": turi(n)}}))
	}
	s, effs := step(t, s, t0, request("sk", map[string]any{"endpoint": "skip_next", "track": map[string]any{"uri": turi(91), "uid": "q2"}}))
	if one[PlayerLoad](t, effs).URI != turi(91) || len(s.queue) != 1 || s.queue[0].uri != turi(92) {
		t.Fatalf("queue after skip %v", s.queue)
	}
	// skip_prev from a queued track goes back to the context track.
	_, effs = step(t, s, t0, request("sp", map[string]any{"endpoint": "skip_prev"}))
	if one[PlayerLoad](t, effs).URI != turi(0) {
		t.Fatal(effs)
	}
	// The queue is bounded.
	cfg := testConfig()
	cfg.MaxQueue = 2
	s = New(cfg, 1, -1)
	for i := range 3 {
		var effs []Effect
		s, effs = step(t, s, t0, request("q", map[string]any{"endpoint": "add_to_queue", "track": map[string]any{"uri": turi(i)}}))
		replied(t, effs, "q", i < 2)
	}
}

func TestShuffleUnshuffle(t *testing.T) {
	s := playing(t, 50)
	// Move to track 7 first.
	s, _ = step(t, s, t0, request("sk", map[string]any{"endpoint": "skip_next", "track": map[string]any{"uri": turi(7)}}))
	s, effs := step(t, s, t0, request("sh", map[string]any{"endpoint": "set_shuffling_context", "value": true}))
	replied(t, effs, "sh", true)
	none[PlayerLoad](t, effs) // the current track keeps playing
	if s.ctx.at(s.ctx.pos).uri != turi(7) || s.ctx.pos != 0 {
		t.Fatalf("current track lost by shuffle: pos %d", s.ctx.pos)
	}
	ident := true
	for i, x := range s.ctx.order {
		if i > 0 && x != i-1+boolInt(i-1 >= 7) {
			ident = false
		}
	}
	if ident {
		t.Fatal("shuffle left the order as it was")
	}
	// Play a few shuffled tracks, then unshuffle: context order resumes
	// after the current track.
	for range 3 {
		s, _ = step(t, s, t0, TrackEnded{PlaybackID: s.playbackID})
	}
	cur := s.cur.uri
	s, effs = step(t, s, t0, request("un", map[string]any{"endpoint": "set_shuffling_context", "value": false}))
	replied(t, effs, "un", true)
	ps := published(t, effs).Device.PlayerState
	if ps.Track.Uri != cur || s.ctx.order != nil {
		t.Fatalf("unshuffle lost the current track")
	}
	idx := int(ps.Index.Track)
	if ps.NextTracks[0].Uri != turi(idx+1) || ps.NextTracks[1].Uri != turi(idx+2) || len(ps.PrevTracks) != min(idx, 32) {
		t.Fatalf("after unshuffle at %d: next %v", idx, ps.NextTracks[:2])
	}
	// Same seed, same shuffle: the machine is deterministic.
	a, _ := step(t, playing(t, 50), t0, request("sh", map[string]any{"endpoint": "set_shuffling_context", "value": true}))
	b, _ := step(t, playing(t, 50), t0, request("sh", map[string]any{"endpoint": "set_shuffling_context", "value": true}))
	if !slices.Equal(a.ctx.order, b.ctx.order) {
		t.Fatal("shuffle not deterministic for one seed")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRepeat(t *testing.T) {
	s := playing(t, 2)
	s, _ = step(t, s, t0, request("rt", map[string]any{"endpoint": "set_repeating_track", "value": true}))
	s, effs := step(t, s, t0, TrackEnded{PlaybackID: s.playbackID})
	if one[PlayerLoad](t, effs).URI != turi(0) {
		t.Fatal("repeat track did not replay")
	}
	// skip_next ignores repeat-track.
	s, effs = step(t, s, t0, request("n", map[string]any{"endpoint": "skip_next"}))
	if one[PlayerLoad](t, effs).URI != turi(1) {
		t.Fatal(effs)
	}
	s, _ = step(t, s, t0, request("o", map[string]any{"endpoint": "set_options", "repeating_track": false, "repeating_context": true}))
	s, effs = step(t, s, t0, TrackEnded{PlaybackID: s.playbackID})
	if one[PlayerLoad](t, effs).URI != turi(0) {
		t.Fatal("repeat context did not wrap")
	}
	// skip_prev at the first track with repeat context goes to the last.
	_, effs = step(t, s, t0, request("p", map[string]any{"endpoint": "skip_prev"}))
	if one[PlayerLoad](t, effs).URI != turi(1) {
		t.Fatal(effs)
	}
}

func TestSkipPrevAllowSeeking(t *testing.T) {
	s := playing(t, 3)
	s, _ = step(t, s, t0, request("n", map[string]any{"endpoint": "skip_next"}))
	s, _ = step(t, s, t0, TrackStarted{PlaybackID: s.playbackID, DurationMs: 100000})
	prev := map[string]any{"endpoint": "skip_prev", "options": map[string]any{"allow_seeking": true}}
	// More than 3 s in: back to 0 of the same track.
	_, effs := step(t, s, t0.Add(5*time.Second), request("p", prev))
	none[PlayerLoad](t, effs)
	if one[PlayerSeek](t, effs).PositionMs != 0 {
		t.Fatal(effs)
	}
	// Within 3 s: the previous track.
	_, effs = step(t, s, t0.Add(2*time.Second), request("p", prev))
	if one[PlayerLoad](t, effs).URI != turi(0) {
		t.Fatal(effs)
	}
	// Not allowed to seek: previous track even late.
	_, effs = step(t, s, t0.Add(50*time.Second), request("p", map[string]any{"endpoint": "skip_prev"}))
	if one[PlayerLoad](t, effs).URI != turi(0) {
		t.Fatal(effs)
	}
}

func cluster(active string, ts time.Time) ClusterMessage {
	b, _ := proto.Marshal(&connectpb.ClusterUpdate{Cluster: &connectpb.Cluster{
		ActiveDeviceId: active,
		PlayerState:    &connectpb.PlayerState{Timestamp: ts.UnixMilli()},
		Device:         map[string]*connectpb.DeviceInfo{phoneID: {Name: "Phone"}},
	}})
	return ClusterMessage{Payload: b}
}

func TestTakeover(t *testing.T) {
	base := New(testConfig(), 1, -1)
	base, _ = step(t, base, t0, ConnectionID{ID: "c"})
	now := t0.Add(time.Minute)
	tts := now.Add(-time.Second)
	s, _ := step(t, base, now, request("tr", transferCmd(transferState(false, 0, tts, 1), nil)))

	// Stale: still shows the old device, older than our transfer.
	ns, effs := step(t, s, now, cluster(phoneID, tts.Add(-time.Second)))
	if len(effs) != 0 || !ns.Active() {
		t.Fatalf("stale cluster update acted on: %v", effs)
	}
	// Ourselves active: nothing.
	ns, effs = step(t, ns, now, cluster(ownID, now))
	if len(effs) != 0 || !ns.Active() {
		t.Fatal(effs)
	}
	// Empty or garbage: nothing.
	if _, effs = step(t, ns, now, ClusterMessage{Payload: []byte{0xff}}); len(effs) != 0 {
		t.Fatal(effs)
	}
	if _, effs = step(t, ns, now, cluster("", now)); len(effs) != 0 {
		t.Fatal(effs)
	}
	// Newer and another device: stop, inactive, amplifier idle.
	ns, effs = step(t, ns, now.Add(time.Second), cluster("other-device", now.Add(time.Second)))
	one[PlayerStop](t, effs)
	one[AmplifierIdle](t, effs)
	if pi := one[PublishInactive](t, effs); pi.ConnectionID != "c" {
		t.Fatal(pi)
	}
	none[Publish](t, effs)
	if ns.Active() || ns.PutState(now.UnixMilli(), 4).IsActive {
		t.Fatal("still active")
	}
	// Player events of the old track are ignored now.
	if _, effs = step(t, ns, now, TrackEnded{PlaybackID: s.playbackID}); len(effs) != 0 {
		t.Fatal(effs)
	}
	// And further cluster updates do nothing.
	if _, effs = step(t, ns, now.Add(2*time.Second), cluster("other-device", now.Add(2*time.Second))); len(effs) != 0 {
		t.Fatal(effs)
	}
}

func TestLogoutAndShutdown(t *testing.T) {
	s := playing(t, 2)
	ns, effs := step(t, s, t0, LogoutMessage{})
	one[PlayerStop](t, effs)
	one[PublishInactive](t, effs)
	one[Logout](t, effs)
	one[AmplifierIdle](t, effs)
	if ns.Active() {
		t.Fatal("active after logout")
	}
	_, effs = step(t, s, t0, Shutdown{})
	one[PublishInactive](t, effs)
	one[PlayerStop](t, effs)
}

// pagedContext: page 0 inline (tracks 0..2), page 1 by URL (3..5), then
// next_page_url (6..8).
func pagedContext() *connectpb.Context {
	return &connectpb.Context{
		Uri: "spotify:playlist:" + id22(42),
		Pages: []*connectpb.ContextPage{
			{Tracks: ctxTracks(0, 3)},
			{PageUrl: "hm://context-resolve/v1/page1?x=1", NextPageUrl: "hm://context-resolve/v1/page2"},
		},
	}
}

func TestLazyPages(t *testing.T) {
	s := New(testConfig(), 1, -1)
	s, _ = step(t, s, t0, ConnectionID{ID: "c"})
	s, effs := step(t, s, t0, request("p", playCmd(pagedContext(), nil)))
	replied(t, effs, "p", true)
	none[LoadPage](t, effs) // nothing loaded before it is needed
	for range 2 {
		s, _ = step(t, s, t0, TrackEnded{PlaybackID: s.playbackID})
	}
	s, effs = step(t, s, t0, TrackEnded{PlaybackID: s.playbackID})
	lp := one[LoadPage](t, effs)
	if lp.URL != "hm://context-resolve/v1/page1?x=1" {
		t.Fatal(lp)
	}
	s, effs = step(t, s, t0, PageLoaded{ID: lp.ID, Page: &connectpb.ContextPage{Tracks: ctxTracks(3, 6)}})
	if ld := one[PlayerLoad](t, effs); ld.URI != turi(3) {
		t.Fatal(ld)
	}
	if ix := published(t, effs).Device.PlayerState.Index; ix.Page != 1 || ix.Track != 0 {
		t.Fatalf("index %v", ix)
	}
	for range 2 {
		s, _ = step(t, s, t0, TrackEnded{PlaybackID: s.playbackID})
	}
	s, effs = step(t, s, t0, TrackEnded{PlaybackID: s.playbackID})
	lp = one[LoadPage](t, effs)
	if lp.URL != "hm://context-resolve/v1/page2" {
		t.Fatal(lp)
	}
	// The page fails: end of context (autoplay, as the app's default).
	s, effs = step(t, s, t0, PageLoaded{ID: lp.ID, Err: errors.New("503")})
	la := one[LoadAutoplay](t, effs)
	if la.Request.GetContextUri() != "spotify:playlist:"+id22(42) || len(la.Request.RecentTrackUri) != 6 {
		t.Fatal(la.Request)
	}

	t.Run("skip_to walks pages", func(t *testing.T) {
		s := New(testConfig(), 1, -1)
		s, effs := step(t, s, t0, request("p", playCmd(pagedContext(), map[string]any{"skip_to": map[string]any{"track_uri": turi(7)}})))
		lp := one[LoadPage](t, effs)
		s, effs = step(t, s, t0, PageLoaded{ID: lp.ID, Page: &connectpb.ContextPage{Tracks: ctxTracks(3, 6)}})
		lp = one[LoadPage](t, effs)
		s, effs = step(t, s, t0, PageLoaded{ID: lp.ID, Page: &connectpb.ContextPage{Tracks: ctxTracks(6, 9)}})
		if ld := one[PlayerLoad](t, effs); ld.URI != turi(7) {
			t.Fatal(ld)
		}
		if ix := published(t, effs).Device.PlayerState.Index; ix.Page != 2 || ix.Track != 1 {
			t.Fatalf("index %v", ix)
		}
		_ = s
	})
	t.Run("walk bounded in pages", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxWalkPages = 3
		s := New(cfg, 1, -1)
		s, effs := step(t, s, t0, request("p", playCmd(pagedContext(), map[string]any{"skip_to": map[string]any{"track_uri": turi(500)}})))
		for i := 0; ; i++ {
			lp := of[LoadPage](effs)
			if len(lp) == 0 {
				break
			}
			if i >= 3 {
				t.Fatal("walk went past its page bound")
			}
			// An endless chain of pages.
			s, effs = step(t, s, t0, PageLoaded{ID: lp[0].ID, Page: &connectpb.ContextPage{Tracks: ctxTracks(10+i, 11+i), NextPageUrl: "hm://more"}})
		}
		// Not found: the named track plays ahead of the context.
		if ld := one[PlayerLoad](t, effs); ld.URI != turi(500) {
			t.Fatalf("fallback load %v", ld)
		}
		ps := published(t, effs).Device.PlayerState
		if ps.Index != nil || ps.NextTracks[0].Uri != turi(0) {
			t.Fatalf("after a track ahead of the context: %v", ps)
		}
		s, effs = step(t, s, t0, TrackEnded{PlaybackID: s.playbackID})
		if ld := one[PlayerLoad](t, effs); ld.URI != turi(0) {
			t.Fatalf("then the context from its start: %v", ld)
		}
	})
	t.Run("no named track: the first", func(t *testing.T) {
		s := New(testConfig(), 1, -1)
		s, effs := step(t, s, t0, request("p", playCmd(pagedContext(), map[string]any{"skip_to": map[string]any{"track_index": 40}})))
		lp := one[LoadPage](t, effs)
		s, effs = step(t, s, t0, PageLoaded{ID: lp.ID, Err: errors.New("gone")})
		if ld := one[PlayerLoad](t, effs); ld.URI != turi(0) {
			t.Fatalf("fallback %v", ld)
		}
		_ = s
	})
	t.Run("walk bounded in time", func(t *testing.T) {
		s := New(testConfig(), 1, -1)
		s, effs := step(t, s, t0, request("p", playCmd(pagedContext(), map[string]any{"skip_to": map[string]any{"track_uri": turi(500)}})))
		lp := one[LoadPage](t, effs)
		s, effs = step(t, s, t0.Add(11*time.Second), PageLoaded{ID: lp.ID, Page: &connectpb.ContextPage{Tracks: ctxTracks(3, 4), NextPageUrl: "hm://more"}})
		none[LoadPage](t, effs)
		one[PlayerLoad](t, effs)
		_ = s
	})
	t.Run("load timeout on tick", func(t *testing.T) {
		s := New(testConfig(), 1, -1)
		s, effs := step(t, s, t0, request("p", playCmd(&connectpb.Context{Uri: "spotify:album:" + id22(3)}, nil)))
		one[LoadContext](t, effs)
		if !s.WantsTick() {
			t.Fatal("a pending load wants ticks")
		}
		_, effs = step(t, s, t0.Add(5*time.Second), Tick{})
		none[PlayerStop](t, effs)
		_, effs = step(t, s, t0.Add(21*time.Second), Tick{})
		one[PlayerStop](t, effs)
	})
}

func TestAutoplay(t *testing.T) {
	end := func(t *testing.T, cfg Config, app *bool) (State, []Effect) {
		s := New(cfg, 1, -1)
		if app != nil {
			s, _ = step(t, s, t0, AutoplaySetting{On: *app})
		}
		s, effs := step(t, s, t0, request("p", playCmd(albumContext(1), nil)))
		s, _ = step(t, s, t0, TrackStarted{PlaybackID: one[PlayerLoad](t, effs).PlaybackID, DurationMs: 1000})
		return step(t, s, t0, TrackEnded{PlaybackID: s.playbackID})
	}
	off, on := false, true
	t.Run("app off", func(t *testing.T) {
		_, effs := end(t, testConfig(), &off)
		none[LoadAutoplay](t, effs)
		one[PlayerStop](t, effs)
	})
	t.Run("config on overrides the app", func(t *testing.T) {
		cfg := testConfig()
		cfg.Autoplay = AutoplayOn
		_, effs := end(t, cfg, &off)
		one[LoadAutoplay](t, effs)
	})
	t.Run("config off overrides the app", func(t *testing.T) {
		cfg := testConfig()
		cfg.Autoplay = AutoplayOff
		_, effs := end(t, cfg, &on)
		none[LoadAutoplay](t, effs)
	})
	t.Run("station with and without metadata", func(t *testing.T) {
		s, effs := end(t, testConfig(), nil)
		la := one[LoadAutoplay](t, effs)
		station := &connectpb.Context{Uri: "spotify:station:album:" + id22(9999), Pages: []*connectpb.ContextPage{{Tracks: []*connectpb.ContextTrack{
			{Uri: turi(300)}, // no metadata at all
			{Uri: turi(301), Metadata: map[string]string{"artist_uri": "spotify:artist:" + id22(1)}},
			nil,
		}}}}
		s, effs = step(t, s, t0, AutoplayLoaded{ID: la.ID, Context: station})
		if ld := one[PlayerLoad](t, effs); ld.URI != turi(300) {
			t.Fatal(ld)
		}
		ps := published(t, effs).Device.PlayerState
		if ps.Track.Provider != "autoplay" || ps.Track.Metadata["autoplay.is_autoplay"] != "true" || ps.ContextUri != station.Uri {
			t.Fatal(ps)
		}
		if nt := ps.NextTracks[0]; nt.ArtistUri != "spotify:artist:"+id22(1) || nt.Metadata["autoplay.is_autoplay"] != "true" {
			t.Fatal(nt)
		}
		if station.Pages[0].Tracks[0].Metadata != nil {
			t.Fatal("the load result was modified")
		}
		// A station's end does not ask for more autoplay.
		s, _ = step(t, s, t0, TrackEnded{PlaybackID: s.playbackID})
		_, effs = step(t, s, t0, TrackEnded{PlaybackID: s.playbackID})
		none[LoadAutoplay](t, effs)
		one[PlayerStop](t, effs)
	})
	t.Run("failure stops", func(t *testing.T) {
		s, effs := end(t, testConfig(), nil)
		la := one[LoadAutoplay](t, effs)
		_, effs = step(t, s, t0, AutoplayLoaded{ID: la.ID, Err: errors.New("404")})
		one[AmplifierIdle](t, effs)
		if ps := published(t, effs).Device.PlayerState; ps.IsPlaying || ps.PlaybackSpeed != 0 {
			t.Fatal(ps)
		}
	})
	t.Run("setting change hook", func(t *testing.T) {
		s := New(testConfig(), 1, -1)
		_, effs := step(t, s, t0, AutoplaySetting{On: false})
		if h := one[Hook](t, effs); h.Event.Name != hooks.AutoPlayChanged || h.Event.Vars["AUTO_PLAY"] != "false" {
			t.Fatal(h)
		}
	})
}

func TestPlayerEventsAndPrefetch(t *testing.T) {
	s := playing(t, 3) // 200 s track
	// Stale playback ids are ignored.
	if _, effs := step(t, s, t0, TrackEnded{PlaybackID: "old"}); len(effs) != 0 {
		t.Fatal(effs)
	}
	// Prefetch 30 s before the end, once.
	_, effs := step(t, s, t0.Add(100*time.Second), Tick{})
	none[PlayerPrefetch](t, effs)
	s, effs = step(t, s, t0.Add(171*time.Second), Tick{})
	if p := one[PlayerPrefetch](t, effs); p.URI != turi(1) {
		t.Fatal(p)
	}
	_, effs = step(t, s, t0.Add(172*time.Second), Tick{})
	none[PlayerPrefetch](t, effs)
	// A queue change re-targets the prefetch.
	s, _ = step(t, s, t0.Add(172*time.Second), request("q", map[string]any{"endpoint": "add_to_queue", "track": map[string]any{"uri": turi(88)}}))
	_, effs = step(t, s, t0.Add(173*time.Second), Tick{})
	if p := one[PlayerPrefetch](t, effs); p.URI != turi(88) {
		t.Fatal(p)
	}
	// Unplayable tracks are skipped, and too many in a row stop.
	cfg := testConfig()
	cfg.MaxFailures = 2
	s = New(cfg, 1, -1)
	s, effs = step(t, s, t0, request("p", playCmd(albumContext(5), nil)))
	s, effs = step(t, s, t0, TrackUnavailable{PlaybackID: one[PlayerLoad](t, effs).PlaybackID})
	if one[PlayerLoad](t, effs).URI != turi(1) {
		t.Fatal(effs)
	}
	_, effs = step(t, s, t0, TrackUnavailable{PlaybackID: s.playbackID, Reason: "audio key refused"})
	one[PlayerStop](t, effs)
	none[PlayerLoad](t, effs)
	if g := one[GaveUp](t, effs); g.Failures != 2 || g.Reason != "audio key refused" {
		t.Fatal(g)
	}
}

func TestResumeAfterTheEnd(t *testing.T) {
	cfg := testConfig()
	cfg.Autoplay = AutoplayOff
	s := New(cfg, 1, -1)
	s, effs := step(t, s, t0, request("p", playCmd(albumContext(1), nil)))
	s, effs = step(t, s, t0, TrackEnded{PlaybackID: one[PlayerLoad](t, effs).PlaybackID})
	one[PlayerStop](t, effs)
	if ps := published(t, effs).Device.PlayerState; ps.IsPlaying || ps.Track.GetUri() != turi(0) {
		t.Fatal(ps)
	}
	_, effs = step(t, s, t0, request("r", map[string]any{"endpoint": "resume"}))
	replied(t, effs, "r", true)
	if ld := one[PlayerLoad](t, effs); ld.URI != turi(0) || ld.PositionMs != 0 || ld.Paused {
		t.Fatal(ld)
	}
}
