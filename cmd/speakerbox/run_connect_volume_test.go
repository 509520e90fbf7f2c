package main

import (
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/audio/gain"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// Issue 11, end to end 2 (volume): with the linear curve at full volume
// the samples are the decoder's; the app's volume message is published as
// the device's volume, and from one frame on the samples are the
// reference scaled: first along the player's 5 ms glide, then by the
// linear gain, both exactly as audio/gain computes them (the same float32
// operations on the same samples), so the comparison is exact to the bit.
func TestRunVolumeFromTheFake(t *testing.T) {
	r := startConnectRun(t, "--audio.volume_curve", "linear", "--audio.initial_volume", "100")
	a := r.publish("track", "va", 160, 11, 1)
	r.transferItems("spotify:album:"+"0000000000000000000005", []playItem{a})
	r.pipe.readTo(r.ctx, frameRate)
	r.waitPlaying(a.uri, nil)
	got := r.pipe.samples()
	skip := startOf(t, got, a.ref)

	const vol = 32768
	b, err := proto.Marshal(&connectpb.SetVolumeCommand{Volume: vol})
	if err != nil {
		t.Fatal(err)
	}
	cut := r.pipe.len()
	if err := r.svc.Dealer.SendMessage(r.ctx, spotifytest.DealerMessage{URI: "hm://connect-state/v1/connect/volume", Payload: b}); err != nil {
		t.Fatal(err)
	}
	r.waitPut("the new volume", func(p spotifytest.ConnectStatePut) bool {
		return p.Request.GetDevice().GetDeviceInfo().GetVolume() == vol
	})
	// Read on until the samples leave the reference (the glide starts).
	k := -1
	for k < 0 {
		r.pipe.readTo(r.ctx, r.pipe.len()+frameRate/2)
		got = r.pipe.samples()
		if n := continues(got, 0, a.ref, skip); n < len(got) {
			k = n - n%2 // the first frame with a sample changed
		} else if len(got) > cut+pipeSlack {
			t.Fatalf("the volume change is not heard within %d samples", pipeSlack)
		}
	}
	if k < cut {
		t.Fatalf("the samples changed at %d, before the volume message (%d)", k, cut)
	}
	r.pipe.readTo(r.ctx, k+frameRate)
	got = r.pipe.samples()
	g := gain.Volume{Curve: gain.CurveLinear}.Gain(vol)
	want := append([]float32(nil), a.ref[skip+k:skip+k+frameRate]...)
	ramp := gain.NewRamp(frameRate, 5*time.Millisecond, 1)
	ramp.SetTarget(g)
	ramp.Apply(want, 2)
	for i := range want {
		want[i] = max(-1, min(1, want[i]))
		if got[k+i] != want[i] {
			t.Fatalf("sample %d after the volume change (gain %v): got %v, want %v (unscaled %v)", i, g, got[k+i], want[i], a.ref[skip+k+i])
		}
	}
	t.Logf("volume %d: gain %v from frame %d of the track (%d samples after the message), exact over %d samples", vol, g, (skip+k)/2, k-cut, len(want))
}
