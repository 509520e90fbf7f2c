package player

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio/audiotest"
	"github.com/speakerbox/speakerbox/audio/source"
)

// remoteFile serves file over loopback HTTP with Range support.
func remoteFile(tb testing.TB, file []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(file))
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// seekCase is one way to use a remote track: where to seek (a fraction of
// its length; <0: none) and how much to play from there (0: to the end).
type seekCase struct {
	name   string
	at     float64
	frames int64
}

var seekCases = []seekCase{
	{"play-through", -1, 0},
	{"seek-middle", 0.5, 44100},
	{"seek-near-end", 0.97, 0},
}

// playRemote opens the Spotify-format file on srv through audio/source
// and the player's chain, plays c, and returns the source's counters
// (after its read-ahead settled) and what was decoded.
func playRemote(tb testing.TB, srv *httptest.Server, cfg source.Config, c seekCase) (source.Stats, []float32) {
	tb.Helper()
	cfg.Client, cfg.URLs = srv.Client(), source.StaticURLs{srv.URL}
	src, err := source.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	o, err := openTrack(Track{ID: "t", Source: src, Size: src.Size(), Key: audiotest.Key})
	if err != nil {
		tb.Fatal(err)
	}
	d := o.dec
	var f int64
	if c.at >= 0 {
		f = int64(c.at * float64(d.Length()))
		if err := d.SeekFrame(f); err != nil {
			tb.Fatal(err)
		}
	}
	want := d.Length() - f
	if c.frames > 0 {
		want = min(want, c.frames)
	}
	out := make([]float32, 0, want*int64(d.Channels()))
	buf := make([]float32, 4096)
	for int64(len(out)) < want*int64(d.Channels()) {
		n, err := d.Read(buf[:min(len(buf), int(want*int64(d.Channels()))-len(out))])
		out = append(out, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := src.WaitIdle(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return src.Stats(), out
}

// TestSeekTableCutsRangeRequests: with the header's seek table, a seek
// into a part of a remote file not fetched yet costs at most two range
// requests beyond the ones Open makes, and plays the same samples as a
// seek that walks the stream (the no-table file). Without read-ahead, so
// the counts are exactly what the decoder asked for.
func TestSeekTableCutsRangeRequests(t *testing.T) {
	ogg := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 320, Repeat: 10}))
	table := remoteFile(t, audiotest.SpotifyBytes(t, ogg, audiotest.Key, audiotest.Norm))
	plain := remoteFile(t, audiotest.SpotifyBytesNoSeekTable(t, ogg, audiotest.Key, audiotest.Norm))
	cfg := source.Config{ReadAhead: -1, MaxChunks: 64}
	// What opening costs: the first chunk, the last (the decoder checks
	// the stream is whole), nothing else.
	opened, _ := playRemote(t, table, cfg, seekCase{"open", -1, 1})
	for _, c := range seekCases[1:] {
		st, got := playRemote(t, table, cfg, c)
		ref, want := playRemote(t, plain, cfg, c)
		t.Logf("%s: with table %d requests %d KiB, without %d requests %d KiB (open alone: %d requests)",
			c.name, st.Requests, st.Bytes>>10, ref.Requests, ref.Bytes>>10, opened.Requests)
		if len(got) == 0 || !floatsEqual(got, want) {
			t.Fatalf("%s: %d samples differ from the walking seek's %d", c.name, len(got), len(want))
		}
		if extra := st.Requests - opened.Requests; extra > 2 {
			t.Errorf("%s: %d requests beyond opening, want at most 2", c.name, extra)
		}
		if st.Requests >= ref.Requests {
			t.Errorf("%s: %d requests with the table, %d without", c.name, st.Requests, ref.Requests)
		}
	}
}

func floatsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// BenchmarkRemoteSeek: range requests and bytes fetched from a loopback
// CDN (audio/source's defaults: 128 KiB chunks, 4 read ahead) for a 192 s
// track (oggenc -q 9 of the test material, 4 MB), played through, sought to the middle (then 1 s played)
// and sought to 97 % (played to the end), with the header's seek table
// and without it (seeks walk the pages from the start), in the same run;
// with the default read-ahead and without any (read-ahead=0: exactly the
// chunks the decoder asked for).
func BenchmarkRemoteSeek(b *testing.B) {
	ogg := audiotest.Read(b, audiotest.Ogg(b, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 320, Repeat: 30}))
	table := remoteFile(b, audiotest.SpotifyBytes(b, ogg, audiotest.Key, audiotest.Norm))
	plain := remoteFile(b, audiotest.SpotifyBytesNoSeekTable(b, ogg, audiotest.Key, audiotest.Norm))
	for _, c := range seekCases {
		for _, ra := range []int{source.DefaultReadAhead, -1} {
			name := fmt.Sprintf("%s/read-ahead=%d", c.name, max(ra, 0))
			cfg := source.Config{ReadAhead: ra}
			b.Run(name, func(b *testing.B) {
				var st, ref source.Stats
				for range b.N {
					s, _ := playRemote(b, table, cfg, c)
					r, _ := playRemote(b, plain, cfg, c)
					st.Requests += s.Requests
					st.Bytes += s.Bytes
					ref.Requests += r.Requests
					ref.Bytes += r.Bytes
				}
				n := float64(b.N)
				b.ReportMetric(float64(st.Requests)/n, "requests/op")
				b.ReportMetric(float64(st.Bytes)/n, "fetched-bytes/op")
				b.ReportMetric(float64(ref.Requests)/n, "no-table-requests/op")
				b.ReportMetric(float64(ref.Bytes)/n, "no-table-bytes/op")
				b.ReportMetric(float64(st.Bytes)/float64(max(ref.Bytes, 1)), "bytes-x-no-table")
			})
		}
	}
}
