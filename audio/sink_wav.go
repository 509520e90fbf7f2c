package audio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"
)

// WAVSink writes a RIFF/WAVE file. The sizes in the header are fixed up on
// Drain and Close, so the file is valid after every end of stream. 16-bit
// audio gets a plain PCM header; 24-bit, 32-bit and float use
// WAVE_FORMAT_EXTENSIBLE, which is what tells readers the container size,
// the valid bits and the sample type apart.
type WAVSink struct {
	path   string
	sample SampleFormat

	f         *os.File
	w         *bufio.Writer
	format    Format
	started   bool // a header for format is in the file
	headerLen int64
	dataBytes int64
	closed    bool
}

var _ Sink = (*WAVSink)(nil)

// NewWAVSink returns a sink writing path ("-" = standard output, where the
// header cannot be fixed up and keeps "unknown length" sizes). sample 0
// keeps the caller's sample format.
func NewWAVSink(path string, sample SampleFormat) *WAVSink {
	return &WAVSink{path: path, sample: sample}
}

// maxWAVData keeps the RIFF size (data + header) within 32 bits.
const maxWAVData = math.MaxUint32 - 128

// Open creates the file, or continues it when reopened with the same format
// (a player that closes its output on pause must not truncate the file).
func (s *WAVSink) Open(want Format) (Format, error) {
	if err := checkSinkFormat(want); err != nil {
		return Format{}, fmt.Errorf("open WAV file %q: %w", s.path, err)
	}
	got := want
	if s.sample != 0 {
		got.Sample = s.sample
	}
	if s.f != nil {
		if got != s.format {
			return Format{}, fmt.Errorf("WAV file %q: format changed from %s to %s; one file holds one format", s.path, s.format, got)
		}
		return got, nil
	}
	s.closed = false
	if s.path == "-" {
		s.f = os.Stdout
	} else {
		flags := os.O_RDWR | os.O_CREATE
		if !s.started || got != s.format {
			flags |= os.O_TRUNC
			s.started = false
		}
		f, err := os.OpenFile(s.path, flags, 0o644)
		if err != nil {
			return Format{}, fmt.Errorf("open WAV file %q: %w", s.path, err)
		}
		s.f = f
	}
	s.format = got
	if s.w == nil {
		s.w = bufio.NewWriterSize(s.f, 64<<10)
	} else {
		s.w.Reset(s.f)
	}
	if s.started {
		if s.path != "-" {
			if _, err := s.f.Seek(s.headerLen+s.dataBytes, io.SeekStart); err != nil {
				return Format{}, fmt.Errorf("reopen WAV file %q: %w", s.path, err)
			}
		}
		return got, nil
	}
	hdr := wavHeader(got, 0)
	if s.path == "-" {
		hdr = wavHeader(got, -1)
	}
	if _, err := s.w.Write(hdr); err != nil {
		return Format{}, fmt.Errorf("write WAV header to %q: %w", s.path, err)
	}
	s.started, s.headerLen, s.dataBytes = true, int64(len(hdr)), 0
	return got, nil
}

// Write appends whole frames.
func (s *WAVSink) Write(p []byte) (int, error) {
	if s.f == nil {
		return 0, fmt.Errorf("write to WAV file %q: not open", s.path)
	}
	if err := checkWholeFrames(p, s.format); err != nil {
		return 0, fmt.Errorf("write to WAV file %q: %w", s.path, err)
	}
	if s.dataBytes+int64(len(p)) > maxWAVData {
		return 0, fmt.Errorf("write to WAV file %q: a WAV file cannot hold more than 4 GiB", s.path)
	}
	n, err := s.w.Write(p)
	s.dataBytes += int64(n)
	if err != nil {
		return n, fmt.Errorf("write to WAV file %q: %w", s.path, err)
	}
	return n, nil
}

func (s *WAVSink) Pause() error         { return nil }
func (s *WAVSink) Resume() error        { return nil }
func (s *WAVSink) Delay() time.Duration { return 0 }

