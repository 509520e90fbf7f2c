package spclient

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	downloadpb "github.com/devgianlu/go-librespot/proto/spotify/download"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/audio/source"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

var testFileID = []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01, 0x02, 0x03, 0x04}

const testFileHex = "00112233445566778899aabbccddeeff01020304"

func TestParseCDNExpiry(t *testing.T) {
	for _, tc := range []struct {
		url  string
		unix int64 // 0: no expiry
	}{
		{"https://audio-ak.example/audio/ab?__token__=exp=1688165560~hmac=4e66", 1688165560},
		{"https://audio-ak.example/audio/ab?__token__=st=1~exp=1688165561~acl=x", 1688165561},
		{"https://audio-ak.example/audio/ab?__token__=exp=1688165562", 1688165562},
		{"https://audio-gm.example/audio/ab?Expires=1688165563~FullPath~hmac=IIZA", 1688165563},
		{"https://audio4-fa.example/audio/ab?1688165564_0GKSyXjLaTW1Bk=", 1688165564},
		{"https://audio4-fa.example/foo?baz", 0},
		{"https://audio4-fa.example/foo", 0},
		{"https://audio4-fa.example/foo?__token__=hmac=1", 0},
		{"https://audio4-fa.example/foo?__token__=exp=soon~hmac=1", 0},
		{"https://audio4-fa.example/foo?Expires=~x", 0},
		{"https://audio4-fa.example/foo?_x", 0},
		{"https://audio4-fa.example/foo?-5_x", 0},
		{"https://audio4-fa.example/foo?99999999999999999999_x", 0},
		{"::not a url", 0},
	} {
		got, ok := ParseCDNExpiry(tc.url)
		if tc.unix == 0 {
			if ok {
				t.Errorf("%s: expiry %v, want none", tc.url, got)
			}
			continue
		}
		if !ok || got.Unix() != tc.unix {
			t.Errorf("%s: expiry %v %v, want %d", tc.url, got, ok, tc.unix)
		}
	}
}

func TestStorageResolvePathsAndAnswers(t *testing.T) {
	e := newEnv(t, nil)
	urlA := "https://cdn-a.test/audio/" + testFileHex + "?__token__=exp=2000000000~hmac=1"
	e.srv.SetSpclientMediaStorage(testFileHex, func(int) *downloadpb.StorageResolveResponse {
		return spotifytest.SpclientMediaCDN(urlA, "https://cdn-b.test/audio/x", "/relative/dropped", "http://plain.test/dropped")
	})
	for _, prefetch := range []bool{false, true} {
		urls, err := e.c.StorageResolve(context.Background(), 2, testFileID, prefetch)
		if err != nil {
			t.Fatal(err)
		}
		if len(urls) != 2 || urls[0].URL != urlA || urls[0].Expires.Unix() != 2000000000 || !urls[1].Expires.IsZero() {
			t.Fatalf("urls %+v", urls)
		}
	}
	got := e.srv.SpclientMediaResolves()
	want := []spotifytest.SpclientMediaResolve{
		{Kind: "interactive", Format: 2, FileID: testFileHex},
		{Kind: "interactive_prefetch", Format: 2, FileID: testFileHex},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("requests %+v, want %+v", got, want)
	}
	if p := e.script.received()[0].Path; p != "/storage-resolve/v2/files/audio/interactive/2/"+testFileHex {
		t.Fatalf("path %q", p)
	}
}

func TestStorageResolveUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp *downloadpb.StorageResolveResponse
	}{
		{"restricted", &downloadpb.StorageResolveResponse{Result: downloadpb.StorageResolveResponse_RESTRICTED}},
		{"storage", &downloadpb.StorageResolveResponse{Result: downloadpb.StorageResolveResponse_STORAGE, Cdnurl: []string{"https://x.test/a"}}},
		{"empty answer", &downloadpb.StorageResolveResponse{}},
		{"only unusable URLs", spotifytest.SpclientMediaCDN("ftp://x.test/a", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.srv.SetSpclientMediaStorage(testFileHex, func(int) *downloadpb.StorageResolveResponse { return tc.resp })
			_, err := e.c.StorageResolve(context.Background(), 1, testFileID, false)
			var se *StorageResolveError
			if !errors.As(err, &se) || !errors.Is(err, ErrUnavailable) || se.FileID != testFileHex {
				t.Fatalf("err %v, want a StorageResolveError matching ErrUnavailable", err)
			}
		})
	}
	e := newEnv(t, nil)
	if _, err := e.c.StorageResolve(context.Background(), 1, testFileID[:19], false); err == nil {
		t.Fatal("19-byte file id accepted")
	}
	if _, err := e.c.StorageResolve(context.Background(), 1, testFileID, false); err == nil {
		t.Fatal("unknown file (404): no error")
	}
}

