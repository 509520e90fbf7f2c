package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	metadatapb "github.com/devgianlu/go-librespot/proto/spotify/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/speakerbox/speakerbox/audio/source"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// Issue 11, end to end 3 to 6: faults of the CDN, the access point and the
// app on the fully wired receiver, audio checked at the pipe against the
// reference decode (the rig of run_connect_test.go).

// faultTrack is one published item of a fault test.
type faultTrack struct {
	uri string
	pub spotifytest.MediaPublished
	ref []float32 // the reference decode
}

// publishTrack publishes a track of about 6.4 s × max(1, repeat) at 160
// kbps.
func publishTrack(t *testing.T, r *connectRun, name string, variant, repeat int, edit func(*spotifytest.MediaItem)) faultTrack {
	t.Helper()
	return publishTrackAt(t, r, name, 160, variant, repeat, edit)
}

// longTrack publishes a track whose file spans more than 8 CDN chunks of
// 128 KiB (about 35 s at 320 kbps). Its chunk 6 is fetched only once the
// player reads chunk 2 (the read-ahead is 4 chunks), well into the track;
// the decoder reads the last chunks at the start, for the length.
func longTrack(t *testing.T, r *connectRun, name string, variant int, edit func(*spotifytest.MediaItem)) faultTrack {
	t.Helper()
	tr := publishTrackAt(t, r, name, 320, variant, 10, edit)
	if n := len(tr.pub.File); n <= 8*source.DefaultChunkSize {
		t.Fatalf("the long track has %d bytes: not more than 8 chunks", n)
	}
	return tr
}

// midChunk is the offset of chunk 6 of a longTrack's file.
func (f faultTrack) midChunk() int64 { return 6 * source.DefaultChunkSize }

func publishTrackAt(t *testing.T, r *connectRun, name string, kbps, variant, repeat int, edit func(*spotifytest.MediaItem)) faultTrack {
	t.Helper()
	ogg := spotifytest.MediaOgg(t, kbps, variant, repeat)
	it := spotifytest.MediaItem{URI: spotifytest.MediaURI("track", name), Ogg: ogg, Name: "Track " + name,
		Artists: []string{"Band"}, Album: "Album"}
	if edit != nil {
		edit(&it)
	}
	pub := spotifytest.PublishMedia(t, r.svc.Spclient, r.svc.CDN, r.svc.Dialer.APKeyTable, spotifytest.ServiceCDNHosts, it)
	ft := faultTrack{uri: it.URI, pub: pub}
	// An edit that replaced the audio (a corrupt file) leaves no
	// reference: nothing of it may play.
	if len(it.Ogg) == len(ogg) && &it.Ogg[0] == &ogg[0] {
		ft.ref = referenceDecode(t, ogg)
	}
	return ft
}

// base62Of is the TRACK_ID the hooks name f by.
func base62Of(f faultTrack) string { return strings.TrimPrefix(f.uri, "spotify:track:") }

func (f faultTrack) path() string {
	return "/audio/" + f.pub.MediaFileID(metadatapb.AudioFile_OGG_VORBIS_160)
}

// transfer waits for the device to register and hands it the album of
// tracks from the first, at position 0, as of ts.
func (r *connectRun) transfer(ts int64, tracks ...faultTrack) {
	r.t.Helper()
	r.waitPut("NEW_DEVICE", func(p spotifytest.ConnectStatePut) bool { return p.Reason.String() == "NEW_DEVICE" })
	var uris []string
	for _, tr := range tracks {
		uris = append(uris, tr.uri)
	}
	ok, err := r.svc.App.Transfer(r.ctx, "spotify:album:0000000000000000000002", uris, 0, 0, ts)
	if err != nil || !ok {
		r.t.Fatalf("transfer: ok %v, err %v", ok, err)
	}
}

// playsToTheEnd reads the pipe through the end of ref and a little of the
// silence after it, waits for the state to say stopped, and stops the
// speaker.
func (r *connectRun) playsToTheEnd(ref []float32) []float32 {
	r.t.Helper()
	r.pipe.readTo(r.ctx, len(ref)+halfSecond/5)
	r.waitPut("stopped at the end", func(p spotifytest.ConnectStatePut) bool {
		return !p.Request.GetDevice().GetPlayerState().GetIsPlaying()
	})
	if c := r.shutdown(); c != exitOK {
		r.t.Fatalf("exit status %d", c)
	}
	return r.pipe.samples()
}