// Drain flushes and fixes the header up, so that the file is complete at
// every end of stream.
func (s *WAVSink) Drain() error {
	if s.f == nil {
		return nil
	}
	return s.sync()
}

func (s *WAVSink) sync() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write WAV file %q: %w", s.path, err)
	}
	if s.path == "-" {
		return nil
	}
	hdr := wavHeader(s.format, s.dataBytes)
	if _, err := s.f.WriteAt(hdr, 0); err != nil {
		return fmt.Errorf("fix up WAV header of %q: %w", s.path, err)
	}
	return nil
}

// Close fixes the header up and closes the file.
func (s *WAVSink) Close() error {
	if s.closed || s.f == nil {
		s.closed = true
		return nil
	}
	s.closed = true
	err := s.sync()
	if s.path != "-" {
		if cerr := s.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close WAV file %q: %w", s.path, cerr)
		}
	}
	s.f = nil
	return err
}

const (
	wavFormatPCM        = 1
	wavFormatFloat      = 3
	wavFormatExtensible = 0xFFFE
)

// The SubFormat GUIDs of WAVE_FORMAT_EXTENSIBLE: the format tag in the
// first two bytes, then the fixed KSDATAFORMAT suffix.
var ksSubformatSuffix = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// validBits is the number of meaningful bits in a sample.
func wavValidBits(f SampleFormat) int {
	switch f {
	case S16LE:
		return 16
	case S24LE, S24_3LE:
		return 24
	case S32LE, FloatLE:
		return 32
	}
	return 0
}

// wavHeader builds the header for dataBytes of audio; -1 means "unknown
// length" (streaming to standard output), written as the largest sizes.
func wavHeader(f Format, dataBytes int64) []byte {
	le := binary.LittleEndian
	extensible := f.Sample != S16LE || f.Channels > 2
	fmtLen := 16
	if extensible {
		fmtLen = 40
	}
	float := f.Sample == FloatLE
	factLen := 0
	if float {
		factLen = 12 // non-PCM data carries a fact chunk with the frame count
	}
	hdrLen := 12 + 8 + fmtLen + factLen + 8
	riffSize, dataSize, frames := uint32(math.MaxUint32), uint32(math.MaxUint32), uint32(math.MaxUint32)
	if dataBytes >= 0 {
		riffSize = uint32(int64(hdrLen-8) + dataBytes)
		dataSize = uint32(dataBytes)
		frames = uint32(dataBytes / int64(f.FrameBytes()))
	}
	b := make([]byte, 0, hdrLen)
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, riffSize)
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, uint32(fmtLen))
	tag := uint16(wavFormatPCM)
	if extensible {
		tag = wavFormatExtensible
	} else if float {
		tag = wavFormatFloat
	}
	container := f.Sample.BytesPerSample() * 8
	b = le.AppendUint16(b, tag)
	b = le.AppendUint16(b, uint16(f.Channels))
	b = le.AppendUint32(b, uint32(f.Rate))
	b = le.AppendUint32(b, uint32(f.Rate*f.FrameBytes()))
	b = le.AppendUint16(b, uint16(f.FrameBytes()))
	b = le.AppendUint16(b, uint16(container))
	if extensible {
		b = le.AppendUint16(b, 22)
		b = le.AppendUint16(b, uint16(wavValidBits(f.Sample)))
		b = le.AppendUint32(b, channelMask(f.Channels))
		sub := uint16(wavFormatPCM)
		if float {
			sub = wavFormatFloat
		}
		b = le.AppendUint16(b, sub)
		b = append(b, ksSubformatSuffix[:]...)
	}
	if float {
		b = append(b, "fact"...)
		b = le.AppendUint32(b, 4)
		b = le.AppendUint32(b, frames)
	}
	b = append(b, "data"...)
	b = le.AppendUint32(b, dataSize)
	return b
}

// channelMask is the speaker layout: mono is front centre, stereo front
// left and right, more channels the first n standard speaker positions.
func channelMask(ch int) uint32 {
	switch ch {
	case 1:
		return 0x4
	case 2:
		return 0x3
	}
	if ch >= 32 {
		return math.MaxUint32
	}
	return 1<<ch - 1
}

