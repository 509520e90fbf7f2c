package main

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio/decode/decodetest"
	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// connectRun is `speakerbox run` in this process against a fake Spotify:
// the same wiring as on a speaker, with the way to Spotify replaced.
type connectRun struct {
	t     *testing.T
	svc   *spotifytest.Service
	ctx   context.Context
	stop  context.CancelFunc
	code  chan int
	log   *syncBuffer
	pipe  *pacedReader
	puts  int    // state PUTs looked at
	state string // the state directory
}

func startConnectRun(t *testing.T, extra ...string) *connectRun {
	t.Helper()
	return startConnectRunAs(t, "Connect Test", extra...)
}

// startConnectRunAs is startConnectRun with --name name; "" leaves the
// name to the configuration (the page's settings change only what no flag
// sets).
func startConnectRunAs(t *testing.T, name string, extra ...string) *connectRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // against a hang
	t.Cleanup(cancel)
	svc := spotifytest.NewService(t, spotifytest.APFakeConfig{})
	state := t.TempDir()
	store := creds.NewStore(state, slog.New(slog.DiscardHandler), time.Now)
	if err := store.Put(spotifytest.StoredCredentials()); err != nil {
		t.Fatal(err)
	}
	r := &connectRun{t: t, svc: svc, ctx: ctx, code: make(chan int, 1), log: &syncBuffer{}, state: state,
		pipe: newPacedReader(t, filepath.Join(t.TempDir(), "audio.fifo"))}
	runCtx, stop := context.WithCancel(ctx)
	r.stop = stop
	args := []string{"run", "--state_dir", state}
	if name != "" {
		args = append(args, "--name", name)
	}
	args = append(append(args, "--zeroconf.interfaces", "lo", "--api.address", "127.0.0.1:0",
		"--audio.output", "pipe", "--audio.path", r.pipe.path, "--audio.format", "FLOAT_LE",
		// The samples go out as decoded: no loudness change, no volume curve.
		"--audio.normalisation", "off", "--audio.volume_curve", "fixed", "--autoplay", "off"), extra...)
	access := func(string) spotifyAccess {
		return spotifyAccess{HTTP: svc.Fake.Client(), CDN: svc.Fake.Client(), Dialer: svc.Dialer}
	}
	go func() { r.code <- realMainWith(runCtx, access, args, nil, io.Discard, r.log) }()
	t.Cleanup(func() {
		// A test that failed mid-way left the speaker blocked on the
		// pipe; `run` does not interrupt its sink on shutdown, so the
		// reader goes first.
		r.pipe.closeRead()
		r.stop()
		<-r.code
		if t.Failed() {
			t.Logf("speaker log:\n%s", r.log.String())
		}
	})
	return r
}

// waitPut waits for the next state PUT that satisfies ok.
func (r *connectRun) waitPut(what string, ok func(spotifytest.ConnectStatePut) bool) spotifytest.ConnectStatePut {
	r.t.Helper()
	for {
		p, err := r.svc.Spclient.WaitConnectStatePut(r.ctx, r.puts+1)
		if err != nil {
			r.t.Fatalf("waiting for a state PUT with %s: %v\nlog:\n%s", what, err, r.log.String())
		}
		r.puts++
		if ok(p) {
			return p
		}
	}
}

// shutdown stops the speaker and returns its exit status.
func (r *connectRun) shutdown() int {
	r.stop()
	select {
	case c := <-r.code:
		r.code <- c // for the cleanup
		return c
	case <-r.ctx.Done():
		r.t.Fatal("the speaker did not stop")
		return -1
	}
}

// referenceDecode is what our decoder makes of ogg: the speaker must play
// exactly this.
func referenceDecode(t *testing.T, ogg []byte) []float32 { return decodetest.All(t, ogg) }

// pacedReader reads the speaker's pipe output only as far as the test
// lets it: the player blocks when the pipe and its ring are full, so what
// the speaker has started playing is bounded by what the test has read.
type pacedReader struct {
	t      *testing.T
	path   string
	target chan int // read until this many samples
	done   chan error
	rd     *os.File
	once   sync.Once
	mu     sync.Mutex
	got    []float32
}

func newPacedReader(t *testing.T, path string) *pacedReader {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// A reader without a writer would see end of file until the speaker
	// opens the pipe; a writer of our own that writes nothing keeps the
	// reads blocking instead.
	rd, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	wr, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// done has room for the error of a read cut by closeRead, which no
	// readTo may be waiting for.
	p := &pacedReader{t: t, path: path, target: make(chan int), done: make(chan error, 1), rd: rd}
	go func() {
		buf := make([]byte, 4096)
		var rest []byte
		for n := range p.target {
			for p.len() < n {
				k, err := rd.Read(buf)
				if err != nil {
					p.done <- err
					return
				}
				rest = append(rest, buf[:k]...)
				m := len(rest) / 4
				f := make([]float32, m)
				for i := range f {
					f[i] = math.Float32frombits(binary.LittleEndian.Uint32(rest[4*i:]))
				}
				rest = rest[4*m:]
				p.mu.Lock()
				p.got = append(p.got, f...)
				p.mu.Unlock()
			}
			p.done <- nil
		}
	}()
	t.Cleanup(func() {
		close(p.target)
		_ = wr.Close()
		p.closeRead()
	})
	return p
}

