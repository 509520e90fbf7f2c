package connect

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	"google.golang.org/protobuf/proto"
)

// gen makes random inputs, mostly valid, some stale or malformed, aimed at
// the state it is given.
type gen struct {
	r   *rand.Rand
	now time.Time
	n   int
}

func (g *gen) next(s State) Input {
	g.n++
	g.now = g.now.Add(time.Duration(g.r.IntN(20000)) * time.Millisecond)
	key := fmt.Sprintf("k%d", g.n)
	var ev Event
	switch g.r.IntN(24) {
	case 0:
		ev = ConnectionID{ID: fmt.Sprintf("conn%d", g.r.IntN(3))}
	case 1:
		ctx := albumContext(1 + g.r.IntN(40))
		if g.r.IntN(3) == 0 {
			ctx = pagedContext()
		}
		if g.r.IntN(5) == 0 {
			ctx = &connectpb.Context{Uri: "spotify:playlist:" + id22(g.r.IntN(9))}
		}
		opts := map[string]any{"skip_to": map[string]any{"track_index": g.r.IntN(50)}, "initially_paused": g.r.IntN(2) == 0}
		if g.r.IntN(2) == 0 {
			opts["player_options_override"] = map[string]any{"shuffling_context": g.r.IntN(2) == 0, "repeating_context": g.r.IntN(2) == 0}
		}
		ev = request(key, playCmd(ctx, opts))
	case 2:
		ts := transferState(g.r.IntN(2) == 0, int32(g.r.IntN(400000)), g.now.Add(-time.Duration(g.r.IntN(5000))*time.Millisecond), g.r.IntN(5))
		if g.r.IntN(2) == 0 {
			ts.Queue = &connectpb.Queue{Tracks: ctxTracks(100, 100+g.r.IntN(5)), IsPlayingQueue: g.r.IntN(2) == 0}
		}
		ev = request(key, transferCmd(ts, nil))
	case 3:
		ev = request(key, map[string]any{"endpoint": "pause"})
	case 4:
		ev = request(key, map[string]any{"endpoint": "resume"})
	case 5:
		if g.r.IntN(2) == 0 {
			ev = request(key, map[string]any{"endpoint": "seek_to", "value": g.r.IntN(300000) - 1000})
		} else {
			ev = request(key, map[string]any{"endpoint": "seek_to", "position": g.r.IntN(60000) - 30000, "relative": []string{"current", "beginning", ""}[g.r.IntN(3)]})
		}
	case 6:
		if g.r.IntN(2) == 0 {
			ev = request(key, map[string]any{"endpoint": "skip_next"})
		} else {
			ev = request(key, map[string]any{"endpoint": "skip_next", "track": map[string]any{"uri": turi(g.r.IntN(110))}})
		}
	case 7:
		ev = request(key, map[string]any{"endpoint": "skip_prev", "options": map[string]any{"allow_seeking": g.r.IntN(2) == 0}})
	case 8:
		ep := []string{"set_shuffling_context", "set_repeating_context", "set_repeating_track"}[g.r.IntN(3)]
		ev = request(key, map[string]any{"endpoint": ep, "value": g.r.IntN(2) == 0})
	case 9:
		ev = request(key, map[string]any{"endpoint": "add_to_queue", "track": map[string]any{"uri": turi(200 + g.r.IntN(50))}})
	case 10:
		var next []map[string]any
		for i := range g.r.IntN(5) {
			next = append(next, map[string]any{"uri": turi(300 + i), "provider": "queue"})
		}
		next = append(next, map[string]any{"uri": turi(1), "provider": "context"})
		ev = request(key, map[string]any{"endpoint": "set_queue", "next_tracks": next})
	case 11:
		ev = request(key, map[string]any{"endpoint": "set_options", "shuffling_context": g.r.IntN(2) == 0})
	case 12:
		ev = request(key, map[string]any{"endpoint": "update_context", "context": map[string]any{"uri": s.ctx.uri, "metadata": map[string]string{"k": key}}})
	case 13:
		// malformed
		ev = Request{Key: key, Payload: []byte([]string{`{}`, `{"command":{"endpoint":"play"}}`, `{"command":{"endpoint":"seek_to"}}`, `x`, `{"command":{"endpoint":"nope"}}`}[g.r.IntN(5)])}
	case 14, 15, 16:
		pid := s.playbackID
		if g.r.IntN(6) == 0 {
			pid = "stale"
		}
		switch g.r.IntN(4) {
		case 0:
			ev = TrackStarted{PlaybackID: pid, PositionMs: int64(g.r.IntN(10000)), DurationMs: int64(1000 + g.r.IntN(300000))}
		case 1:
			ev = TrackPosition{PlaybackID: pid, PositionMs: int64(g.r.IntN(400000))}
		case 2:
			ev = TrackEnded{PlaybackID: pid}
		default:
			ev = TrackUnavailable{PlaybackID: pid}
		}
	case 17, 18:
		id := s.loadID
		if g.r.IntN(6) == 0 {
			id = uint64(g.r.IntN(5))
		}
		fail := g.r.IntN(5) == 0
		var err error
		if fail {
			err = fmt.Errorf("fail")
		}
		switch s.loadKind {
		case loadContext:
			ev = ContextLoaded{ID: id, Context: albumContext(1 + g.r.IntN(10)), Err: err}
		case loadPage:
			first := 400 + g.r.IntN(100)
			p := &connectpb.ContextPage{Tracks: ctxTracks(first, first+g.r.IntN(4))}
			if g.r.IntN(2) == 0 {
				p.NextPageUrl = "hm://next"
			}
			ev = PageLoaded{ID: id, Page: p, Err: err}
		default:
			ev = AutoplayLoaded{ID: id, Context: &connectpb.Context{Uri: "spotify:station:x", Pages: []*connectpb.ContextPage{{Tracks: []*connectpb.ContextTrack{{Uri: turi(500)}}}}}, Err: err}
		}
	case 19:
		b, _ := proto.Marshal(&connectpb.SetVolumeCommand{Volume: int32(g.r.IntN(80000) - 5000)})
		ev = VolumeMessage{Payload: b}
	case 20:
		ev = cluster([]string{ownID, phoneID, ""}[g.r.IntN(3)], g.now.Add(time.Duration(g.r.IntN(20000)-10000)*time.Millisecond))
	case 21:
		ev = []Event{LogoutMessage{}, Shutdown{}, AutoplaySetting{On: g.r.IntN(2) == 0}, LocalVolume{Volume: uint32(g.r.IntN(70000))}}[g.r.IntN(4)]
	case 22:
		// The control API's commands, some out of range.
		// The owner's settings too (name, cap, autoplay), some refused.
		c := LocalCommand{Kind: LocalKind(1 + g.r.IntN(9))}
		c.PositionMs = int64(g.r.IntN(300000) - 1000)
		c.Volume = uint32(g.r.IntN(70000))
		c.Name = []string{"", "Kitchen", "Living room"}[g.r.IntN(3)]
		c.MaxVolume = uint32(g.r.IntN(70000))
		c.Autoplay = Autoplay(g.r.IntN(4))
		ev = c
	default:
		ev = Tick{}
	}
	return Input{Now: g.now, Event: ev}
}

