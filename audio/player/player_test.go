package player

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/audiotest"
	"github.com/speakerbox/speakerbox/audio/decode/decodetest"
	"github.com/speakerbox/speakerbox/audio/gain"
	"github.com/speakerbox/speakerbox/audio/source"
)

func plainTrack(t testing.TB, id string, b []byte) Track {
	return Track{ID: id, Source: bytes.NewReader(b), Size: int64(len(b))}
}

func decodeAll(t testing.TB, b []byte) []float32 { return decodetest.All(t, b) }

func floats(b []byte) []float32 {
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return f
}

// exactConfig makes the player an identity from decoder to sink: float
// output, unity gain, no normalisation.
func exactConfig(s *memSink) Config {
	s.sample = audio.FloatLE
	return Config{
		NewSink: func() (audio.Sink, error) { return s, nil },
		Sample:  audio.FloatLE,
		Volume:  gain.Volume{Curve: gain.CurveFixed},
	}
}

func newPlayer(t *testing.T, cfg Config) *Player {
	t.Helper()
	p, err := NewPlayer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// waitFor collects events until one of type typ arrives (30 s bound, so a
// hang fails instead of blocking the suite).
func waitFor(t *testing.T, p *Player, typ EventType, seen *[]Event) Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e := <-p.Events():
			if seen != nil && e.Type != Position {
				*seen = append(*seen, e)
			}
			if e.Type == typ {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event; saw %v", typ, *seen)
		}
	}
}

func compareFloats(t *testing.T, got, want []float32, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d samples, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: sample %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// feed lets every write of a blocking sink through until stopped.
func feed(s *memSink) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case s.block <- struct{}{}:
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

func TestGaplessIsSampleExact(t *testing.T) {
	var files [][]byte
	var want []float32
	for v := 0; v < 3; v++ {
		b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 160, Variant: v}))
		files = append(files, b)
		want = append(want, decodeAll(t, b)...)
	}
	s := &memSink{}
	p := newPlayer(t, exactConfig(s))
	p.Load(plainTrack(t, "t0", files[0]), true, 0)
	p.Enqueue(plainTrack(t, "t1", files[1]))
	var seen []Event
	for {
		e := waitFor(t, p, TrackDecoding, &seen)
		if e.TrackID == "t1" {
			p.Enqueue(plainTrack(t, "t2", files[2]))
			break
		}
	}
	waitFor(t, p, EndOfQueue, &seen)
	got, _ := s.snapshot()
	compareFloats(t, floats(got), want, "gapless output")
	var types []string
	for _, e := range seen {
		types = append(types, e.Type.String()+":"+e.TrackID)
	}
	var played []string
	for _, x := range types {
		if !strings.HasPrefix(x, "track-decoding") {
			played = append(played, x)
		}
	}
	wantTypes := []string{"sink-opened:t0", "track-started:t0", "track-ended:t0", "track-started:t1",
		"track-ended:t1", "track-started:t2", "track-ended:t2", "sink-temporarily-closed:", "end-of-queue:t2"}
	if strings.Join(played, " ") != strings.Join(wantTypes, " ") {
		t.Fatalf("events %v, want %v", played, wantTypes)
	}
	if s.opens != 1 {
		t.Fatalf("sink opened %d times; want once (no gap)", s.opens)
	}
}

func TestMonoTrackIsUpmixedAndRateChangeReopens(t *testing.T) {
	mono := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 48000, Channels: 1, Kbps: 96}))
	st := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	s := &memSink{}
	p := newPlayer(t, exactConfig(s))
	p.Load(plainTrack(t, "mono", mono), true, 0)
	p.Enqueue(plainTrack(t, "stereo", st))
	var seen []Event
	waitFor(t, p, EndOfQueue, &seen)
	got, _ := s.snapshot()
	m, stf := decodeAll(t, mono), decodeAll(t, st)
	var want []float32
	for _, x := range m {
		want = append(want, x, x)
	}
	want = append(want, stf...)
	compareFloats(t, floats(got), want, "mono then stereo")
	if s.opens != 2 {
		t.Fatalf("sink opened %d times, want 2 (48 kHz then 44.1 kHz)", s.opens)
	}
}

