package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/speakerbox/speakerbox/audio/audiotest"
	"github.com/speakerbox/speakerbox/audio/decode"
)

// s16 is the player's float to 16-bit conversion without dither (round
// half up).
func s16(x float32) int16 {
	return int16(math.Floor(float64(max(-1, min(1, x)))*32767 + 0.5))
}

func decodedS16(t *testing.T, b []byte) []int16 {
	t.Helper()
	d, err := decode.Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out []int16
	buf := make([]float32, 4096)
	for {
		n, err := d.Read(buf)
		for _, x := range buf[:n] {
			out = append(out, s16(x))
		}
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// wavData returns the samples of a 16-bit WAV file written by the wav sink.
func wavData(t *testing.T, path string) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("data"))
	if i < 0 {
		t.Fatal("no data chunk")
	}
	n := binary.LittleEndian.Uint32(b[i+4:])
	pcm := make([]int16, n/2)
	binary.Read(bytes.NewReader(b[i+8:i+8+int(n)]), binary.LittleEndian, pcm)
	return pcm
}

// TestPlayGaplessQueueToWAV plays three files, one of them encrypted,
// through the real command into a WAV file and compares every sample with
// the decoder's output: nothing lost, nothing inserted between the files.
func TestPlayGaplessQueueToWAV(t *testing.T) {
	dir := t.TempDir()
	var want []int16
	var files []string
	for v := 0; v < 3; v++ {
		b := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96, Variant: v}))
		want = append(want, decodedS16(t, b)...)
		p := filepath.Join(dir, "plain"+string(rune('a'+v))+".ogg")
		os.WriteFile(p, b, 0o644)
		files = append(files, p)
	}
	out := filepath.Join(dir, "out.wav")
	args := append([]string{"play", "--output", "wav", "--audio.path", out, "--audio.format", "S16_LE",
		"--audio.dither=false", "--volume", "100", "--normalise", "off"}, files...)
	_, errOut, code := runCmd(t, speakerbox(t, nil, args...))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := wavData(t, out)
	if len(got) != len(want) {
		t.Fatalf("%d samples, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("sample %d: %d, want %d", i, got[i], want[i])
		}
	}
}

func TestPlayEncryptedAndBadFiles(t *testing.T) {
	dir := t.TempDir()
	ogg := audiotest.Read(t, audiotest.Ogg(t, audiotest.Spec{Rate: 48000, Channels: 1, Kbps: 96}))
	enc := filepath.Join(dir, "enc.spotify")
	os.WriteFile(enc, audiotest.SpotifyBytes(t, ogg, audiotest.Key, audiotest.Norm), 0o644)
	bad := filepath.Join(dir, "bad.spotify")
	os.WriteFile(bad, audiotest.SpotifyBytes(t, ogg[:len(ogg)/2], audiotest.Key, audiotest.Norm), 0o644)
	key := hex.EncodeToString(audiotest.Key)

	out := filepath.Join(dir, "out.wav")
	_, errOut, code := runCmd(t, speakerbox(t, nil, "play", "--output", "wav", "--audio.path", out, "--key", key, enc, bad, enc))
	if code != 1 || !strings.Contains(errOut, "1 of 3 files could not be played") || !strings.Contains(errOut, "bad.spotify") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// Both good copies played (48 kHz mono, upmixed to stereo).
	frames := len(decodedS16(t, ogg))
	if got := len(wavData(t, out)); got != 2*frames*2 {
		t.Fatalf("%d samples in the WAV file, want %d", got, 2*frames*2)
	}

	_, errOut, code = runCmd(t, speakerbox(t, nil, "play", "--output", "null", "--key", "00", enc))
	if code != 2 || !strings.Contains(errOut, "--key") {
		t.Fatalf("bad key: exit %d: %s", code, errOut)
	}
	_, errOut, code = runCmd(t, speakerbox(t, nil, "play", "--output", "null"))
	if code != 2 {
		t.Fatalf("no files: exit %d: %s", code, errOut)
	}
	wrong := strings.Repeat("ab", 16)
	_, errOut, code = runCmd(t, speakerbox(t, nil, "play", "--output", "null", "--key", wrong, enc))
	if code != 1 || !strings.Contains(errOut, "wrong key") {
		t.Fatalf("wrong key: exit %d: %s", code, errOut)
	}
}