func queueKeys(q []track) []string {
	var out []string
	for _, t := range q {
		out = append(out, t.uid+" "+t.uri)
	}
	return out
}

// TestRandomSequences: invariants over random command sequences (seeds
// fixed, so a failure reproduces).
func TestRandomSequences(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4, 5, 6, 7, 8, 42, 1234} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			g := &gen{r: rand.New(rand.NewPCG(seed, seed)), now: t0}
			cfg := testConfig()
			cfg.MaxVolume = 60000
			cfg.MaxQueue = 20
			s := New(cfg, seed, -1)
			for range 1500 {
				in := g.next(s)
				old := s
				var effs []Effect
				s, effs = step(t, s, in.Now, in.Event)
				if g.n%10 == 0 {
					// Deterministic: the same state and input, the same result.
					s2, effs2 := Step(old, in)
					if !reflect.DeepEqual(s, s2) || !reflect.DeepEqual(effs, effs2) {
						t.Fatalf("Step not deterministic for %T", in.Event)
					}
				}
				req, isReq := in.Event.(Request)
				replies := of[Reply](effs)
				if isReq && (len(replies) != 1 || replies[0].Key != req.Key) || !isReq && len(replies) != 0 {
					t.Fatalf("input %T: replies %v", in.Event, replies)
				}
				if _, isLocal := in.Event.(LocalCommand); isLocal {
					lr := of[LocalReply](effs)
					if _, first := effs[0].(LocalReply); len(lr) != 1 || !first {
						t.Fatalf("local command: effects %v", effs)
					}
					if lr[0].Err != nil && (len(effs) != 1 || !reflect.DeepEqual(s, old)) {
						t.Fatalf("refused local command (%v) changed something: %v", lr[0].Err, effs)
					}
				} else if len(of[LocalReply](effs)) != 0 {
					t.Fatalf("input %T: local replies %v", in.Event, effs)
				}
				if len(of[Publish](effs))+len(of[PublishInactive](effs)) > 1 {
					t.Fatalf("more than one publish: %v", effs)
				}
				// Queue order is kept: the new queue is a suffix of the old
				// one plus what was added, unless the queue was replaced.
				replaced := false
				if isReq {
					if env, err := parseEnvelope(req.Payload); err == nil {
						switch env.Command.Endpoint {
						case "set_queue", "transfer", "play":
							replaced = true
						}
					}
				}
				switch in.Event.(type) {
				case LogoutMessage, Shutdown, ClusterMessage:
					replaced = true
				}
				if !replaced {
					all := append(queueKeys(old.queue), queueKeys(s.queue)...)
					okSuffix := false
					// The new queue must appear as a suffix of old+new-tail.
					nq := queueKeys(s.queue)
					oq := queueKeys(old.queue)
					for cut := 0; cut <= len(oq); cut++ {
						rest := oq[cut:]
						if len(nq) >= len(rest) && slices.Equal(nq[:len(rest)], rest) && len(nq)-len(rest) <= 1 {
							okSuffix = true
							break
						}
					}
					if !okSuffix {
						t.Fatalf("queue order broken: %v -> %v (%v)", oq, nq, all)
					}
				}
				for _, p := range of[Publish](effs) {
					ps := p.Request.Device.PlayerState
					if !p.Request.IsActive {
						continue
					}
					for i, x := range s.queue {
						if i == maxListed {
							break
						}
						if ps.NextTracks[i].Uid != x.uid || ps.NextTracks[i].Provider != "queue" {
							t.Fatalf("next_tracks[%d] = %v, queue has %v", i, ps.NextTracks[i], x)
						}
					}
					if ps.PositionAsOfTimestamp < 0 || ps.Duration > 0 && ps.PositionAsOfTimestamp > ps.Duration {
						t.Fatalf("published position %d of %d", ps.PositionAsOfTimestamp, ps.Duration)
					}
					if (ps.IsPaused || ps.IsBuffering || !ps.IsPlaying) && ps.PlaybackSpeed != 0 {
						t.Fatalf("speed %v while paused/buffering/stopped", ps.PlaybackSpeed)
					}
				}
			}
		})
	}
}
