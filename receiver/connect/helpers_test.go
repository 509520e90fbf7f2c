package connect

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"reflect"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	"google.golang.org/protobuf/proto"
)

const (
	ownID   = "0123456789abcdef0123456789abcdef01234567"
	phoneID = "phone000000000000000000000000000000000001"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func testConfig() Config {
	return Config{DeviceID: ownID, DeviceName: "Kitchen", InitialVolume: 32768, SoftwareVersion: "speakerbox test"}
}

// id22 is a valid base62 id for n.
func id22(n int) string { return fmt.Sprintf("%022d", n) }

func turi(n int) string { return "spotify:track:" + id22(n) }

func ctxTracks(from, to int) []*connectpb.ContextTrack {
	var ts []*connectpb.ContextTrack
	for i := from; i < to; i++ {
		ts = append(ts, &connectpb.ContextTrack{Uri: turi(i), Uid: fmt.Sprintf("u%d", i)})
	}
	return ts
}

func albumContext(n int) *connectpb.Context {
	return &connectpb.Context{
		Uri:      "spotify:album:" + id22(9999),
		Url:      "context://spotify:album:" + id22(9999),
		Metadata: map[string]string{"context_description": "An album"},
		Pages:    []*connectpb.ContextPage{{Tracks: ctxTracks(0, n)}},
	}
}

// msgIDOf gives each request key its own message id.
func msgIDOf(key string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return h.Sum32()
}

func request(key string, cmd map[string]any) Request {
	b, err := json.Marshal(map[string]any{"message_id": msgIDOf(key), "sent_by_device_id": phoneID, "command": cmd})
	if err != nil {
		panic(err)
	}
	return Request{Key: key, Payload: b}
}

func playCmd(c *connectpb.Context, opts map[string]any) map[string]any {
	m := map[string]any{"endpoint": "play", "context": c, "play_origin": map[string]any{"feature_identifier": "album"}}
	if opts != nil {
		m["options"] = opts
	}
	return m
}

func transferCmd(ts *connectpb.TransferState, opts map[string]any) map[string]any {
	b, err := proto.Marshal(ts)
	if err != nil {
		panic(err)
	}
	m := map[string]any{"endpoint": "transfer", "data": b}
	if opts != nil {
		m["options"] = opts
	}
	return m
}

func step(t testing.TB, s State, at time.Time, ev Event) (State, []Effect) {
	t.Helper()
	before := s.Clone()
	ns, effs := Step(s, Input{Now: at, Event: ev})
	// Step must leave the state it was given as it was.
	if !reflect.DeepEqual(before, s) {
		t.Fatalf("Step(%T) changed its input state", ev)
	}
	if err := ns.check(); err != nil {
		t.Fatalf("after %T: %v", ev, err)
	}
	return ns, effs
}

func of[T Effect](effs []Effect) []T {
	var out []T
	for _, e := range effs {
		if x, ok := e.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

func one[T Effect](t testing.TB, effs []Effect) T {
	t.Helper()
	xs := of[T](effs)
	if len(xs) != 1 {
		var z T
		t.Fatalf("want one %T in %v, got %d", z, effs, len(xs))
	}
	return xs[0]
}

func none[T Effect](t testing.TB, effs []Effect) {
	t.Helper()
	if xs := of[T](effs); len(xs) != 0 {
		var z T
		t.Fatalf("want no %T, got %v", z, xs)
	}
}

func replied(t testing.TB, effs []Effect, key string, ok bool) {
	t.Helper()
	rs := of[Reply](effs)
	if len(rs) != 1 || rs[0].Key != key || rs[0].Success != ok {
		t.Fatalf("replies %v, want exactly one {%s %v}", rs, key, ok)
	}
	if _, first := effs[0].(Reply); !first {
		t.Fatalf("reply is not the first effect: %v", effs)
	}
}

func published(t testing.TB, effs []Effect) *connectpb.PutStateRequest {
	t.Helper()
	return one[Publish](t, effs).Request
}

// playing returns a state connected and playing track 0 of an n-track
// album at t0, duration 200 s.
func playing(t testing.TB, n int) State {
	t.Helper()
	s := New(testConfig(), 1, -1)
	s, _ = step(t, s, t0, ConnectionID{ID: "conn1"})
	s, effs := step(t, s, t0, request("k-play", playCmd(albumContext(n), nil)))
	replied(t, effs, "k-play", true)
	ld := one[PlayerLoad](t, effs)
	s, _ = step(t, s, t0, TrackStarted{PlaybackID: ld.PlaybackID, DurationMs: 200000})
	return s
}

// check holds the invariants of every State.
func (s State) check() error {
	c := s.ctx
	if c.order != nil && len(c.order) != len(c.tracks) {
		return fmt.Errorf("order has %d entries for %d tracks", len(c.order), len(c.tracks))
	}
	if c.order != nil {
		seen := make([]bool, len(c.tracks))
		for _, i := range c.order {
			if i < 0 || i >= len(c.tracks) || seen[i] {
				return fmt.Errorf("order %v is not a permutation", c.order)
			}
			seen[i] = true
		}
	}
	if c.pos < -1 || c.pos >= max(len(c.tracks), 0) && c.pos != -1 {
		return fmt.Errorf("context position %d out of range [-1,%d)", c.pos, len(c.tracks))
	}
	if s.hasCur && !s.curQueued && s.loaded && s.playbackID != "" && (c.pos < 0 || c.at(c.pos).uri != s.cur.uri) {
		return fmt.Errorf("current track %s is not the context track at %d", s.cur.uri, c.pos)
	}
	if s.durationMs > 0 && (s.posMs < 0 || s.posMs > s.durationMs) {
		return fmt.Errorf("position %d outside the track (%d)", s.posMs, s.durationMs)
	}
	if s.posMs < 0 {
		return fmt.Errorf("negative position %d", s.posMs)
	}
	if s.volume > s.cfg.MaxVolume {
		return fmt.Errorf("volume %d above the cap %d", s.volume, s.cfg.MaxVolume)
	}
	for i, t := range s.queue {
		if t.provider != "queue" || t.uid == "" {
			return fmt.Errorf("queue[%d] = %+v", i, t)
		}
	}
	if len(s.queue) > s.cfg.MaxQueue {
		return fmt.Errorf("queue of %d over the bound", len(s.queue))
	}
	if (s.loadID == 0) != (s.loadKind == loadNone) {
		return fmt.Errorf("load id %d with kind %d", s.loadID, s.loadKind)
	}
	ps := s.PlayerState(s.posAt)
	if len(ps.NextTracks) > maxListed || len(ps.PrevTracks) > maxListed {
		return fmt.Errorf("%d next and %d prev tracks published", len(ps.NextTracks), len(ps.PrevTracks))
	}
	if ix := ps.GetIndex(); ix != nil && s.ctx.pos >= 0 {
		t := s.ctx.at(s.ctx.pos)
		if ix.Page != t.page || ix.Track != t.index {
			return fmt.Errorf("index %v for track at page %d #%d", ix, t.page, t.index)
		}
	}
	if !s.active && (s.loaded || s.hasCur) {
		return fmt.Errorf("inactive but loaded=%v hasCur=%v", s.loaded, s.hasCur)
	}
	return nil
}