const halfSecond = 44100 // samples: 0.5 s of stereo

// startIn finds where in the first half second of ref got starts (the
// transfer's position has moved on by the time the command took).
func startIn(t *testing.T, got, ref []float32) int {
	t.Helper()
	for k := 0; k < halfSecond && k+1 < len(ref) && len(got) > 1; k += 2 {
		if got[0] == ref[k] && got[1] == ref[k+1] {
			return k
		}
	}
	t.Fatalf("the first samples played (%v) are not in the first 0.5 s of the reference", got[:min(4, len(got))])
	return -1
}

// sameSamples fails unless got[at:] starts with want, sample for sample.
func sameSamples(t *testing.T, what string, got []float32, at int, want []float32) {
	t.Helper()
	if len(got)-at < len(want) {
		t.Fatalf("%s: played %d samples, want %d", what, len(got)-at, len(want))
	}
	for i := range want {
		if got[at+i] != want[i] {
			t.Fatalf("%s: sample %d of %d (frame %d): got %v, want %v", what, i, len(want), i/2, got[at+i], want[i])
		}
	}
}

// silentFrom fails unless got[at:] is all silence.
func silentFrom(t *testing.T, what string, got []float32, at int) {
	t.Helper()
	for i := at; i < len(got); i++ {
		if got[i] != 0 {
			t.Fatalf("%s: sound at sample %d (%d after %d)", what, i, i-at, at)
		}
	}
}

// rangeFirst is the first byte a "bytes=a-b" Range asks for (-1: none).
func rangeFirst(h string) int64 {
	a, _, ok := strings.Cut(strings.TrimPrefix(h, "bytes="), "-")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// 3. The CDN drops the connection in the middle of the first track (a
// chunk fetched only once the track has played for a while), and the host
// answers 503 from then on. The stream resumes at the byte where the
// answer broke, on the next host, and the second track starts on the
// next host too; the sink hears every sample once, in order.
func TestRunCDNDropThen503FailsOver(t *testing.T) {
	r := startConnectRun(t)
	one := longTrack(t, r, "drop-one", 0, nil)
	two := publishTrack(t, r, "drop-two", 1, 0, nil)
	host1, host2 := spotifytest.ServiceCDNHosts[0], spotifytest.ServiceCDNHosts[1]

	// The drop hits the first request for chunk 6, fetched well into the
	// track.
	const dropAt = 50_000
	var mu sync.Mutex
	down, refused, heardAtDrop := false, 0, 0
	r.svc.Fake.Handle(host1, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case down:
			refused++
			http.Error(w, "host down", http.StatusServiceUnavailable)
			return
		case req.URL.Path == one.path() && rangeFirst(req.Header.Get("Range")) == one.midChunk():
			down = true
			heardAtDrop = r.pipe.len()
			r.svc.CDN.CDNDropAfter(host1, dropAt)
		}
		r.svc.CDN.ServeHTTP(w, req)
	}))

	r.transfer(time.Now().UnixMilli(), one, two)
	ref := append(append([]float32(nil), one.ref...), two.ref...)
	r.pipe.readTo(r.ctx, len(one.ref)+halfSecond)
	r.waitPut("playing the second track", func(p spotifytest.ConnectStatePut) bool {
		ps := p.Request.GetDevice().GetPlayerState()
		return ps.GetTrack().GetUri() == two.uri && ps.GetIsPlaying() && !ps.GetIsBuffering()
	})
	got := r.playsToTheEnd(ref)

	skip := startIn(t, got, ref)
	sameSamples(t, "the album", got, 0, ref[skip:])
	silentFrom(t, "after the album", got, len(ref)-skip)

	// The broken answer, then its rest from the other host, from the byte
	// where it broke.
	var dropped, resumed *spotifytest.CDNRange
	var afterDrop []string
	for _, rg := range r.svc.CDN.CDNRanges() {
		switch {
		case dropped == nil && rg.Host == host1 && rg.Path == one.path() && rg.First == one.midChunk():
			dropped = &rg
		case dropped != nil:
			afterDrop = append(afterDrop, rg.Host)
			if resumed == nil && rg.Path == one.path() {
				resumed = &rg
			}
		}
	}
	mu.Lock()
	n503, heard := refused, heardAtDrop
	mu.Unlock()
	switch {
	case heard < 4*halfSecond:
		t.Fatalf("the connection broke when the sink had heard %d samples: not in the middle of the track", heard)
	case dropped == nil || dropped.Bytes != dropAt:
		t.Fatalf("no request broken after %d bytes: %+v", dropAt, r.svc.CDN.CDNRanges())
	case resumed == nil || resumed.Host != host2 || resumed.First != dropped.First+dropAt || resumed.Last != dropped.Last:
		t.Fatalf("broken at %d-%d after %d bytes, resumed with %+v", dropped.First, dropped.Last, dropAt, resumed)
	case n503 == 0:
		t.Fatal("the second track never asked the host that is down (its first URL)")
	}
	for _, h := range afterDrop {
		if h != host2 {
			t.Fatalf("a request reached %s past the drop (the fake answers 503 there): %v", h, afterDrop)
		}
	}
	t.Logf("played %d frames exactly; broken at byte %d with %d frames heard, resumed on %s; %d answers of 503 from %s",
		(len(ref)-skip)/2, dropped.First+dropAt, heard/2, host2, n503, host1)
}

