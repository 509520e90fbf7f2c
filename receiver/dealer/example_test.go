package dealer_test

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/speakerbox/speakerbox/receiver/dealer"
)

// The consumer loop of a Connect device: one goroutine runs the dealer, one
// reads its events.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := dealer.New(dealer.Config{
		Client: http.DefaultClient,
		Addr:   func(context.Context) (string, error) { return "dealer.spotify.com:443", nil },
		// A login5 client's token func: force=true after a refused upgrade.
		Token: func(ctx context.Context, force bool) (string, error) { return "access token", nil },
		Log:   slog.Default(),
	})
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for ev := range d.Events() { // closed when Run returns
		switch ev := ev.(type) {
		case dealer.ConnectionID:
			_ = ev.ID // PUT the full state with reason NEW_DEVICE and this id
		case dealer.Message:
			_ = ev.Payload // cluster update, volume, logout by ev.URI
		case dealer.Request:
			// Hand it to the state machine, which calls ev.Reply once it
			// has taken the command (or refused it).
			ev.Reply(ev.Endpoint == "pause")
		case dealer.Disconnected:
			_ = ev.Err // already reconnecting; state PUTs wait for the next id
		}
	}
	<-done
}