func TestEncryptedTrackOverHTTPWithNormalisation(t *testing.T) {
	ogg := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 320}))
	file := audiotest.SpotifyBytes(t, ogg, audiotest.Key, audiotest.Norm)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(file))
	}))
	defer srv.Close()
	src, err := source.OpenHTTP(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	s := &memSink{}
	cfg := exactConfig(s)
	cfg.Normalisation = gain.Normalisation{Mode: gain.NormTrack}
	p := newPlayer(t, cfg)
	p.Load(Track{ID: "enc", Source: src, Size: src.Size(), Key: audiotest.Key}, true, 0)
	var seen []Event
	waitFor(t, p, EndOfQueue, &seen)
	got, _ := s.snapshot()
	plain := decodeAll(t, ogg)
	factor := float32(math.Pow(10, -3.5/20))
	want := make([]float32, len(plain))
	for i, x := range plain {
		want[i] = x * factor
	}
	compareFloats(t, floats(got), want, "decrypted, normalised")
}

func TestBadTracksAreSkippedWithErrorEvents(t *testing.T) {
	good := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	enc := audiotest.SpotifyBytes(t, good, audiotest.Key, audiotest.Norm)
	corrupt := append([]byte(nil), good...)
	for i := len(good) / 2; i < len(good)/2+100; i++ {
		corrupt[i] ^= 0xa5
	}
	wrongKey := append([]byte(nil), audiotest.Key...)
	wrongKey[0] ^= 1
	garbage := append([]byte(nil), enc[:200]...)
	garbage = append(garbage, bytes.Repeat([]byte{0x42}, 50000)...)
	cases := []struct {
		name string
		tr   Track
	}{
		{"wrong key", Track{ID: "x", Source: bytes.NewReader(enc), Size: int64(len(enc)), Key: wrongKey}},
		{"truncated", plainTrack(t, "x", good[:len(good)/3])},
		{"corrupted page", plainTrack(t, "x", corrupt)},
		{"garbage after header", Track{ID: "x", Source: bytes.NewReader(garbage), Size: int64(len(garbage)), Key: audiotest.Key}},
		{"empty", Track{ID: "x", Source: bytes.NewReader(nil), Size: 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &memSink{}
			p := newPlayer(t, exactConfig(s))
			// The bad track is queued after a good one: the good one plays,
			// the bad one reports an error, and the queue ends.
			p.Load(plainTrack(t, "good", good), true, 0)
			p.Enqueue(c.tr)
			var seen []Event
			waitFor(t, p, EndOfQueue, &seen)
			var e Event
			for _, x := range seen {
				if x.Type == TrackError {
					e = x
				}
			}
			if e.Type == 0 {
				e = waitFor(t, p, TrackError, &seen)
			}
			if e.TrackID != "x" || e.Err == nil {
				t.Fatalf("error event %v", e)
			}
			t.Logf("%s: %v", c.name, e.Err)
			// And loaded directly.
			p.Load(c.tr, true, 0)
			e = waitFor(t, p, TrackError, &seen)
			if e.TrackID != "x" {
				t.Fatalf("error event %v", e)
			}
		})
	}
}

func TestSeekWhilePausedIsExact(t *testing.T) {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 48000, Channels: 2, Kbps: 160}))
	all := decodeAll(t, b)
	s := &memSink{}
	p := newPlayer(t, exactConfig(s))
	p.Load(plainTrack(t, "t", b), false, 1000)
	p.SeekMs(3210)
	p.Play()
	var seen []Event
	st := waitFor(t, p, TrackStarted, &seen)
	if st.PositionMs != 3210 {
		t.Fatalf("started at %d ms", st.PositionMs)
	}
	waitFor(t, p, EndOfQueue, &seen)
	got, _ := s.snapshot()
	compareFloats(t, floats(got), all[3210*48*2:], "after seek")
}