// 4. The URLs of the first storage-resolve expire in the middle of the
// track (the CDN answers 403 to their token, as it does past the
// expiry): the stream resolves the file again and goes on with the fresh
// URL from the byte it was at; the sink hears every sample once.
func TestRunExpiredCDNURLResolvesAgain(t *testing.T) {
	r := startConnectRun(t)
	base := time.Now().Add(time.Hour).Truncate(time.Second)
	expires := func(call int) time.Time { return base.Add(time.Duration(call) * time.Minute) }
	one := longTrack(t, r, "expire-one", 2, func(it *spotifytest.MediaItem) { it.Expires = expires })
	host1 := spotifytest.ServiceCDNHosts[0]
	oldToken := "exp=" + strconv.FormatInt(expires(1).Unix(), 10)
	newToken := "exp=" + strconv.FormatInt(expires(2).Unix(), 10)

	type seen struct {
		token  string
		first  int64
		status int
	}
	var mu sync.Mutex
	var reqs []seen
	expired, heardAtExpiry := false, 0
	r.svc.Fake.Handle(host1, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		first := rangeFirst(req.Header.Get("Range"))
		tok := "other"
		for _, k := range []string{oldToken, newToken} {
			if strings.Contains(req.URL.RawQuery, k) {
				tok = k
			}
		}
		if tok == oldToken && (expired || first == one.midChunk()) {
			if !expired {
				heardAtExpiry = r.pipe.len()
			}
			expired = true
			reqs = append(reqs, seen{tok, first, http.StatusForbidden})
			mu.Unlock()
			http.Error(w, "token expired", http.StatusForbidden)
			return
		}
		reqs = append(reqs, seen{tok, first, http.StatusPartialContent})
		mu.Unlock()
		r.svc.CDN.ServeHTTP(w, req)
	}))

	r.transfer(time.Now().UnixMilli(), one)
	r.pipe.readTo(r.ctx, halfSecond)
	r.waitPut("playing", func(p spotifytest.ConnectStatePut) bool {
		ps := p.Request.GetDevice().GetPlayerState()
		return ps.GetTrack().GetUri() == one.uri && ps.GetIsPlaying() && !ps.GetIsBuffering()
	})
	got := r.playsToTheEnd(one.ref)
	skip := startIn(t, got, one.ref)
	sameSamples(t, "the track", got, 0, one.ref[skip:])
	silentFrom(t, "after the track", got, len(one.ref)-skip)

	file := one.pub.MediaFileID(metadatapb.AudioFile_OGG_VORBIS_160)
	var resolves []string
	for _, rs := range r.svc.Spclient.SpclientMediaResolves() {
		if rs.FileID == file {
			resolves = append(resolves, rs.Kind)
		}
	}
	if len(resolves) != 2 || resolves[0] != "interactive" || resolves[1] != "interactive" {
		t.Fatalf("storage-resolves of the file: %v, want the first and one after the expiry", resolves)
	}
	mu.Lock()
	defer mu.Unlock()
	k := -1
	for i, s := range reqs {
		if s.status == http.StatusForbidden {
			k = i
			break
		}
	}
	if k < 0 || k+1 >= len(reqs) {
		t.Fatalf("requests on %s: %+v; want a 403 and a request after it", host1, reqs)
	}
	if heardAtExpiry < 4*halfSecond {
		t.Fatalf("the URL expired when the sink had heard %d samples: not in the middle of the track", heardAtExpiry)
	}
	if next := reqs[k+1]; next.token != newToken || next.first != reqs[k].first {
		t.Fatalf("after the 403 at byte %d: %+v, want the fresh token from the same byte", reqs[k].first, next)
	}
	for _, s := range reqs[k+1:] {
		if s.token != newToken {
			t.Fatalf("the expired token used again after the fresh resolve: %+v", reqs)
		}
	}
	t.Logf("played %d frames exactly; expired at byte %d with %d frames heard, resolved again", (len(one.ref)-skip)/2, reqs[k].first, heardAtExpiry/2)
}