// closeRead closes the reading end: a write of the speaker's blocked on
// the pipe fails.
func (p *pacedReader) closeRead() { p.once.Do(func() { _ = p.rd.Close() }) }

func (p *pacedReader) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.got)
}

// readTo lets the reader take samples until it has n.
func (p *pacedReader) readTo(ctx context.Context, n int) {
	p.t.Helper()
	select {
	case p.target <- n:
	case <-ctx.Done():
		p.t.Fatal("pipe reader gone")
	}
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Fatalf("read the speaker's pipe: %v", err)
		}
	case <-ctx.Done():
		p.t.Fatalf("the speaker played %d samples, the test waits for %d", p.len(), n)
	}
}

func (p *pacedReader) samples() []float32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]float32(nil), p.got...)
}

// Issue 11, end to end 1: with stored credentials the speaker registers
// at start (no phone); the app transfers a two-track album, both tracks
// play in order, gapless and exact to the sample, and the published state
// moves from the first to the second and stops at the end.
func TestRunPlaysAnAlbumFromTheFake(t *testing.T) {
	r := startConnectRun(t)
	var uris []string
	var ref []float32
	var lens []int
	for i, name := range []string{"one", "two"} {
		ogg := spotifytest.MediaOgg(t, 160, i, 0)
		uri := spotifytest.MediaURI("track", name)
		spotifytest.PublishMedia(t, r.svc.Spclient, r.svc.CDN, r.svc.Dialer.APKeyTable, spotifytest.ServiceCDNHosts,
			spotifytest.MediaItem{URI: uri, Ogg: ogg, Name: "Track " + name, Artists: []string{"Band"}, Album: "Album"})
		uris = append(uris, uri)
		pcm := referenceDecode(t, ogg)
		ref = append(ref, pcm...)
		lens = append(lens, len(pcm))
	}

	reg := r.waitPut("NEW_DEVICE", func(p spotifytest.ConnectStatePut) bool { return p.Reason.String() == "NEW_DEVICE" })
	if info := reg.Request.GetDevice().GetDeviceInfo(); info.GetName() != "Connect Test" || info.GetCanPlay() != true {
		t.Fatalf("registered as %q, can_play %v", info.GetName(), info.GetCanPlay())
	}
	ok, err := r.svc.App.Transfer(r.ctx, "spotify:album:"+"0000000000000000000001", uris, 0, 0, time.Now().UnixMilli())
	if err != nil || !ok {
		t.Fatalf("transfer: ok %v, err %v", ok, err)
	}
	// Half a second into each track the player is blocked inside it (its
	// ring and the pipe hold less than the rest of the track), so the
	// state published then must name that track, playing.
	const half = 44100 // samples: 0.5 s of stereo
	start := 0
	for i, u := range uris {
		r.pipe.readTo(r.ctx, start+half)
		r.waitPut("playing "+u, func(p spotifytest.ConnectStatePut) bool {
			ps := p.Request.GetDevice().GetPlayerState()
			return ps.GetTrack().GetUri() == u && ps.GetIsPlaying() && !ps.GetIsPaused() && !ps.GetIsBuffering()
		})
		start += lens[i]
	}
	// The end, and a little of the silence that follows with
	// keep_output_open.
	r.pipe.readTo(r.ctx, len(ref)+half/5)
	r.waitPut("stopped at the end of the album", func(p spotifytest.ConnectStatePut) bool {
		return !p.Request.GetDevice().GetPlayerState().GetIsPlaying()
	})
	if c := r.shutdown(); c != exitOK {
		t.Fatalf("exit status %d", c)
	}

	// The transfer says "position 0 as of the app's timestamp, playing":
	// by the time the speaker starts, that position has moved on by the
	// time the command took, a millisecond or so. From there on every
	// sample must be the reference's.
	got := r.pipe.samples()
	skip := -1
	for k := 0; k < half && k+1 < len(got); k += 2 {
		if got[0] == ref[k] && got[1] == ref[k+1] {
			skip = k
			break
		}
	}
	if skip < 0 {
		t.Fatalf("the first samples played (%v) are not in the first 0.5 s of the album", got[:4])
	}
	ref = ref[skip:]
	if len(got) < len(ref) {
		t.Fatalf("played %d samples, want %d", len(got), len(ref))
	}
	for i := range ref {
		if got[i] != ref[i] {
			t.Fatalf("sample %d of %d (frame %d, track 1 has %d): got %v, want %v", i, len(ref), i/2, (lens[0]-skip)/2, got[i], ref[i])
		}
	}
	for i := len(ref); i < len(got); i++ {
		if got[i] != 0 {
			t.Fatalf("sound after the album's end at sample %d", i)
		}
	}
	t.Logf("played %d frames exactly, from frame %d of the album", len(ref)/2, skip/2)
}