// TestSeekWhilePlayingDropsStaleAudio: the sink is slow (each write waits
// for a token); after a seek, nothing from before it is written except the
// period that was already in the sink's hands.
func TestSeekWhilePlayingDropsStaleAudio(t *testing.T) {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	all := decodeAll(t, b)
	s := &memSink{block: make(chan struct{})}
	p := newPlayer(t, exactConfig(s))
	p.Load(plainTrack(t, "t", b), true, 0)
	for i := 0; i < 10; i++ {
		s.block <- struct{}{}
	}
	// Let the ring fill up, then seek.
	for p.BufferFill() < 10000 {
		time.Sleep(time.Millisecond)
	}
	p.SeekMs(5000)
	stop := feed(s)
	var seen []Event
	waitFor(t, p, EndOfQueue, &seen)
	stop()
	got, chunks := s.snapshot()
	f := floats(got)
	// Before the seek: a prefix of the track, at most the 10 periods the
	// sink took plus the one it held when the seek came (20 ms stereo
	// periods at 44.1 kHz: 1764 samples).
	pre := 0
	for pre < len(f) && f[pre] == all[pre] {
		pre++
	}
	if pre > 11*1764 {
		t.Fatalf("%d samples from before the seek were played (stale audio)", pre)
	}
	rest := f[pre:]
	// The seek is exact only if the prefix does not happen to continue
	// into the new audio; it cannot, as the material differs.
	compareFloats(t, rest, all[5000*441/10*2:], "after seek")
	if s.pauses == 0 {
		t.Fatal("device buffer was not dropped on seek")
	}
	_ = chunks
}

func TestGateAndKeepOutputOpen(t *testing.T) {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 1, Kbps: 96}))
	var log []string
	g := &gate{log: &log, entered: make(chan struct{}), release: make(chan struct{})}
	s := &memSink{log: &log, block: make(chan struct{}, 1000)}
	for i := 0; i < 20; i++ {
		s.block <- struct{}{}
	}
	ticks := make(chan time.Time)
	cfg := exactConfig(s)
	cfg.Gate = g
	cfg.KeepOutputOpen = true
	cfg.Tick = func(time.Duration) (<-chan time.Time, func()) { return ticks, func() {} }
	p := newPlayer(t, cfg)
	p.Load(plainTrack(t, "t", b), true, 0)
	<-g.entered
	if s.opens != 0 {
		t.Fatal("sink opened before the gate allowed it")
	}
	close(g.release)
	var seen []Event
	waitFor(t, p, SinkOpened, &seen)
	p.Pause()
	// Feed the sink: pausing with keep_output_open writes silence per tick.
	for i := 0; i < 100; i++ {
		s.block <- struct{}{}
	}
	for i := 0; i < 5; i++ {
		ticks <- time.Time{}
	}
	ticks <- time.Time{} // the fifth tick's write is done once this one is taken
	after, chunks := s.snapshot()
	// The last five writes are one period of silence each (20 ms of mono
	// upmixed to stereo float: 882 x 2 x 4 bytes).
	if len(chunks) < 5 {
		t.Fatalf("%d writes", len(chunks))
	}
	for _, c := range chunks[len(chunks)-5:] {
		if c != 882*2*4 {
			t.Fatalf("silence writes %v, want one period each", chunks[len(chunks)-5:])
		}
	}
	for _, x := range after[len(after)-5*882*2*4:] {
		if x != 0 {
			t.Fatal("non-silent bytes while paused")
		}
	}
	if s.closes != 0 {
		t.Fatal("sink closed while paused with keep_output_open")
	}
	p.CloseOutput()
	waitFor(t, p, SinkClosed, &seen)
	p.Close()
	want := []string{"gate open", "sink open", "sink close", "gate closed"}
	if len(log) != 4 {
		t.Fatalf("calls %v, want %v", log, want)
	}
	for i := range want {
		if log[i] != want[i] {
			t.Fatalf("calls %v, want %v", log, want)
		}
	}
}

