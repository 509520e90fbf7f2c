package player

import (
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio"
	"github.com/speakerbox/speakerbox/audio/audiotest"
)

// stallingSource serves b, but the read that takes the byte at cut waits
// until unstall: a download that stalls halfway. (Reads elsewhere, such
// as the decoder's look at the end of the file for its length, go on.)
type stallingSource struct {
	b       []byte
	cut     int64
	stalled atomic.Bool
	release chan struct{}
	once    sync.Once
}

func (s *stallingSource) ReadAt(p []byte, off int64) (int, error) {
	if off <= s.cut && s.cut < off+int64(len(p)) {
		select {
		case <-s.release:
		default:
			s.stalled.Store(true)
			<-s.release
		}
	}
	if off >= int64(len(s.b)) {
		return 0, io.EOF
	}
	n := copy(p, s.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (s *stallingSource) unstall() {
	s.once.Do(func() {
		s.stalled.Store(false)
		close(s.release)
	})
}

// clockedSink is a memSink that claims a device clock (it can under-run):
// every Write waits for a token, which the test hands out.
type clockedSink struct{ memSink }

func (s *clockedSink) Xruns() uint64 { return 0 }

// waitUntil polls cond (the player's counters have no event to wait on);
// the outcome never depends on how long a poll takes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// TestStatsCountAnUnderrunWhenTheSourceStalls: the device is fed only
// while the ring is at least half full, so playback never outruns the
// decoder, except while the source stalls halfway through the track:
// then the ring runs dry mid-track, which is exactly one under-run. The
// decoded audio adds up to the track, and nothing is lost.
func TestStatsCountAnUnderrunWhenTheSourceStalls(t *testing.T) {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96, Repeat: 4}))
	all := decodeAll(t, b)
	length := time.Duration(len(all)/2) * time.Second / 44100
	// The cut lies after the decoder's first 32 KiB fill and before the
	// last Ogg page's worth (64 KiB), which Open reads to check the end.
	cut := int64(len(b) - 27 - 255 - 255*255 - 8<<10)
	if cut < 40<<10 {
		t.Fatalf("test track of %d bytes too short for a stall in the middle", len(b))
	}
	src := &stallingSource{b: b, cut: cut, release: make(chan struct{})}

	s := &clockedSink{}
	s.block = make(chan struct{})
	cfg := exactConfig(&s.memSink)
	cfg.NewSink = func() (audio.Sink, error) { return s, nil }
	p := newPlayer(t, cfg)
	t.Cleanup(src.unstall) // before the player's Close (cleanups run last first)
	if st := p.Stats(); st != (Stats{}) {
		t.Fatalf("stats before anything played: %+v", st)
	}

	done := make(chan struct{})
	fed := make(chan struct{})
	// hold (false) stops the feeding and returns only once no token is on
	// offer: a token offered during the stall and taken after it would let
	// the device write a period the moment the ring holds one, and starve
	// again right after (a second under-run, seen under load). feed (true)
	// goes on, no longer draining for the stall.
	ctl := make(chan bool)
	go func() {
		defer close(fed)
		hold, draining := false, true
		for {
			st := p.Stats()
			want := !hold && (st.BufferFill >= 0.5 || (draining && src.stalled.Load()) || st.DecodedAudio >= length-time.Millisecond)
			var tokens chan struct{}
			var poll <-chan time.Time
			if want {
				tokens = s.block
			} else {
				poll = time.After(100 * time.Microsecond)
			}
			select {
			case tokens <- struct{}{}:
			case <-poll:
			case feed := <-ctl:
				hold = !feed
				if feed {
					draining = false
				}
			case <-done:
				return
			}
		}
	}()
	defer func() { close(done); <-fed }()

	p.Load(Track{ID: "t", Source: src, Size: int64(len(b))}, true, 0)
	waitUntil(t, "the under-run", func() bool { return p.Stats().Underruns > 0 })
	if st := p.Stats(); st.Underruns != 1 || st.BufferFill != 0 {
		t.Fatalf("during the stall: %+v, want one under-run and an empty ring", st)
	}
	ctl <- false
	src.unstall()
	ctl <- true
	waitUntil(t, "all decoded", func() bool { return p.Stats().DecodedAudio >= length-time.Millisecond })
	atEnd := p.Stats().Underruns
	var seen []Event
	waitFor(t, p, EndOfQueue, &seen)

	st := p.Stats()
	if st.Underruns != 1 {
		t.Errorf("%d under-runs, want 1 (the stall); %d when all was decoded", st.Underruns, atEnd)
	}
	if d := st.DecodedAudio - length; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("decoded audio %v, want %v", st.DecodedAudio, length)
	}
	if st.DecodeTime <= 0 {
		t.Errorf("decode time %v", st.DecodeTime)
	}
	if st.Xruns != 0 {
		t.Errorf("%d xruns from a sink that has none", st.Xruns)
	}
	got, _ := s.snapshot()
	compareFloats(t, floats(got), all, "played audio")
}

// TestStatsIgnoreClocklessSinks: a sink without a clock (null, WAV) takes
// whatever the ring holds at once; an empty ring there is no gap.
func TestStatsIgnoreClocklessSinks(t *testing.T) {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	p := newPlayer(t, exactConfig(&memSink{}))
	p.Load(plainTrack(t, "t", b), true, 0)
	waitFor(t, p, EndOfQueue, nil)
	if st := p.Stats(); st.Underruns != 0 || st.DecodedAudio == 0 {
		t.Fatalf("%+v", st)
	}
}

// The counters sit on the audio hot path: updating them and reading them
// allocates nothing.
func TestStatsCountersDoNotAllocate(t *testing.T) {
	p := newPlayer(t, exactConfig(&memSink{}))
	o := &out{p: p, sink: &clockedSink{}, started: 1, cur: segment{instance: 1}}
	if n := testing.AllocsPerRun(1000, func() {
		p.stats.noteDecode(3*time.Millisecond, 4096, 44100, 2)
		o.noteRing(2)
		o.dry = false
		p.stats.xruns.Add(1)
		_ = p.Stats()
	}); n != 0 {
		t.Fatalf("%v allocations per period", n)
	}
	if st := p.Stats(); st.Underruns == 0 || st.Xruns == 0 || st.DecodedAudio == 0 {
		t.Fatalf("counters did not move: %+v", st)
	}
}

// TestStatsFormatFollowsTheSink: Stats().Format is what the open sink
// took (the status page's negotiated format), and the zero Format once the
// player let the device go.
func TestStatsFormatFollowsTheSink(t *testing.T) {
	b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}))
	p := newPlayer(t, exactConfig(&memSink{}))
	if f := p.Stats().Format; f != (audio.Format{}) {
		t.Fatalf("before any sink: %+v", f)
	}
	p.Load(plainTrack(t, "t", b), true, 0)
	opened := waitFor(t, p, SinkOpened, nil)
	if f := p.Stats().Format; f != opened.Format || f.Rate != 44100 {
		t.Fatalf("open: Stats %+v, event %+v", f, opened.Format)
	}
	var seen []Event
	waitFor(t, p, EndOfQueue, &seen)
	closed := false
	for _, e := range seen {
		closed = closed || e.Type == SinkClosed || e.Type == SinkTemporarilyClosed
	}
	if !closed {
		p.CloseOutput()
		waitFor(t, p, SinkClosed, &seen)
	}
	if f := p.Stats().Format; f != (audio.Format{}) {
		t.Fatalf("after the device was let go: %+v", f)
	}
}
