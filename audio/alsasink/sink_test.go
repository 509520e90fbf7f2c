package alsasink

import (
	"bytes"
	"errors"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/speakerbox/speakerbox/audio"
)

func TestOpenNegotiatesAndResolvesCardName(t *testing.T) {
	be := &fakeBackend{devCaps: typicalDAC()}
	s, logs := newTestSink(t, Options{Device: "hw:Loopback,0"}, be)
	got, err := s.Open(cd)
	if err != nil {
		t.Fatal(err)
	}
	if got != cd {
		t.Errorf("Open = %s, want %s", got, cd)
	}
	if s.addr != (Address{Card: 1, Device: 0}) {
		t.Errorf("resolved to %s, want hw:1,0", s.addr)
	}
	h := be.asked[0]
	if be.starts[0] != h.bufferFrames()-h.PeriodFrames {
		t.Errorf("start threshold %d, want buffer-period %d", be.starts[0], h.bufferFrames()-h.PeriodFrames)
	}
	if !strings.Contains(logs.String(), "ALSA device open") {
		t.Errorf("no open log line: %s", logs)
	}
	// Same format again: the device stays open as it is.
	if _, err := s.Open(cd); err != nil || len(be.asked) != 1 {
		t.Errorf("reopen with the same format: err %v, opens %d", err, len(be.asked))
	}
	// A different format reopens.
	first := be.pcm
	if _, err := s.Open(audio.Format{Rate: 48000, Channels: 2, Sample: audio.S16LE}); err != nil {
		t.Fatal(err)
	}
	if !first.closed || len(be.asked) != 2 {
		t.Errorf("format change: old closed %v, opens %d", first.closed, len(be.asked))
	}
}

func TestOpenBusyDeviceNamesTheOwner(t *testing.T) {
	be := &fakeBackend{capsErr: errnoWrap(syscall.EBUSY)}
	proc := fstest.MapFS{
		"proc/asound/card0/pcm0p/sub0/status": {Data: []byte("state: RUNNING\nowner_pid   : 4242\ntrigger_time: 1.2\n")},
		"proc/4242/comm":                      {Data: []byte("aplay\n")},
	}
	si, err := newSink(Options{Device: "hw:0,0"}, be, proc, nil)
	if err != nil {
		t.Fatal(err)
	}
	be.procCards = []byte(procCards)
	_, err = si.Open(cd)
	var busy *BusyError
	if !errors.As(err, &busy) || !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("err = %v, want a BusyError wrapping EBUSY", err)
	}
	for _, w := range []string{`"hw:0,0" is busy`, "pid 4242 (aplay)"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if _, werr := si.Write(make([]byte, 4)); werr == nil {
		t.Error("Write after a failed Open succeeded; a busy device must never look like playing")
	}
}

func TestOpenRefusesARateTheDriverRoundedUp(t *testing.T) {
	// The refine said 44100 is in range, but the driver has a rate list
	// (44100 is not in it) and granted 48000: we must not play at the
	// wrong speed.
	be := &fakeBackend{devCaps: typicalDAC(), grant: func(h hwConfig) hwConfig { h.Rate = 48000; return h }}
	s, _ := newTestSink(t, Options{}, be)
	_, err := s.Open(cd)
	var oe *OfferError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "granted 48000 Hz") || !strings.Contains(err.Error(), "rates 8000-192000 Hz") {
		t.Fatalf("err = %v, want an OfferError naming the granted rate and the offer", err)
	}
	if !be.pcm.closed {
		t.Error("the device opened at the wrong rate was not closed")
	}
}

func TestOpenRetriesWithFewerPeriodsOnEINVAL(t *testing.T) {
	be := &fakeBackend{devCaps: typicalDAC(), openErrs: []error{syscall.EINVAL, syscall.EINVAL}}
	s, _ := newTestSink(t, Options{}, be)
	if _, err := s.Open(cd); err != nil {
		t.Fatal(err)
	}
	var periods []int
	for _, h := range be.asked {
		periods = append(periods, h.Periods)
	}
	if len(periods) != 3 || periods[0] != 25 || periods[1] != 12 || periods[2] != 6 {
		t.Errorf("periods asked %v, want [25 12 6]", periods)
	}
	// Other errors are not retried.
	be2 := &fakeBackend{devCaps: typicalDAC(), openErrs: []error{syscall.EIO}}
	s2, _ := newTestSink(t, Options{}, be2)
	if _, err := s2.Open(cd); !errors.Is(err, syscall.EIO) || len(be2.asked) != 1 {
		t.Errorf("EIO: err %v after %d opens", err, len(be2.asked))
	}
}

func TestOpenMissingDevice(t *testing.T) {
	be := &fakeBackend{capsErr: errnoWrap(syscall.ENOENT)}
	s, _ := newTestSink(t, Options{Device: "hw:3,0"}, be)
	_, err := s.Open(cd)
	if !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "doctor audio") {
		t.Errorf("err = %v", err)
	}
	s2, _ := newTestSink(t, Options{Device: "hw:USB,0"}, &fakeBackend{devCaps: typicalDAC()})
	if _, err := s2.Open(cd); err == nil || !strings.Contains(err.Error(), `no sound card named "USB"`) || !strings.Contains(err.Error(), `1 "Loopback"`) {
		t.Errorf("unknown card: err = %v", err)
	}
}