func TestPauseWithoutKeepOpenClosesAndResumes(t *testing.T) {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	all := decodeAll(t, b)
	s := &memSink{block: make(chan struct{}, 1000)}
	for i := 0; i < 30; i++ {
		s.block <- struct{}{}
	}
	p := newPlayer(t, exactConfig(s))
	p.Load(plainTrack(t, "t", b), true, 0)
	var seen []Event
	waitFor(t, p, SinkOpened, &seen)
	p.Pause()
	// The output may have used every token already and wait in Write:
	// tokens from now on let it return and see the pause (it writes at
	// most one more period, well before the track's end).
	stop := feed(s)
	waitFor(t, p, SinkTemporarilyClosed, &seen)
	p.Play()
	waitFor(t, p, EndOfQueue, &seen)
	stop()
	got, _ := s.snapshot()
	// Pause loses nothing: the whole track arrives, across two opens.
	compareFloats(t, floats(got), all, "paused and resumed")
	if s.opens != 2 {
		t.Fatalf("%d opens", s.opens)
	}
	// Started and resumed once sound leaves the reopened device; paused
	// before the device closes; a resume is not a new start.
	checkOrder(t, seen, "sink-opened", "track-started", "paused", "sink-temporarily-closed",
		"sink-opened", "resumed", "track-ended", "sink-temporarily-closed", "end-of-queue")
}

// checkOrder compares the events seen (without Position and TrackDecoding)
// with want.
func checkOrder(t *testing.T, seen []Event, want ...string) {
	t.Helper()
	var got []string
	for _, e := range seen {
		if e.Type != Position && e.Type != TrackDecoding {
			got = append(got, e.Type.String())
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// TestTrackStartedAfterGate: the order that Observe sees, on the output
// goroutine, beside the gate's own calls: the gate lets the device open,
// it opens, SinkOpened; only then is the first period written and
// TrackStarted sent. Events sent on the channel come in the same order.
func TestTrackStartedAfterGate(t *testing.T) {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	// Gate, sink and Observe all note into log on the output goroutine
	// (the decoder's TrackDecoding is left out); it is read after Close.
	var log []string
	g := &gate{log: &log}
	s := &memSink{log: &log}
	cfg := exactConfig(s)
	cfg.Gate = g
	cfg.Observe = func(e Event) {
		if e.Type == Position || e.Type == TrackDecoding {
			return
		}
		log = append(log, e.Type.String())
	}
	p := newPlayer(t, cfg)
	p.Load(plainTrack(t, "t", b), true, 0)
	var seen []Event
	waitFor(t, p, EndOfQueue, &seen)
	p.Close()
	// The device is closed before the queue's end is reported.
	want := []string{"gate open", "sink open", "sink-opened", "track-started", "track-ended",
		"sink close", "gate closed", "sink-temporarily-closed", "end-of-queue"}
	got := strings.Join(log, ", ")
	if got != strings.Join(want, ", ") {
		t.Fatalf("calls and events\n%s\nwant\n%s", got, strings.Join(want, ", "))
	}
	checkOrder(t, seen, "sink-opened", "track-started", "track-ended", "sink-temporarily-closed", "end-of-queue")
}

func TestVolumeAndPosition(t *testing.T) {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	s := &memSink{delay: 100 * time.Millisecond}
	cfg := exactConfig(s)
	cfg.Volume = gain.Volume{Curve: gain.CurveLinear}
	cfg.InitialVolume = 0
	p := newPlayer(t, cfg)
	p.Load(plainTrack(t, "t", b), true, 0)
	var positions []int64
	timeout := time.After(30 * time.Second)
loop:
	for {
		select {
		case e := <-p.Events():
			if e.Type == Position {
				positions = append(positions, e.PositionMs)
			}
			if e.Type == EndOfQueue {
				break loop
			}
		case <-timeout:
			t.Fatal("timeout")
		}
	}
	got, _ := s.snapshot()
	for i, x := range floats(got) {
		if x != 0 {
			t.Fatalf("sample %d = %v at volume 0", i, x)
		}
	}
	// Position events: increasing, about one per second, delay subtracted
	// (the first at 0: the sink delay is clamped at the start).
	if len(positions) < 5 {
		t.Fatalf("positions %v", positions)
	}
	for i := 2; i < len(positions); i++ {
		d := positions[i] - positions[i-1]
		if d < 950 || d > 1050 {
			t.Fatalf("positions %v", positions)
		}
		if positions[i]%1000 < 880 && positions[i]%1000 > 120 {
			t.Fatalf("position %d does not reflect the 100 ms sink delay", positions[i])
		}
	}
}

// TestNoAllocationsPerPeriod: what the player allocates beyond the decoder
// must not grow with the length of the track (a per-track constant: the
// decoder set-up, events), so the periods themselves allocate nothing.
func TestNoAllocationsPerPeriod(t *testing.T) {
	short := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	long := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96, Repeat: 4}))
	extra := func(b []byte) int64 {
		// The smallest of two runs: other goroutines of the test binary
		// allocate now and then.
		best := int64(math.MaxInt64)
		for i := 0; i < 2; i++ {
			pa, _ := playAllocs(t, b)
			da, _ := decodeAllocs(t, b)
			best = min(best, int64(pa)-int64(da))
		}
		return best
	}
	es, el := extra(short), extra(long)
	// The long track has about 960 more 20 ms periods than the short one.
	t.Logf("allocations beyond the decoder: %d (6.4 s track), %d (25.6 s track)", es, el)
	if el-es > 30 {
		t.Fatalf("our stages allocate per period: %d more allocations for a 4x longer track", el-es)
	}
}

