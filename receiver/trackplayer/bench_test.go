package trackplayer

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/gain"
	"github.com/speakerbox/speakerbox/audio/player"
	"github.com/speakerbox/speakerbox/receiver/connect"
	"github.com/speakerbox/speakerbox/receiver/spclient"
)

// The cost of the track player between a Load and the first sound, as a
// ratio against the audio player's own Load to TrackStarted in the same
// run (resolving is a fake that answers at once, the sink has no clock).
func BenchmarkLoadToStarted(b *testing.B) {
	a := newSong(b, 1, 0)
	b.Run("audio-player", func(b *testing.B) {
		p, err := player.NewPlayer(player.Config{Sink: &capSink{done: make(chan struct{})}, Sample: audio.FloatLE,
			Volume: gain.Volume{Curve: gain.CurveFixed}})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			tid := fmt.Sprint(i)
			p.Load(player.Track{ID: tid, Source: bytes.NewReader(a.ogg), Size: int64(len(a.ogg))}, true, 0)
			for ev := range p.Events() {
				if ev.Type == player.TrackStarted && ev.TrackID == tid {
					break
				}
			}
		}
	})
	b.Run("track-player", func(b *testing.B) {
		cat := newCatalogue()
		cat.add(a)
		p, err := New(Config{
			Audio: player.Config{Sink: &capSink{done: make(chan struct{})}, Sample: audio.FloatLE,
				Volume: gain.Volume{Curve: gain.CurveFixed}},
			NewResolver: cat.newResolver,
		})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		p.UseSession(&spclient.Client{}, fakeConn{})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			pb := fmt.Sprint(i)
			p.Load(pb, a.uri, 0, false)
			for ev := range p.Events() {
				if s, ok := ev.(connect.TrackStarted); ok && s.PlaybackID == pb {
					break
				}
			}
		}
	})
}
