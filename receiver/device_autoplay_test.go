package receiver

import (
	"testing"

	"github.com/speakerbox/speakerbox/receiver/apconn"
	"github.com/speakerbox/speakerbox/receiver/connect"
	"github.com/speakerbox/speakerbox/receiver/hooks"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// The account's autoplay setting comes with the access point's product
// info: with "0" the end of an album stops, with the autoplay key "on" it
// asks for a station all the same.
func TestDeviceFollowsTheAccountsAutoplaySetting(t *testing.T) {
	for _, tc := range []struct {
		name        string
		override    connect.Autoplay
		wantStation bool
	}{
		{"account off", connect.AutoplayFollowApp, false},
		{"account off, key on", connect.AutoplayOn, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newDevEnvPre(t, func(e *devEnv) {
				e.dialer.product = &apconn.Product{Type: "premium", Fields: map[string]string{"type": "premium", "autoplay": "0"}}
			}, func(c *DeviceConfig) { c.Autoplay = tc.override })
			if tc.override == connect.AutoplayFollowApp {
				// The setting has reached the state machine: it told the hooks.
				ev, err := e.hooks.wait(e.ctx, hooks.AutoPlayChanged)
				e.must(err)
				if ev.Vars["AUTO_PLAY"] != "false" {
					t.Fatalf("auto_play_changed %v", ev.Vars)
				}
			}
			e.startPlaying()
			from := len(e.player.Calls())
			// Skip to the album's last track and let it end.
			if !e.command(map[string]any{"endpoint": "skip_next", "track": map[string]any{"uri": turi(4), "uid": "u4"}}) {
				t.Fatal("skip_next refused")
			}
			e.playingTrack(turi(4))
			e.player.events <- connect.TrackEnded{PlaybackID: e.player.LastID()}
			// Stopped at last: at once, or once the fake answered the
			// station request with 404 (it has no station).
			e.waitPut("stopped", func(p spotifytest.ConnectStatePut) bool {
				ps := p.Request.GetDevice().GetPlayerState()
				return !ps.GetIsPlaying() && !ps.GetIsBuffering()
			})
			if _, err := e.player.waitCall(e.ctx, from, "stop"); err != nil {
				t.Fatal(err)
			}
			if asked := len(e.sp.SpclientAutoplayRequests()) > 0; asked != tc.wantStation {
				t.Fatalf("asked for an autoplay station: %v, want %v", asked, tc.wantStation)
			}
		})
	}
}