// TestPauseIsInstantAndLosesNothing: the sink acts as a device holding
// 100 ms; Pause drops that at once, and Play resumes at the first dropped
// sample, so the audio heard is the whole track without a repeat or a gap.
func TestPauseIsInstantAndLosesNothing(t *testing.T) {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	all := decodeAll(t, b)
	s := &memSink{delay: 100 * time.Millisecond, holds: true, block: make(chan struct{})}
	p := newPlayer(t, exactConfig(s))
	p.Load(plainTrack(t, "t", b), true, 0)
	for i := 0; i < 50; i++ {
		s.block <- struct{}{}
	}
	p.Pause()
	var seen []Event
	timeout := time.After(30 * time.Second)
wait:
	for {
		select {
		case s.block <- struct{}{}:
		case e := <-p.Events():
			seen = append(seen, e)
			if e.Type == SinkTemporarilyClosed {
				break wait
			}
		case <-timeout:
			t.Fatalf("pause did not close the sink; events %v", seen)
		}
	}
	got, _ := s.snapshot()
	if s.pauses != 1 {
		t.Fatalf("%d drops, want 1", s.pauses)
	}
	// Position: what the device had played when the pause came.
	frames := int64(len(got) / 8)
	if _, pos := p.Position(); pos != frames*1000/44100 {
		t.Fatalf("position %d ms after pause, heard %d frames (%d ms)", pos, frames, frames*1000/44100)
	}
	p.Play()
	stop := feed(s)
	waitFor(t, p, EndOfQueue, &seen)
	stop()
	got, _ = s.snapshot()
	compareFloats(t, floats(got), all, "paused and resumed")
	// The drop on pause is a flush of our own: what follows resumes the
	// same track, from where it was heard.
	checkOrder(t, seen, "sink-opened", "track-started", "paused", "sink-temporarily-closed",
		"sink-opened", "resumed", "track-ended", "sink-temporarily-closed", "end-of-queue")
	for _, e := range seen {
		if (e.Type == Paused || e.Type == Resumed) && e.PositionMs != frames*1000/44100 {
			t.Fatalf("%v, want position %d ms", e, frames*1000/44100)
		}
	}
}

