package connect

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
)

// fuzzFixtures are the states a fuzzed command meets.
func fuzzFixtures(t testing.TB) []State {
	idle := New(testConfig(), 1, -1)
	p := playing(t, 6)
	busy := p
	busy, _ = Step(busy, Input{Now: t0, Event: request("q", map[string]any{"endpoint": "add_to_queue", "track": map[string]any{"uri": turi(77)}})})
	busy, _ = Step(busy, Input{Now: t0, Event: request("s", map[string]any{"endpoint": "set_shuffling_context", "value": true})})
	busy, _ = Step(busy, Input{Now: t0, Event: request("pa", map[string]any{"endpoint": "pause"})})
	resolving, _ := Step(idle, Input{Now: t0, Event: request("r", playCmd(&connectpb.Context{Uri: "spotify:album:" + id22(1)}, nil))})
	paged, _ := Step(idle, Input{Now: t0, Event: request("pg", playCmd(pagedContext(), nil))})
	return []State{idle, p, busy, resolving, paged}
}

func FuzzConnectCommand(f *testing.F) {
	seeds := []map[string]any{
		{"endpoint": "pause"}, {"endpoint": "resume"},
		{"endpoint": "seek_to", "value": 1000}, {"endpoint": "seek_to", "position": 10, "relative": "current"},
		{"endpoint": "skip_next"}, {"endpoint": "skip_next", "track": map[string]any{"uri": turi(3)}},
		{"endpoint": "skip_prev", "options": map[string]any{"allow_seeking": true}},
		{"endpoint": "set_shuffling_context", "value": true}, {"endpoint": "set_repeating_context", "value": false},
		{"endpoint": "set_repeating_track", "value": true}, {"endpoint": "set_options", "repeating_track": true},
		{"endpoint": "add_to_queue", "track": map[string]any{"uri": turi(9)}},
		{"endpoint": "set_queue", "next_tracks": []map[string]any{{"uri": turi(9), "provider": "queue"}}},
		{"endpoint": "update_context", "context": map[string]any{"uri": "spotify:album:" + id22(9999)}},
		playCmd(albumContext(3), map[string]any{"skip_to": map[string]any{"track_index": 1}}),
		playCmd(pagedContext(), nil),
		transferCmd(transferState(false, 1000, t0, 1), map[string]any{"restore_paused": "resume"}),
		{"endpoint": "transfer"},
	}
	for i, c := range seeds {
		b, _ := json.Marshal(map[string]any{"message_id": i, "sent_by_device_id": phoneID, "command": c})
		f.Add(uint8(i), b)
	}
	f.Add(uint8(0), []byte(`{"command":{"endpoint":"play","context":{"pages":[{"tracks":[null]}]},"play_origin":{}}}`))
	f.Add(uint8(1), []byte(`{"command":{"endpoint":"seek_to","value":1e300}}`))
	fixtures := fuzzFixtures(f)
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		s := fixtures[int(which)%len(fixtures)]
		before := s.Clone()
		ns, effs := Step(s, Input{Now: t0.Add(time.Second), Event: Request{Key: "fz", Payload: payload}})
		rs := of[Reply](effs)
		if len(rs) != 1 || rs[0].Key != "fz" {
			t.Fatalf("replies %v", rs)
		}
		if !reflect.DeepEqual(before, s) {
			t.Fatal("Step changed its input state")
		}
		if !rs[0].Success && (len(effs) != 1 || !reflect.DeepEqual(ns, before)) {
			t.Fatal("a refused command changed something")
		}
		if err := ns.check(); err != nil {
			t.Fatal(err)
		}
		// The state goes on working after whatever the command did.
		ns, effs = Step(ns, Input{Now: t0.Add(2 * time.Second), Event: Request{Key: "after", Payload: []byte(`{"command":{"endpoint":"skip_next"}}`)}})
		if len(of[Reply](effs)) != 1 {
			t.Fatal("no reply after the fuzzed command")
		}
		if err := ns.check(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzConnectMessages: protobuf messages from the dealer never panic.
func FuzzConnectMessages(f *testing.F) {
	f.Add(uint8(0), []byte{0x0a, 0x02, 0x12, 0x00})
	f.Add(uint8(1), []byte{0x08, 0x80, 0x80, 0x02})
	f.Add(uint8(2), cluster("other", t0.Add(time.Hour)).Payload)
	fixtures := fuzzFixtures(f)
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		s := fixtures[int(which)%len(fixtures)]
		var ev Event = ClusterMessage{Payload: payload}
		if which&0x80 != 0 {
			ev = VolumeMessage{Payload: payload}
		}
		ns, effs := Step(s, Input{Now: t0.Add(time.Minute), Event: ev})
		if len(of[Reply](effs)) != 0 {
			t.Fatal("a message got a reply")
		}
		if err := ns.check(); err != nil {
			t.Fatal(err)
		}
	})
}
