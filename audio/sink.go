package audio

import (
	"errors"
	"fmt"
	"time"
)

// SampleFormat is how one sample is laid out in the bytes a Sink receives.
type SampleFormat int

// The sample formats the converter produces and sinks accept. All are
// little-endian and interleaved.
const (
	S16LE   SampleFormat = iota + 1 // 16-bit signed
	S24LE                           // 24-bit signed in the low bytes of 32 bits
	S24_3LE                         // 24-bit signed packed in 3 bytes
	S32LE                           // 32-bit signed
	FloatLE                         // 32-bit IEEE float in -1..1
)

var sampleFormatNames = map[SampleFormat]string{
	S16LE: "S16_LE", S24LE: "S24_LE", S24_3LE: "S24_3LE", S32LE: "S32_LE", FloatLE: "FLOAT_LE",
}

func (f SampleFormat) String() string {
	if s, ok := sampleFormatNames[f]; ok {
		return s
	}
	return fmt.Sprintf("SampleFormat(%d)", int(f))
}

// ParseSampleFormat reads the ALSA-style name of a sample format ("S16_LE").
func ParseSampleFormat(s string) (SampleFormat, error) {
	for f, name := range sampleFormatNames {
		if name == s {
			return f, nil
		}
	}
	return 0, fmt.Errorf("unknown sample format %q (allowed: S16_LE, S24_LE, S24_3LE, S32_LE, FLOAT_LE)", s)
}

// BytesPerSample is the size of one sample of one channel.
func (f SampleFormat) BytesPerSample() int {
	switch f {
	case S16LE:
		return 2
	case S24_3LE:
		return 3
	case S24LE, S32LE, FloatLE:
		return 4
	}
	return 0
}

// Format is the PCM layout between the converter and a sink.
type Format struct {
	Rate     int // frames per second
	Channels int
	Sample   SampleFormat
}

// FrameBytes is the size of one interleaved frame.
func (f Format) FrameBytes() int { return f.Channels * f.Sample.BytesPerSample() }

func (f Format) String() string {
	return fmt.Sprintf("%s %d Hz %d ch", f.Sample, f.Rate, f.Channels)
}

// Sink is where converted PCM goes: an ALSA device, a pipe, a WAV file or
// nothing. The player owns a sink from Open to Close and calls it from one
// goroutine only.
type Sink interface {
	// Open prepares the output for want and returns the format it will
	// actually take. A sink may change the sample format and the channel
	// count to what the device supports (the converter adapts); it must not
	// change the rate. If it cannot take the rate or any sample format we
	// produce, the error says what the device offers.
	Open(want Format) (Format, error)
	// Write plays whole frames in the opened format and blocks at the
	// device's pace (sinks without a clock return at once).
	Write(p []byte) (int, error)
	// Pause stops sound at once, dropping what the device holds; Resume
	// makes the device ready to take frames again. A sink that cannot take
	// back what it was given (a pipe) returns ErrCannotDrop: everything
	// written will still be heard.
	Pause() error
	Resume() error
	// Drain blocks until everything written has been played.
	Drain() error
	// Delay is how long audio written now takes to be heard.
	Delay() time.Duration
	// Close releases the device. Close after Close is a no-op.
	Close() error
}

// ErrCannotDrop is returned by the Pause of a sink whose written audio is
// out of its hands: the player then counts all of it as heard, rather than
// playing it again after a pause.
var ErrCannotDrop = errors.New("the output cannot take back audio already written")

// XrunCounter is implemented by sinks that can under-run (ALSA).
type XrunCounter interface {
	Xruns() uint64
}

// HardwareVolume is implemented by sinks that can set the volume on the
// device (an ALSA mixer control) instead of scaling samples.
type HardwareVolume interface {
	// SetVolume sets the output level, 0..65535 on Spotify's scale.
	SetVolume(v uint16) error
}