// hookLog collects the lines the on_event hook writes into a FIFO, so a
// test can wait for an event without polling.
type hookLog struct {
	path string
	mu   sync.Mutex
	all  []string
	more chan struct{} // closed and replaced when a line arrives
}

// newHookLog makes the FIFO and reads it until the test ends. The
// returned arguments make the speaker's on_event hook write
// "<PLAYER_EVENT> <TRACK_ID> <SINK_STATUS>" lines into it.
func newHookLog(t *testing.T) (*hookLog, []string) {
	t.Helper()
	h := &hookLog{path: filepath.Join(t.TempDir(), "events.fifo"), more: make(chan struct{})}
	if err := syscall.Mkfifo(h.path, 0o600); err != nil {
		t.Fatal(err)
	}
	rd, err := os.OpenFile(h.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Our own writer: no end of file between the hook's runs.
	wr, err := os.OpenFile(h.path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(rd)
		for sc.Scan() {
			h.mu.Lock()
			h.all = append(h.all, strings.TrimSpace(sc.Text()))
			close(h.more)
			h.more = make(chan struct{})
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = wr.Close()
		_ = rd.Close()
		<-done
	})
	hook := fmt.Sprintf(`echo "$PLAYER_EVENT $TRACK_ID $SINK_STATUS" >> '%s'`, h.path)
	return h, []string{"--hooks.on_event", hook}
}

// lines returns the events so far.
func (h *hookLog) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.all...)
}

// wait returns the index of the first line at or after from whose fields
// begin with want's.
func (h *hookLog) wait(ctx context.Context, from int, want string) (int, error) {
	w := strings.Fields(want)
	for {
		h.mu.Lock()
		for i := from; i < len(h.all); i++ {
			f := strings.Fields(h.all[i])
			if len(f) >= len(w) && strings.Join(f[:len(w)], " ") == strings.Join(w, " ") {
				h.mu.Unlock()
				return i, nil
			}
		}
		more := h.more
		h.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			return -1, fmt.Errorf("waiting for the hook event %q: %w (events: %q)", want, ctx.Err(), h.lines())
		}
	}
}

// sentinelBits ends what the test writes into the speaker's pipe after
// the speaker closed it: a NaN no decoder makes.
const sentinelBits = 0x7fc0dead

// writeSentinel puts two sentinel samples into the pipe at path. It may
// run on any goroutine.
func writeSentinel(path string) error {
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], sentinelBits)
	binary.LittleEndian.PutUint32(b[4:], sentinelBits)
	_, err = w.Write(b[:])
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// readToSentinel reads whatever comes until the sentinel and returns the
// samples before it.
func (p *pacedReader) readToSentinel(ctx context.Context) []float32 {
	p.t.Helper()
	for {
		got := p.samples()
		if n := len(got); n >= 2 && math.Float32bits(got[n-1]) == sentinelBits && math.Float32bits(got[n-2]) == sentinelBits {
			return got[:n-2]
		}
		p.readTo(ctx, len(got)+1)
	}
}