// hwSink is a device with a hardware mixer that under-runs every 100 writes.
type hwSink struct {
	memSink
	vols   []uint16
	writes uint64
}

func (s *hwSink) SetVolume(v uint16) error { s.vols = append(s.vols, v); return nil }
func (s *hwSink) Xruns() uint64            { return s.writes / 100 }
func (s *hwSink) Write(p []byte) (int, error) {
	s.writes++
	return s.memSink.Write(p)
}

func TestHardwareVolumeAndXruns(t *testing.T) {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	all := decodeAll(t, b)
	s := &hwSink{}
	cfg := exactConfig(&s.memSink)
	cfg.NewSink = func() (audio.Sink, error) { return s, nil }
	cfg.Volume = gain.Volume{Curve: gain.CurveLinear}
	cfg.HardwareVolume = true
	cfg.InitialVolume = 30000
	p := newPlayer(t, cfg)
	p.Load(plainTrack(t, "t", b), true, 0)
	var seen []Event
	x := waitFor(t, p, Xrun, &seen)
	if x.Xruns != 1 {
		t.Fatalf("first xrun event says %d", x.Xruns)
	}
	waitFor(t, p, EndOfQueue, &seen)
	p.Close()
	// The samples are untouched (full scale); the mixer got the volume.
	got, _ := s.snapshot()
	compareFloats(t, floats(got), all, "hardware volume")
	if len(s.vols) == 0 || s.vols[0] != 30000 {
		t.Fatalf("mixer volumes %v", s.vols)
	}
	if got, want := p.Stats().Xruns, s.Xruns(); got != want || want == 0 {
		t.Fatalf("Stats().Xruns = %d, the device had %d", got, want)
	}
}

// playChangedWhilePlaying plays a stereo track at full volume on the linear
// curve, calls change after the first 20 periods and returns what reached
// the sink with the track's decoded samples, as floats of the same length.
func playChangedWhilePlaying(t *testing.T, change func(*Player)) (got, all []float32) {
	t.Helper()
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	all = decodeAll(t, b)
	s := &memSink{block: make(chan struct{})}
	cfg := exactConfig(s)
	cfg.Volume = gain.Volume{Curve: gain.CurveLinear}
	cfg.InitialVolume = 65535
	p := newPlayer(t, cfg)
	p.Load(plainTrack(t, "t", b), true, 0)
	for i := 0; i < 20; i++ {
		s.block <- struct{}{}
	}
	change(p)
	stop := feed(s)
	var seen []Event
	waitFor(t, p, EndOfQueue, &seen)
	stop()
	out, _ := s.snapshot()
	got = floats(out)
	if len(got) != len(all) {
		t.Fatalf("%d samples, want %d", len(got), len(all))
	}
	return got, all
}

// TestVolumeChangeGlides: a volume change while playing reaches the samples
// as a 5 ms glide, never as a step (a click).
func TestVolumeChangeGlides(t *testing.T) {
	f, all := playChangedWhilePlaying(t, func(p *Player) { p.SetVolume(0) })
	prev, changed, zero := float32(1), false, false
	prevFrame := 0
	for i := 0; i < len(f); i += 2 {
		if math.Abs(float64(all[i])) < 1e-3 {
			continue
		}
		g := f[i] / all[i]
		if g != prev {
			changed = true
		}
		// 5 ms at 44.1 kHz is 220 frames: at most 1/220 per frame.
		if d := float64(i/2 - prevFrame); g > prev+1e-4 || float64(prev-g) > d/220+1e-4 {
			t.Fatalf("frame %d: gain %v after %v %v frames before: a step, not a 5 ms glide", i/2, g, prev, d)
		}
		prev, prevFrame = g, i/2
		zero = g == 0
	}
	if !changed || !zero {
		t.Fatalf("volume change not applied (last gain %v)", prev)
	}
}