// Without the sound card, play says so once, with how to list devices,
// and exits 1.
func TestPlayWithoutSoundCardReportsOnce(t *testing.T) {
	_, errOut, code := runCmd(t, speakerbox(t, nil, "play", "--output", "alsa", "--audio.device", "hw:31,0", "../../audio/decode/testdata/tiny.ogg"))
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(errOut, `open ALSA device "hw:31,0"`); n != 1 {
		t.Errorf("the error appears %d times, want once:\n%s", n, errOut)
	}
	if !strings.Contains(errOut, "speakerbox doctor audio") {
		t.Errorf("no hint how to list devices:\n%s", errOut)
	}
}

// An alsa-lib plugin name can never work: refused as a configuration
// error before anything plays, whatever the output.
func TestPlayRefusesALSAPluginName(t *testing.T) {
	_, errOut, code := runCmd(t, speakerbox(t, []string{"SPEAKERBOX_AUDIO_DEVICE=default"}, "play", "--output", "null", "../../audio/decode/testdata/tiny.ogg"))
	if code != 2 || !strings.Contains(errOut, "audio.device") || !strings.Contains(errOut, `"default"`) ||
		!strings.Contains(errOut, "env SPEAKERBOX_AUDIO_DEVICE") || !strings.Contains(errOut, "hw:CARD,DEV") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// --output breaking the mixer rule is a configuration error too.
	_, errOut, code = runCmd(t, speakerbox(t, []string{"SPEAKERBOX_AUDIO_MIXER=PCM"}, "play", "--output", "null", "../../audio/decode/testdata/tiny.ogg"))
	if code != 2 || !strings.Contains(errOut, "audio.mixer") || !strings.Contains(errOut, "play --output") {
		t.Fatalf("mixer with --output null: exit %d: %s", code, errOut)
	}
}

// TestPlayToUnreadPipeStopsOnSIGTERM plays into standard output, a pipe
// nobody reads, so the output blocks in a write; SIGTERM must still end the
// process in an orderly way. Exit status 0 says the write was interrupted:
// had it stayed blocked, the shutdown grace would have run out (exit 1).
func TestPlayToUnreadPipeStopsOnSIGTERM(t *testing.T) {
	ogg := audiotest.Ogg(t, audiotest.Spec{Rate: 44100, Channels: 2, Kbps: 96}) // 6.4 s: over 1 MB of PCM
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The smallest pipe the kernel allows: one page.
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 4096); err != nil {
		t.Fatal(err)
	}
	cmd := speakerbox(t, nil, "play", ogg, "--output", "pipe", "--audio.path", "-")
	cmd.Stdout = w
	errOut := &syncBuffer{}
	cmd.Stderr = errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// Once anything sits in the one-page pipe, the player's next write
	// cannot fit: it blocks, and with 6 s of audio to go it stays blocked.
	waitQueued(t, r)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitOK {
		t.Fatalf("exit %d (%v) after SIGTERM with the output blocked; want 0 (1 means the blocked write outlived the shutdown grace):\n%s", code, err, errOut)
	}
	if !strings.Contains(errOut.String(), "shutting down") {
		t.Errorf("no shutdown logged:\n%s", errOut)
	}
}

// waitQueued returns once the pipe read by r holds data.
func waitQueued(t *testing.T, r *os.File) {
	t.Helper()
	rc, err := r.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for {
		var queued int
		var cerr error
		if err := rc.Control(func(fd uintptr) { queued, cerr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }); err != nil || cerr != nil {
			t.Fatal(err, cerr)
		}
		if queued > 0 {
			return
		}
		time.Sleep(time.Millisecond) // polls a condition; the child writes at its pace
	}
}
