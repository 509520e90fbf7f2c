package spclient

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	playerpb "github.com/devgianlu/go-librespot/proto/spotify/player"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
	"google.golang.org/protobuf/proto"
)

var gid1 = []byte{0xfb, 0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0xfe}

func albumContext() *connectpb.Context {
	return &connectpb.Context{
		Uri:          "spotify:album:4aawyAB9vmqN3uQ7FjRGTy",
		Url:          "context://spotify:album:4aawyAB9vmqN3uQ7FjRGTy",
		Metadata:     map[string]string{"context_owner": "someone"},
		Restrictions: &connectpb.Restrictions{DisallowTogglingShuffleReasons: []string{"album"}},
		Pages: []*connectpb.ContextPage{
			{Tracks: []*connectpb.ContextTrack{
				{Uri: "spotify:track:6rqhFgbbKwnb9MLmUQDhG6", Uid: "u1", Gid: gid1, Metadata: map[string]string{"artist_uri": "spotify:artist:1"}},
				{Uri: "spotify:track:0nrRP2bk19rLc0orkWPQk2", Uid: "u2"},
			}},
			{PageUrl: "hm://artistplaycontext/v1/page/spotify/album/4aawyAB9vmqN3uQ7FjRGTy/km?offset=2&limit=2&filter=a%2Fb"},
		},
	}
}

func TestResolveContextAndPageWithQuery(t *testing.T) {
	e := newEnv(t, nil)
	want := albumContext()
	e.srv.SetSpclientContext(want.Uri, want)
	page := &connectpb.ContextPage{
		NextPageUrl: "hm://artistplaycontext/v1/page/spotify/album/4aawyAB9vmqN3uQ7FjRGTy/km?offset=4&limit=2",
		Tracks:      []*connectpb.ContextTrack{{Uri: "spotify:track:3", Uid: "u3"}},
	}
	e.srv.SetSpclientPage("/artistplaycontext/v1/page/spotify/album/4aawyAB9vmqN3uQ7FjRGTy/km?offset=2&limit=2&filter=a%2Fb", page)

	got, err := e.c.ResolveContext(context.Background(), want.Uri)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.script.received()[0]; r.Path != "/context-resolve/v1/"+want.Uri || r.Method != http.MethodGet {
		t.Errorf("request %s %s", r.Method, r.Path)
	}
	want.Pages[0].Tracks[1].Metadata = map[string]string{} // decoding fills empty maps
	want.Pages[0].Metadata = map[string]string{}
	want.Pages[1].Metadata = map[string]string{}
	if !proto.Equal(got, want) {
		t.Fatalf("resolved context\n%v\nwant\n%v", got, want)
	}

	p, err := e.c.ContextPage(context.Background(), got.Pages[1].GetPageUrl())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.GetTracks()) != 1 || p.GetTracks()[0].GetUri() != "spotify:track:3" || p.GetNextPageUrl() != page.NextPageUrl {
		t.Errorf("page %v", p)
	}
	r := e.script.received()[1]
	if r.Path != "/artistplaycontext/v1/page/spotify/album/4aawyAB9vmqN3uQ7FjRGTy/km" || r.RawQuery != "offset=2&limit=2&filter=a%2Fb" {
		t.Errorf("page request path %q query %q; the query must go out verbatim", r.Path, r.RawQuery)
	}
}

func TestResolveContextErrors(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.SetSpclientContext("spotify:playlist:loading", &connectpb.Context{Uri: "spotify:playlist:loading", Loading: true})
	e.srv.SetSpclientContextJSON("spotify:playlist:garbage", []byte(`{"pages": 7}`))

	if _, err := e.c.ResolveContext(context.Background(), "spotify:playlist:loading"); !errors.Is(err, ErrContextLoading) {
		t.Errorf("loading context: %v", err)
	}
	if _, err := e.c.ResolveContext(context.Background(), "spotify:playlist:garbage"); err == nil || !strings.Contains(err.Error(), "decode") {
		t.Errorf("garbage context: %v", err)
	}
	var se *StatusError
	if _, err := e.c.ResolveContext(context.Background(), "spotify:playlist:unknown"); !errors.As(err, &se) || se.Status != 404 {
		t.Errorf("unknown context: %v", err)
	}
	if _, err := e.c.ResolveContext(context.Background(), ""); err == nil {
		t.Error("empty uri accepted")
	}
	if n := len(e.script.received()); n != 3 {
		t.Errorf("%d requests, want 3 (404 is not retried, the empty uri never sent)", n)
	}
	// A uri with characters that would change the path is escaped, not sent raw.
	if _, err := e.c.ResolveContext(context.Background(), "spotify:x/../../connect-state?a#b"); !errors.As(err, &se) || se.Status != 404 {
		t.Errorf("odd uri: %v", err)
	}
	if r := e.script.received()[3]; r.Path != "/context-resolve/v1/spotify:x/../../connect-state?a#b" || r.RawQuery != "" {
		t.Errorf("odd uri went out as path %q query %q", r.Path, r.RawQuery)
	}
}

func TestPagePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hm://a/b/c", "a/b/c"},
		{"hm://a/b?x=1&y=%2F&z", "a/b?x=1&y=%2F&z"},
		{"hm:///a?", "a?"},
	} {
		if got, err := PagePath(tc.in); err != nil || got != tc.want {
			t.Errorf("PagePath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "hm://", "hm://?x=1", "https://evil/x", "context://spotify:album:x", "hm://a#frag", "hm://a b", "spotify:album:x"} {
		if got, err := PagePath(bad); err == nil {
			t.Errorf("PagePath(%q) = %q, want an error", bad, got)
		}
	}
	e := newEnv(t, nil)
	if _, err := e.c.ContextPage(context.Background(), "https://elsewhere.example/page"); err == nil {
		t.Error("a page URL that is not hm:// was fetched")
	}
	if n := len(e.script.received()); n != 0 {
		t.Errorf("%d requests for bad page URLs", n)
	}
}

func TestAutoplay(t *testing.T) {
	e := newEnv(t, nil)
	station := &connectpb.Context{
		Uri: "spotify:station:album:4aawyAB9vmqN3uQ7FjRGTy",
		Pages: []*connectpb.ContextPage{{Tracks: []*connectpb.ContextTrack{
			{Uri: "spotify:track:9", Uid: "s1"}, // no metadata: the decoder must give it a map
		}}},
	}
	e.srv.SetSpclientAutoplay("spotify:album:4aawyAB9vmqN3uQ7FjRGTy", station)
	req := &playerpb.AutoplayContextRequest{
		ContextUri:     proto.String("spotify:album:4aawyAB9vmqN3uQ7FjRGTy"),
		RecentTrackUri: []string{"spotify:track:1", "spotify:track:2"},
	}
	got, err := e.c.Autoplay(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetUri() != station.Uri || len(got.GetPages()) != 1 || got.Pages[0].Tracks[0].GetUri() != "spotify:track:9" {
		t.Fatalf("station %v", got)
	}
	got.Pages[0].Tracks[0].Metadata["autoplay.is_autoplay"] = "true" // must not panic
	sent := e.srv.SpclientAutoplayRequests()
	if len(sent) != 1 || !proto.Equal(sent[0], req) {
		t.Errorf("autoplay requests %v", sent)
	}
	if r := e.script.received()[0]; r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" {
		t.Errorf("%s, Content-Type %q", r.Method, r.Header.Get("Content-Type"))
	}

	var se *StatusError
	req.ContextUri = proto.String("spotify:playlist:nothing")
	if _, err := e.c.Autoplay(context.Background(), req); !errors.As(err, &se) || se.Status != 404 {
		t.Errorf("no station: %v, want a 404 StatusError", err)
	}
	if _, err := e.c.Autoplay(context.Background(), nil); err == nil {
		t.Error("nil request accepted")
	}
}

// Odd but possible JSON: both spellings of names, every base64 form of the
// gid, nulls, unknown fields. None may leave a nil page, track or map.
func TestDecodeContextOddJSON(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		gid        []byte
		tracks     int
	}{
		{"snake_case, padded base64", `{"uri":"u","pages":[{"page_url":"hm://p","tracks":[{"uri":"t","gid":"+/8AAQIDBAUGBwgJCgsM/g=="}]}]}`, gid1, 1},
		{"camelCase, unpadded", `{"uri":"u","pages":[{"pageUrl":"hm://p","tracks":[{"uri":"t","gid":"+/8AAQIDBAUGBwgJCgsM/g"}]}]}`, gid1, 1},
		{"URL alphabet", `{"uri":"u","pages":[{"tracks":[{"uri":"t","gid":"-_8AAQIDBAUGBwgJCgsM_g=="}]}]}`, gid1, 1},
		{"nulls", `{"uri":"u","metadata":null,"restrictions":null,"pages":[{"tracks":null,"metadata":null}]}`, nil, 0},
		{"unknown fields", `{"uri":"u","new_field":{"x":[1,2]},"pages":[{"tracks":[{"uri":"t","provider":"context","metadata":{"a":"b"}}]}]}`, nil, 1},
		{"empty", `{}`, nil, 0},
	} {
		sc, err := DecodeContext([]byte(tc.json))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		checkContextNilSafe(t, sc)
		var tracks []*connectpb.ContextTrack
		for _, p := range sc.GetPages() {
			tracks = append(tracks, p.GetTracks()...)
		}
		if len(tracks) != tc.tracks {
			t.Errorf("%s: %d tracks, want %d", tc.name, len(tracks), tc.tracks)
		}
		if tc.gid != nil && (len(tracks) == 0 || !slices.Equal(tracks[0].GetGid(), tc.gid)) {
			t.Errorf("%s: gid not decoded", tc.name)
		}
	}
	for _, bad := range []string{``, `null`, `[]`, `{"pages":7}`, `{"pages":[{"tracks":[{"gid":"%%%"}]}]}`, `{"metadata":{"a":1}}`, `{"loading":"yes"}`, `{"uri":"a","uri":"b"}`} {
		if sc, err := DecodeContext([]byte(bad)); err == nil {
			t.Errorf("DecodeContext(%q) = %v, want an error", bad, sc)
		}
	}
	if p, err := DecodeContextPage([]byte(`{"next_page_url":"hm://n","tracks":[{"uri":"t"}]}`)); err != nil || p.GetNextPageUrl() != "hm://n" || p.Tracks[0].Metadata == nil {
		t.Errorf("page: %v, %v", p, err)
	}
}