func TestStorageResolveRetries503(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.SetSpclientMediaStorage(testFileHex, func(int) *downloadpb.StorageResolveResponse {
		return spotifytest.SpclientMediaCDN("https://cdn-a.test/a")
	})
	e.script.add(step{status: http.StatusServiceUnavailable})
	urls, err := e.c.StorageResolve(context.Background(), 1, testFileID, false)
	if err != nil || len(urls) != 1 {
		t.Fatalf("%v %v", urls, err)
	}
	if n := len(e.script.received()); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestCDNURLsCacheAndRefreshBeforeExpiry(t *testing.T) {
	e := newEnv(t, nil)
	exp := e.tm.Now().Add(time.Hour).Unix()
	e.srv.SetSpclientMediaStorage(testFileHex, func(n int) *downloadpb.StorageResolveResponse {
		return spotifytest.SpclientMediaCDN("https://cdn-" + string(rune('a'+n-1)) + ".test/a?__token__=exp=" + strconv.FormatInt(exp, 10))
	})
	src := NewCDNURLs(e.c, 2, testFileID, false, e.tm.Now, 0)
	ctx := context.Background()
	first := func() string {
		t.Helper()
		u, err := src.URLs(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		return u[0].URL
	}
	if u := first(); !strings.HasPrefix(u, "https://cdn-a.test/") {
		t.Fatalf("first %q", u)
	}
	if u := first(); !strings.HasPrefix(u, "https://cdn-a.test/") || len(e.srv.SpclientMediaResolves()) != 1 {
		t.Fatal("cached URLs resolved again")
	}
	// Within five minutes of the expiry: resolved again before use.
	e.tm.Sleep(ctx, 56*time.Minute)
	if u := first(); !strings.HasPrefix(u, "https://cdn-b.test/") {
		t.Fatalf("after 56 min %q, want fresh URLs", u)
	}
	if u, err := src.URLs(ctx, true); err != nil || !strings.HasPrefix(u[0].URL, "https://cdn-c.test/") {
		t.Fatalf("refresh: %v %v", u, err)
	}
	if n := len(e.srv.SpclientMediaResolves()); n != 3 {
		t.Fatalf("%d resolves, want 3", n)
	}
}

// TestStreamExpiredURLResolvesAgain: the whole fetch path on one fake. The
// first host answers 403 (expired) in the middle of the file; the stream
// asks storage-resolve again, goes to the host it names, and the bytes
// arrive complete and in place.
func TestStreamExpiredURLResolvesAgain(t *testing.T) {
	f := spotifytest.New(t)
	sp := spotifytest.NewSpclientServer()
	cdn := spotifytest.NewCDNServer()
	f.Handle("spclient.test", sp)
	f.Handle("cdn-a.test", cdn)
	f.Handle("cdn-b.test", cdn)
	data := make([]byte, 300_000)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(data)
	path := "/audio/" + testFileHex
	cdn.CDNSetFile(path, data)
	sp.SetSpclientMediaStorage(testFileHex, func(n int) *downloadpb.StorageResolveResponse {
		if n == 1 {
			return spotifytest.SpclientMediaCDN(spotifytest.CDNURL("cdn-a.test", path, "__token__=exp=4000000000~hmac=1"))
		}
		return spotifytest.SpclientMediaCDN(spotifytest.CDNURL("cdn-b.test", path, "4000000000_sig"))
	})
	tk := &tokens{}
	c, err := New(Config{HTTPClient: f.Client(), Addr: "spclient.test:443", DeviceID: testDeviceID, Token: tk.Token})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var waits []time.Duration
	s, err := source.Open(context.Background(), source.Config{
		Client:    f.Client(),
		URLs:      NewCDNURLs(c, 2, testFileID, false, nil, 0),
		ChunkSize: 32 << 10,
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cdn.CDNExpire("cdn-a.test", true)
	got, err := io.ReadAll(io.NewSectionReader(s, 0, s.Size()))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %v (equal %v)", err, bytes.Equal(got, data))
	}
	if n := len(sp.SpclientMediaResolves()); n != 2 {
		t.Fatalf("%d storage-resolves, want 2", n)
	}
	rs := cdn.CDNRanges()
	if rs[1].Host != "cdn-a.test" || rs[1].Status != http.StatusForbidden || rs[2].Host != "cdn-b.test" || rs[2].First != rs[1].First {
		t.Fatalf("want the 403 on cdn-a, then the same range on cdn-b: %+v", rs[:3])
	}
	if len(waits) != 0 {
		t.Fatalf("waited %v", waits)
	}
}

func FuzzDecodeStorageResolve(f *testing.F) {
	for _, m := range []*downloadpb.StorageResolveResponse{
		spotifytest.SpclientMediaCDN("https://a.test/x?__token__=exp=1~h=2", "https://b.test/y?1_2", "https://c.test/z?Expires=3~F~h"),
		{Result: downloadpb.StorageResolveResponse_RESTRICTED},
		{Result: downloadpb.StorageResolveResponse_CDN, Fileid: testFileID},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x03, 'a', 'b'})
	f.Fuzz(func(t *testing.T, b []byte) {
		urls, err := DecodeStorageResolve(b, testFileID)
		if err == nil && len(urls) == 0 {
			t.Fatal("no error and no URLs")
		}
		for _, u := range urls {
			// Schemes are case-insensitive (RFC 3986 3.1): "HTTPS://" is
			// https, so the check parses rather than compares prefixes.
			p, err := url.Parse(u.URL)
			if err != nil || p.Scheme != "https" || p.Host == "" {
				t.Fatalf("URL %q passed", u.URL)
			}
		}
	})
}

func TestStorageResolvePathFormat(t *testing.T) {
	if p := StorageResolvePath(0, testFileID, true); p != "storage-resolve/v2/files/audio/interactive_prefetch/0/"+hex.EncodeToString(testFileID) {
		t.Fatal(p)
	}
}
