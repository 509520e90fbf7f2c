package connect_test

import (
	"fmt"
	"time"

	devicespb "github.com/devgianlu/go-librespot/proto/spotify/connectstate/devices"

	"github.com/speakerbox/speakerbox/receiver/connect"
)

// The loop that carries out the effects: one goroutine owns the State;
// everything else talks to it through inputs.
func Example() {
	s := connect.New(connect.Config{
		DeviceID:      "0123456789abcdef0123456789abcdef01234567",
		DeviceName:    "Kitchen",
		DeviceType:    devicespb.DeviceType_SPEAKER,
		InitialVolume: 32768, // audio.initial_volume (50 %)
	}, 42, -1)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	inputs := []connect.Event{
		connect.ConnectionID{ID: "conn-1"},
		connect.Request{Key: "key-1", Payload: []byte(`{"message_id":7,"sent_by_device_id":"phone",
			"command":{"endpoint":"play","play_origin":{},"context":{"uri":"spotify:album:0000000000000000000001"}}}`)},
	}
	for _, ev := range inputs {
		var effs []connect.Effect
		s, effs = connect.Step(s, connect.Input{Now: now, Event: ev})
		for _, e := range effs {
			switch e := e.(type) {
			case connect.Reply:
				fmt.Println("reply", e.Key, e.Success) // dealer.Reply(key, success)
			case connect.PlayerSetVolume:
				fmt.Println("volume", e.Volume) // player.SetVolume
			case connect.LoadContext:
				fmt.Println("resolve", e.URI) // go spclient.ContextResolve, then feed ContextLoaded{ID: e.ID}
			case connect.Publish:
				fmt.Println("publish", e.Request.PutStateReason, e.Request.IsActive) // publisher.Put(e.ConnectionID, e.Request)
			default:
				fmt.Printf("%T\n", e)
			}
		}
	}
	// Output:
	// volume 32768
	// publish NEW_DEVICE false
	// reply key-1 true
	// connect.Hook
	// resolve spotify:album:0000000000000000000001
	// publish PLAYER_STATE_CHANGED true
}