func checkContextNilSafe(t testing.TB, sc *connectpb.Context) {
	t.Helper()
	if sc.Metadata == nil {
		t.Error("nil context metadata")
	}
	for _, p := range sc.Pages {
		checkPageNilSafe(t, p)
	}
}

func checkPageNilSafe(t testing.TB, p *connectpb.ContextPage) {
	t.Helper()
	if p == nil {
		t.Fatal("nil page")
	}
	if p.Metadata == nil {
		t.Error("nil page metadata")
	}
	for _, tr := range p.Tracks {
		if tr == nil || tr.Metadata == nil {
			t.Fatal("nil track or track metadata")
		}
	}
}

// What go-librespot and our fake write (encoding/json of the generated
// structs) must decode to the same message.
func TestDecodeContextReadsEncodingJSON(t *testing.T) {
	want := albumContext()
	got, err := DecodeContext(spotifytest.SpclientJSON(want))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Pages[0].Tracks[0].Gid, gid1) || got.Pages[1].PageUrl != want.Pages[1].PageUrl ||
		!slices.Equal(got.GetRestrictions().GetDisallowTogglingShuffleReasons(), []string{"album"}) {
		t.Errorf("decoded %v", got)
	}
}

func FuzzSpclientContext(f *testing.F) {
	f.Add([]byte(spotifytest.SpclientJSON(albumContext())))
	f.Add([]byte(`{"uri":"u","pages":[{"pageUrl":"hm://p?x=1","tracks":[{"uri":"t","gid":"+/8AAQIDBAUGBwgJCgsM/g"}]}]}`))
	f.Add([]byte(`{"next_page_url":"hm://n","tracks":[null,{"uri":"t","metadata":{"a":"b"}}]}`))
	f.Add([]byte(`{"loading":true,"restrictions":{"disallow_pausing_reasons":["x"]},"metadata":null}`))
	f.Add([]byte(`{"pages":[{"tracks":[{"gid":"-_8"}]}],"x":{"y":[1,{"z":null}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if sc, err := DecodeContext(b); err == nil {
			checkContextNilSafe(t, sc)
			for _, p := range sc.GetPages() {
				for _, u := range []string{p.GetPageUrl(), p.GetNextPageUrl()} {
					if path, err := PagePath(u); err == nil && (strings.HasPrefix(path, "/") || strings.ContainsAny(path, "# ")) {
						t.Fatalf("PagePath(%q) = %q", u, path)
					}
				}
			}
		}
		if p, err := DecodeContextPage(b); err == nil {
			checkPageNilSafe(t, p)
		}
	})
}