// 5. Another device takes over in the middle of a track: the sound stops
// (the sink hears silence only, from what the player held when the
// takeover came), the device publishes itself inactive, and the
// amplifier's (shortened) idle timeout switches it off while the speaker
// runs on.
func TestRunTakeoverStopsSoundAndAmplifier(t *testing.T) {
	hl, hookArgs := newHookLog(t)
	r := startConnectRun(t, append(hookArgs,
		"--hooks.amp_on_command", ":", "--hooks.amp_off_command", ":",
		"--gpio.warmup", "0s", "--gpio.idle_timeout", "300ms")...)
	one := publishTrack(t, r, "takeover-one", 3, 2, nil) // about 13 s
	ts := time.Now().UnixMilli()
	r.transfer(ts, one)
	on, err := hl.wait(r.ctx, 0, "amp_on")
	if err != nil {
		t.Fatal(err)
	}
	r.pipe.readTo(r.ctx, halfSecond)
	r.waitPut("playing", func(p spotifytest.ConnectStatePut) bool {
		ps := p.Request.GetDevice().GetPlayerState()
		return ps.GetTrack().GetUri() == one.uri && ps.GetIsPlaying() && !ps.GetIsBuffering()
	})
	// The player is held here: its ring and the pipe are full.
	heard := r.pipe.len()
	before := len(hl.lines())

	b, err := proto.Marshal(&connectpb.ClusterUpdate{UpdateReason: connectpb.ClusterUpdateReason_DEVICE_STATE_CHANGED,
		Cluster: &connectpb.Cluster{ActiveDeviceId: spotifytest.ServicePhoneID,
			PlayerState: &connectpb.PlayerState{Timestamp: ts + 60_000}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Dealer.SendMessage(r.ctx, spotifytest.DealerMessage{URI: "hm://connect-state/v1/cluster", Payload: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Spclient.WaitConnectStateInactive(r.ctx, 1); err != nil {
		t.Fatal(err)
	}

	// The pipe is read on while the amplifier's idle timeout runs (the
	// player must be able to write out what it held, then silence); once
	// amp_off has run, the device is closed, everything it wrote is in the
	// pipe, and the sentinel goes in behind it.
	offc := make(chan error, 1)
	go func() {
		_, err := hl.wait(r.ctx, before, "amp_off")
		if err == nil {
			err = writeSentinel(r.pipe.path)
		}
		offc <- err
	}()
	got := r.pipe.readToSentinel(r.ctx)
	if err := <-offc; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.log.String(), "amplifier idle timeout") {
		t.Fatalf("the amplifier went off, but not by the idle timeout:\n%s", r.log.String())
	}
	events := hl.lines()

	skip := startIn(t, got, one.ref)
	end := len(got)
	for end > 0 && got[end-1] == 0 {
		end--
	}
	sameSamples(t, "before the takeover", got[:end], 0, one.ref[skip:skip+end])
	// What the player held beyond what the test had read: its ring
	// (0.5 s) and the pipe (64 KiB); far from the track's end.
	if limit := heard + 2*2*44100; end > limit {
		t.Fatalf("sound went on for %d samples after the takeover (heard %d when it came)", end-heard, heard)
	}
	if c := r.shutdown(); c != exitOK {
		t.Fatalf("exit status %d", c)
	}
	// amp_on once, before; amp_off once, after the takeover and the sink's
	// close, with the speaker still running.
	count := func(ev string, lines []string) (n int) {
		for _, l := range lines {
			if strings.Fields(l)[0] == ev {
				n++
			}
		}
		return n
	}
	off, _ := hl.wait(r.ctx, before, "amp_off")
	closed, _ := hl.wait(r.ctx, before, "sink closed")
	switch {
	case count("amp_on", events) != 1 || on >= before:
		t.Fatalf("amp_on not once before the takeover: %q", events)
	case count("amp_off", events[on:before]) != 0 || closed < 0 || closed > off:
		t.Fatalf("events %q (takeover after %d)", events, before)
	}
	t.Logf("heard %d frames, sound ended at frame %d; events after the takeover: %q", heard/2, end/2, events[before:])
}

// 6. In the middle of a context, a corrupt track (its file is no Ogg
// Vorbis) and one whose audio key the access point refuses: each is
// reported unavailable (hook) and skipped, and the next track plays
// exactly; the state goes from the first playable track to the next.
func TestRunSkipsCorruptAndKeyRefusedTracks(t *testing.T) {
	hl, hookArgs := newHookLog(t)
	r := startConnectRun(t, hookArgs...)
	first := publishTrack(t, r, "skip-first", 4, 0, nil)
	corrupt := publishTrack(t, r, "skip-corrupt", 5, 0, func(it *spotifytest.MediaItem) {
		bad := append([]byte(nil), it.Ogg...)
		for i := range bad {
			bad[i] ^= 0x5a // no "OggS" anywhere
		}
		it.Ogg = bad
	})
	refused := publishTrack(t, r, "skip-refused", 6, 0, nil)
	last := publishTrack(t, r, "skip-last", 7, 0, nil)
	fid, err := hex.DecodeString(refused.pub.MediaFileID(metadatapb.AudioFile_OGG_VORBIS_160))
	if err != nil {
		t.Fatal(err)
	}
	r.svc.Dialer.APKeyTable.RefuseKey(refused.pub.GID, [20]byte(fid), 1)

	r.transfer(time.Now().UnixMilli(), first, corrupt, refused, last)
	r.pipe.readTo(r.ctx, halfSecond)
	r.waitPut("playing the first track", func(p spotifytest.ConnectStatePut) bool {
		ps := p.Request.GetDevice().GetPlayerState()
		return ps.GetTrack().GetUri() == first.uri && ps.GetIsPlaying() && !ps.GetIsBuffering()
	})
	var between []string // tracks the published state named playing on the way
	r.pipe.readTo(r.ctx, len(first.ref)+halfSecond)
	r.waitPut("playing the last track", func(p spotifytest.ConnectStatePut) bool {
		ps := p.Request.GetDevice().GetPlayerState()
		if ps.GetIsPlaying() && !ps.GetIsBuffering() {
			between = append(between, ps.GetTrack().GetUri())
		}
		return ps.GetTrack().GetUri() == last.uri && ps.GetIsPlaying() && !ps.GetIsBuffering()
	})
	// In the context's order, each reported before the next one is
	// loaded, and both before the last track changes in.
	at := 0
	for _, ev := range []string{"unavailable " + base62Of(corrupt), "loading " + base62Of(refused),
		"unavailable " + base62Of(refused), "track_changed " + base62Of(last)} {
		i, err := hl.wait(r.ctx, at, ev)
		if err != nil {
			t.Fatal(err)
		}
		at = i + 1
	}
	for _, u := range between {
		if u == corrupt.uri || u == refused.uri {
			t.Fatalf("the published state named %s as playing: %q", u, between)
		}
	}
	got := r.playsToTheEnd(append(append([]float32(nil), first.ref...), last.ref...))

	skip := startIn(t, got, first.ref)
	n1 := len(first.ref) - skip
	sameSamples(t, "the first track", got, 0, first.ref[skip:])
	// Skipping may leave silence between the two (the loads of the
	// unavailable ones take their time); the last track then starts at its
	// first sample.
	j := n1
	for j < len(got) && got[j] == 0 {
		j++
	}
	k := 0
	for k < len(last.ref) && last.ref[k] == 0 {
		k++
	}
	if j-n1 < k {
		t.Fatalf("the last track starts %d samples after the first ends, its own lead-in is %d", j-n1, k)
	}
	sameSamples(t, "the last track", got, j, last.ref[k:])
	silentFrom(t, "after the last track", got, j+len(last.ref)-k)
	t.Logf("played %d + %d frames exactly, %d frames of silence between; states named %q; events %q",
		n1/2, len(last.ref)/2, (j-n1-k)/2, between, hl.lines())
}
