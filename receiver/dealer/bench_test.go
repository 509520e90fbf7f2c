package dealer_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/speakerbox/speakerbox/receiver/dealer"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// BenchmarkDealerRoundTrip measures a request's way from the server to a
// consumer and its reply's way back, through our client over loopback TLS,
// against the reference of the bare library: one frame echoed by a
// coder/websocket client over the same kind of connection. The two take
// turns within each iteration, so load from other processes falls on both;
// the figures are medians over the iterations. Spotify gzips its requests;
// the plain variant shows what the gunzip costs.
func BenchmarkDealerRoundTrip(b *testing.B) {
	for _, gzip := range []bool{true, false} {
		b.Run(fmt.Sprint("gzip=", gzip), func(b *testing.B) { benchRoundTrip(b, gzip) })
	}
}

func benchRoundTrip(b *testing.B, gzip bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Ours: DealerServer -> Dealer -> a consumer that answers at once.
	srv := spotifytest.NewDealerServer()
	hs := httptest.NewTLSServer(srv)
	defer hs.Close()
	defer srv.Close()
	addr := strings.TrimPrefix(hs.URL, "https://")
	d, err := dealer.New(dealer.Config{
		Client: hs.Client(),
		Addr:   func(context.Context) (string, error) { return addr, nil },
		Token:  func(context.Context, bool) (string, error) { return "t", nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	go func() {
		for ev := range d.Events() {
			if r, ok := ev.(dealer.Request); ok {
				r.Reply(true)
			}
		}
	}()
	if _, err := srv.WaitConnection(ctx, 1); err != nil {
		b.Fatal(err)
	}
	p, err := spotifytest.DealerCommandPayload(1, "phone", map[string]any{"endpoint": "pause"})
	if err != nil {
		b.Fatal(err)
	}

	// Reference: the bare library echoing one frame.
	serverSide := make(chan *websocket.Conn, 1)
	release := make(chan struct{})
	ref := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		serverSide <- ws
		<-release
		ws.CloseNow()
	}))
	defer ref.Close()
	defer close(release)
	client, _, err := websocket.Dial(ctx, strings.Replace(ref.URL, "https", "wss", 1), &websocket.DialOptions{HTTPClient: ref.Client()})
	if err != nil {
		b.Fatal(err)
	}
	defer client.CloseNow()
	go func() {
		for {
			typ, data, err := client.Read(ctx)
			if err != nil {
				return
			}
			if client.Write(ctx, typ, data) != nil {
				return
			}
		}
	}()
	server := <-serverSide
	frame := []byte(`{"type":"request","key":"k","message_ident":"x","payload":{"compressed":"e30="}}`)

	ours := make([]float64, 0, b.N)
	bare := make([]float64, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		key := fmt.Sprint("k", i)
		if err := srv.SendRequest(ctx, spotifytest.DealerRequest{Key: key, Payload: p, Gzip: gzip}); err != nil {
			b.Fatal(err)
		}
		if ok, err := srv.WaitReply(ctx, key); err != nil || !ok {
			b.Fatal(ok, err)
		}
		t1 := time.Now()
		if err := server.Write(ctx, websocket.MessageText, frame); err != nil {
			b.Fatal(err)
		}
		if _, _, err := server.Read(ctx); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		ours = append(ours, float64(t1.Sub(t0).Nanoseconds()))
		bare = append(bare, float64(t2.Sub(t1).Nanoseconds()))
	}
	b.StopTimer()
	ratios := make([]float64, len(ours))
	for i := range ours {
		ratios[i] = ours[i] / bare[i]
	}
	b.ReportMetric(benchMedian(ours), "dealer-ns/roundtrip")
	b.ReportMetric(benchMedian(bare), "bare-ns/roundtrip")
	b.ReportMetric(benchMedian(ratios), "dealer/bare")
}

func benchMedian(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