// TestSetMaxVolumeScalesSoftwareVolume: a new cap while playing glides the
// gain from full to the capped one (MaxPercent 50 on the linear curve:
// half), the Connect volume unchanged.
func TestSetMaxVolumeScalesSoftwareVolume(t *testing.T) {
	f, all := playChangedWhilePlaying(t, func(p *Player) { p.SetMaxVolume(50) })
	full, half := 0, 0
	for i := range f {
		if math.Abs(float64(all[i])) < 1e-3 {
			continue
		}
		switch g := f[i] / all[i]; {
		case math.Abs(float64(g)-1) < 1e-6:
			if half > 0 {
				t.Fatalf("sample %d at full gain after the cap", i)
			}
			full++
		case math.Abs(float64(g)-0.5) < 1e-6:
			half++
		}
	}
	if full == 0 || half < len(f)/2 {
		t.Fatalf("%d samples at full gain, %d at half of %d: the cap did not take", full, half, len(f))
	}
}

// TestCommandsWithoutTrack: seek, stop, pause and play with nothing loaded
// do nothing harmful, and a Load afterwards plays normally.
func TestCommandsWithoutTrack(t *testing.T) {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 1, Kbps: 96}))
	s := &memSink{}
	p := newPlayer(t, exactConfig(s))
	p.SeekMs(1000)
	p.Stop()
	p.Play()
	p.Pause()
	p.SeekMs(2000)
	p.Play()
	p.CloseOutput()
	p.Load(plainTrack(t, "t", b), true, 6000)
	var seen []Event
	st := waitFor(t, p, TrackStarted, &seen)
	if st.PositionMs != 6000 {
		t.Fatalf("started at %d", st.PositionMs)
	}
	waitFor(t, p, EndOfQueue, &seen)
	got, _ := s.snapshot()
	if want := (len(decodeAll(t, b)) - 6000*441/10) * 2 * 4; len(got) != want {
		t.Fatalf("%d bytes, want %d", len(got), want)
	}
}

// TestSeekInRemoteFileTakesFewRequests: starting a 64 s file at 60 s over
// HTTP takes a handful of Range requests, not hundreds (with the header's
// seek table the decoder reads near the target; TestSeekTableCutsRangeRequests
// counts exactly).
func TestSeekInRemoteFileTakesFewRequests(t *testing.T) {
	ogg := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 320, Repeat: 10}))
	file := audiotest.SpotifyBytes(t, ogg, audiotest.Key, audiotest.Norm)
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(file))
	}))
	defer srv.Close()
	src, err := source.OpenHTTP(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	s := &memSink{}
	p := newPlayer(t, exactConfig(s))
	p.Load(Track{ID: "enc", Source: src, Size: src.Size(), Key: audiotest.Key}, true, 60000)
	var seen []Event
	waitFor(t, p, EndOfQueue, &seen)
	n := requests.Load()
	t.Logf("%d Range requests for a %d KB file started at 60 s", n, len(file)>>10)
	if n > 25 {
		t.Fatalf("%d requests", n)
	}
	got, _ := s.snapshot()
	all := decodeAll(t, ogg)
	compareFloats(t, floats(got), all[60000*441/10*2:], "remote seek")
}

// TestTrackDecodedWhilePausedStillEnds: the whole track reaches the ring
// during a pause (the producer's "ended" wake-up is taken by the paused
// output); after Play the queue must still end.
func TestTrackDecodedWhilePausedStillEnds(t *testing.T) {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	all := decodeAll(t, b)
	s := &memSink{}
	cfg := exactConfig(s)
	cfg.Buffer = 10 * time.Second // room for the whole track
	p := newPlayer(t, cfg)
	p.Load(plainTrack(t, "t", b), false, 0)
	deadline := time.Now().Add(30 * time.Second)
	for p.BufferFill() < len(all) {
		if time.Now().After(deadline) {
			t.Fatalf("ring holds %d of %d samples", p.BufferFill(), len(all))
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.Play()
	var seen []Event
	waitFor(t, p, EndOfQueue, &seen)
	got, _ := s.snapshot()
	compareFloats(t, floats(got), all, "decoded while paused")
}