func TestXrunIsCountedLoggedAndRecoveredWithoutLosingFrames(t *testing.T) {
	be := &fakeBackend{devCaps: typicalDAC()}
	s, logs := newTestSink(t, Options{}, be)
	if _, err := s.Open(cd); err != nil {
		t.Fatal(err)
	}
	be.pcm.script = []writeStep{
		{frames: 100},                    // a partial write
		{frames: 0, err: syscall.EPIPE},  // under-run
		{frames: 50, err: nil},           // recovered
		{frames: 10, err: syscall.EPIPE}, // took 10, then under-ran again
	}
	data := frames(1000, 4, 3)
	n, err := s.Write(data)
	if err != nil || n != len(data) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(data))
	}
	if !bytes.Equal(be.pcm.played.Bytes(), data) {
		t.Error("the device did not receive exactly the frames written, in order")
	}
	if s.Xruns() != 2 {
		t.Errorf("Xruns = %d, want 2", s.Xruns())
	}
	if got := strings.Count(strings.Join(be.pcm.calls, " "), "prepare"); got != 2 {
		t.Errorf("%d prepares after 2 xruns: %v", got, be.pcm.calls)
	}
	if c := strings.Count(logs.String(), "under-run"); c != 2 || !strings.Contains(logs.String(), "xruns=2") {
		t.Errorf("want two under-run log lines with the count, got:\n%s", logs)
	}
}

func TestWriteGivesUpWhenRecoveryMakesNoProgress(t *testing.T) {
	be := &fakeBackend{devCaps: typicalDAC()}
	s, _ := newTestSink(t, Options{}, be)
	if _, err := s.Open(cd); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		be.pcm.script = append(be.pcm.script, writeStep{frames: 0, err: syscall.EPIPE})
	}
	_, err := s.Write(frames(10, 4, 0))
	if !errors.Is(err, syscall.EPIPE) || !strings.Contains(err.Error(), "no progress") {
		t.Errorf("err = %v", err)
	}
	// A device error that is not an xrun ends the write at once.
	be.pcm.script = []writeStep{{frames: 0, err: syscall.ENODEV}}
	if _, err := s.Write(frames(10, 4, 0)); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("ENODEV: err = %v", err)
	}
}

func TestWriteRejectsPartialFrames(t *testing.T) {
	be := &fakeBackend{devCaps: typicalDAC()}
	s, _ := newTestSink(t, Options{}, be)
	if _, err := s.Open(cd); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(make([]byte, 6)); err == nil || be.pcm.played.Len() != 0 {
		t.Errorf("6 bytes of 4-byte frames: err %v, played %d", err, be.pcm.played.Len())
	}
}

func TestPauseDropsAndReprepares(t *testing.T) {
	be := &fakeBackend{devCaps: typicalDAC()}
	s, _ := newTestSink(t, Options{}, be)
	if _, err := s.Open(cd); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(frames(100, 4, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(frames(100, 4, 2)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(be.pcm.calls, " "); got != "write drop prepare write" {
		t.Errorf("calls %q, want drop then prepare between the writes", got)
	}
}

func TestDrainPlaysOutBehindAPeriodOfSilence(t *testing.T) {
	be := &fakeBackend{devCaps: typicalDAC()}
	s, _ := newTestSink(t, Options{}, be)
	got, err := s.Open(cd)
	if err != nil {
		t.Fatal(err)
	}
	music := frames(300, 4, 9)
	if _, err := s.Write(music); err != nil {
		t.Fatal(err)
	}
	if err := s.Drain(); err != nil {
		t.Fatal(err)
	}
	played := be.pcm.played.Bytes()
	period := be.asked[0].PeriodFrames * got.FrameBytes()
	if !bytes.Equal(played[:len(music)], music) || len(played) != len(music)+period || !bytes.Equal(played[len(music):], make([]byte, period)) {
		t.Errorf("played %d bytes; want the music then %d bytes of silence", len(played), period)
	}
	calls := be.pcm.calls
	if calls[len(calls)-2] != "drain" || calls[len(calls)-1] != "prepare" {
		t.Errorf("calls %v: want drain, then prepare for the next track", calls)
	}
}

func TestDelayAndClose(t *testing.T) {
	be := &fakeBackend{devCaps: typicalDAC()}
	s, _ := newTestSink(t, Options{}, be)
	if s.Delay() != 0 {
		t.Error("delay of an unopened sink")
	}
	if _, err := s.Open(cd); err != nil {
		t.Fatal(err)
	}
	be.pcm.delay = 4410
	if d := s.Delay(); d.Milliseconds() != 100 {
		t.Errorf("Delay = %v, want 100ms", d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if !be.pcm.closed {
		t.Error("device not closed")
	}
	if _, err := s.Write(frames(1, 4, 0)); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Device: "default"},
		{Device: "plughw:0,0"},
		{Device: "hw:0,99"},
		{Device: "hw:0,0", Buffer: 100_000_000, Period: 60_000_000},
	} {
		if _, err := newSink(o, &fakeBackend{}, nil, nil); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
