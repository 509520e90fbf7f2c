package spotifytest_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"testing"
	"time"

	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"

	"github.com/speakerbox/speakerbox/audio/decrypt"
	"github.com/speakerbox/speakerbox/receiver/spclient"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// PublishMedia's parts fit together: the CDN URL carries the expiry in a
// form spclient parses, the CDN serves the encrypted file, the AP hands
// out the key that decrypts it to header + Ogg, and every format listed
// has its own file id.
func TestPublishMedia(t *testing.T) {
	f := spotifytest.New(t)
	sp, cdn := spotifytest.NewSpclientServer(), spotifytest.NewCDNServer()
	f.Handle("spclient.test", sp)
	f.Handle("cdn-x.test", cdn)
	ap := spotifytest.NewAPFake(spotifytest.APFakeConfig{})
	defer ap.Close()
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ogg := spotifytest.MediaOgg(t, 96, 0, 1)
	it := spotifytest.MediaItem{URI: spotifytest.MediaURI("track", "x"), Ogg: ogg,
		Formats: []metadatapb.AudioFile_Format{metadatapb.AudioFile_OGG_VORBIS_96, metadatapb.AudioFile_MP3_96},
		Expires: func(int) time.Time { return exp }}
	pub := spotifytest.PublishMedia(t, sp, cdn, ap.APKeyTable, []string{"cdn-x.test"}, it)
	id96, idMP3 := pub.MediaFileID(metadatapb.AudioFile_OGG_VORBIS_96), pub.MediaFileID(metadatapb.AudioFile_MP3_96)
	if len(id96) != 40 || len(idMP3) != 40 || id96 == idMP3 {
		t.Fatalf("file ids %q %q", id96, idMP3)
	}
	u := spotifytest.MediaCDNURL("cdn-x.test", id96, exp)
	if got, ok := spclient.ParseCDNExpiry(u); !ok || !got.Equal(exp) {
		t.Errorf("ParseCDNExpiry(%s) = %v, %v; want %v", u, got, ok, exp)
	}
	resp, err := f.Client().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, pub.File) {
		t.Fatalf("CDN: %s, %d bytes; want the %d-byte file", resp.Status, len(body), len(pub.File))
	}
	var fid [20]byte
	b, _ := hex.DecodeString(id96)
	copy(fid[:], b)
	key, err := ap.AudioKey(context.Background(), pub.GID, fid)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := decrypt.NewReaderAt(bytes.NewReader(body), key[:])
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(body))
	if _, err := plain.ReadAt(got, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if !bytes.Equal(got[167:], ogg) || !bytes.Equal(got, pub.Plain) {
		t.Error("the decrypted file is not the 167-byte header and the Ogg")
	}
}
