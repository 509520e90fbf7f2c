package trackload

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"

	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// BenchmarkLoad measures Load's start latency against the in-process fake
// (TLS over loopback, as the real client talks), split into its parts,
// with the cost of one spclient round trip (a storage-resolve) measured in
// the same run as the reference: Load makes three such requests (metadata,
// storage-resolve, the first 128 KiB chunk) plus the in-process key, two
// of them side by side.
func BenchmarkLoad(b *testing.B) {
	e := newTestEnv(b, spotifytest.APFakeConfig{})
	it := trackItem(b, "bench", 0)
	it.Ogg = spotifytest.MediaOgg(b, 320, 0, 4)
	it.Formats = []metadatapb.AudioFile_Format{metadatapb.AudioFile_OGG_VORBIS_320}
	pub := e.publish(b, it)
	l := e.loader(b, func(c *Config) { c.Bitrate = 320; c.Stream.ChunkSize = 0 }) // production chunks
	ctx := context.Background()
	fid, _ := hex.DecodeString(pub.MediaFileID(metadatapb.AudioFile_OGG_VORBIS_320))

	// Reference: one storage-resolve round trip.
	const refN = 200
	for range 10 { // warm the connection
		if _, err := e.sc.StorageResolve(ctx, int32(metadatapb.AudioFile_OGG_VORBIS_320), fid, false); err != nil {
			b.Fatal(err)
		}
	}
	t0 := time.Now()
	for range refN {
		if _, err := e.sc.StorageResolve(ctx, int32(metadatapb.AudioFile_OGG_VORBIS_320), fid, false); err != nil {
			b.Fatal(err)
		}
	}
	ref := time.Since(t0) / refN

	var sum Timings
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ld, err := l.Load(ctx, it.URI, false)
		if err != nil {
			b.Fatal(err)
		}
		sum.Metadata += ld.Timings.Metadata
		sum.Key += ld.Timings.Key
		sum.StorageResolve += ld.Timings.StorageResolve
		sum.FirstChunk += ld.Timings.FirstChunk
		sum.Total += ld.Timings.Total
		_ = ld.Close()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(sum.Metadata.Nanoseconds())/n, "metadata-ns")
	b.ReportMetric(float64(sum.Key.Nanoseconds())/n, "key-ns")
	b.ReportMetric(float64(sum.StorageResolve.Nanoseconds())/n, "resolve-ns")
	b.ReportMetric(float64(sum.FirstChunk.Nanoseconds())/n, "firstchunk-ns")
	b.ReportMetric(float64(ref.Nanoseconds()), "roundtrip-ns")
	b.ReportMetric(float64(sum.Total.Nanoseconds())/n/float64(ref.Nanoseconds()), "x-roundtrip")
}