// WAVInfo is what ParseWAVHeader found.
type WAVInfo struct {
	Format     Format
	DataOffset int64
	DataBytes  int64 // -1 when the header says "unknown length"
}

// ParseWAVHeader reads a RIFF/WAVE header up to the start of the data
// chunk. It takes what WAVSink writes (PCM, IEEE float, extensible) and
// refuses anything else with a reason; it never trusts a size for more than
// skipping a chunk.
func ParseWAVHeader(r io.Reader) (WAVInfo, error) {
	le := binary.LittleEndian
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return WAVInfo{}, fmt.Errorf("read WAV header: %w", err)
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return WAVInfo{}, errors.New("not a RIFF/WAVE file")
	}
	var info WAVInfo
	var haveFmt bool
	off := int64(12)
	for chunks := 0; chunks < 64; chunks++ {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return WAVInfo{}, fmt.Errorf("read WAV chunk header at %d: %w", off, err)
		}
		off += 8
		id, size := string(ch[0:4]), le.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return WAVInfo{}, fmt.Errorf("WAV fmt chunk of %d bytes", size)
			}
			body := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, body); err != nil {
				return WAVInfo{}, fmt.Errorf("read WAV fmt chunk: %w", err)
			}
			off += int64(len(body))
			f, err := parseFmtChunk(body[:size])
			if err != nil {
				return WAVInfo{}, err
			}
			info.Format, haveFmt = f, true
		case "data":
			if !haveFmt {
				return WAVInfo{}, errors.New("WAV data chunk before the fmt chunk")
			}
			info.DataOffset = off
			info.DataBytes = int64(size)
			if size == math.MaxUint32 {
				info.DataBytes = -1
			}
			return info, nil
		default:
			skip := int64(size) + int64(size%2)
			if _, err := io.CopyN(io.Discard, r, skip); err != nil {
				return WAVInfo{}, fmt.Errorf("skip WAV chunk %q: %w", id, err)
			}
			off += skip
		}
	}
	return WAVInfo{}, errors.New("no data chunk in the first 64 WAV chunks")
}

func parseFmtChunk(b []byte) (Format, error) {
	le := binary.LittleEndian
	tag := le.Uint16(b[0:])
	f := Format{Channels: int(le.Uint16(b[2:])), Rate: int(le.Uint32(b[4:]))}
	blockAlign := int(le.Uint16(b[12:]))
	container := int(le.Uint16(b[14:]))
	valid := container
	if tag == wavFormatExtensible {
		if len(b) < 40 || le.Uint16(b[16:]) < 22 {
			return Format{}, errors.New("WAV extensible fmt chunk too short")
		}
		valid = int(le.Uint16(b[18:]))
		if [14]byte(b[26:40]) != ksSubformatSuffix {
			return Format{}, errors.New("WAV extensible sub-format is not PCM or IEEE float")
		}
		tag = le.Uint16(b[24:])
	}
	switch {
	case tag == wavFormatPCM && container == 16 && valid == 16:
		f.Sample = S16LE
	case tag == wavFormatPCM && container == 24 && valid == 24:
		f.Sample = S24_3LE
	case tag == wavFormatPCM && container == 32 && valid == 24:
		f.Sample = S24LE
	case tag == wavFormatPCM && container == 32 && valid == 32:
		f.Sample = S32LE
	case tag == wavFormatFloat && container == 32:
		f.Sample = FloatLE
	default:
		return Format{}, fmt.Errorf("unsupported WAV sample format (tag %#x, %d bits in %d)", tag, valid, container)
	}
	if err := checkSinkFormat(f); err != nil {
		return Format{}, fmt.Errorf("WAV header: %w", err)
	}
	if blockAlign != f.FrameBytes() {
		return Format{}, fmt.Errorf("WAV block align %d, want %d for %s", blockAlign, f.FrameBytes(), f)
	}
	return f, nil
}
