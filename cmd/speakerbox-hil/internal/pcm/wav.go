// Package pcm reads the PCM the real-kernel tests compare: WAV files written
// by speakerbox's wav sink and raw captures from the loopback card, and
// compares them sample for sample after aligning their starts.
package pcm

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Format describes interleaved little-endian PCM.
type Format struct {
	Rate          int
	Channels      int
	BitsPerSample int  // container bits: 16, 24 or 32
	Float         bool // IEEE float samples
}

// FrameBytes is the size of one interleaved frame.
func (f Format) FrameBytes() int { return f.Channels * f.BitsPerSample / 8 }

// ALSAName is the ALSA name of the sample layout ("S16_LE"), as passed to
// speakerbox's --audio.format.
func (f Format) ALSAName() string {
	switch {
	case f.Float && f.BitsPerSample == 32:
		return "FLOAT_LE"
	case f.BitsPerSample == 16:
		return "S16_LE"
	case f.BitsPerSample == 24:
		return "S24_3LE"
	case f.BitsPerSample == 32:
		return "S32_LE"
	}
	return fmt.Sprintf("unknown(%d bits)", f.BitsPerSample)
}

func (f Format) String() string {
	return fmt.Sprintf("%s %d Hz %d ch", f.ALSAName(), f.Rate, f.Channels)
}

// Audio is a decoded WAV file: its format and its sample bytes.
type Audio struct {
	Format Format
	Data   []byte // whole frames only
}

// Frames is the number of whole frames in Data.
func (a Audio) Frames() int { return len(a.Data) / a.Format.FrameBytes() }

const (
	wavFormatPCM        = 1
	wavFormatFloat      = 3
	wavFormatExtensible = 0xfffe
)

// ParseWAV reads a RIFF/WAVE file held in memory. A data chunk whose size
// field is larger than what follows (a writer that was killed before fixing
// the header, or one that streams with size 0xffffffff) is cut to the bytes
// present and to whole frames.
func ParseWAV(b []byte) (Audio, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return Audio{}, errors.New("parse WAV: no RIFF/WAVE header")
	}
	var (
		f       Format
		haveFmt bool
	)
	p := 12
	for p+8 <= len(b) {
		id := string(b[p : p+4])
		size := int64(binary.LittleEndian.Uint32(b[p+4 : p+8]))
		body := p + 8
		switch id {
		case "fmt ":
			if size < 16 || int64(body)+16 > int64(len(b)) {
				return Audio{}, fmt.Errorf("parse WAV: fmt chunk of %d bytes is too short", size)
			}
			tag := binary.LittleEndian.Uint16(b[body:])
			f.Channels = int(binary.LittleEndian.Uint16(b[body+2:]))
			f.Rate = int(binary.LittleEndian.Uint32(b[body+4:]))
			f.BitsPerSample = int(binary.LittleEndian.Uint16(b[body+14:]))
			if tag == wavFormatExtensible {
				// The sub-format GUID starts with the real tag.
				if size < 40 || int64(body)+40 > int64(len(b)) {
					return Audio{}, fmt.Errorf("parse WAV: extensible fmt chunk of %d bytes is too short", size)
				}
				tag = binary.LittleEndian.Uint16(b[body+24:])
			}
			switch tag {
			case wavFormatPCM:
			case wavFormatFloat:
				f.Float = true
			default:
				return Audio{}, fmt.Errorf("parse WAV: format tag %#x is neither PCM nor float", tag)
			}
			if f.Channels < 1 || f.Channels > 8 || f.Rate < 1 || f.Rate > 768000 ||
				(f.BitsPerSample != 16 && f.BitsPerSample != 24 && f.BitsPerSample != 32) ||
				(f.Float && f.BitsPerSample != 32) {
				return Audio{}, fmt.Errorf("parse WAV: unsupported format: %d ch, %d Hz, %d bits, float %v",
					f.Channels, f.Rate, f.BitsPerSample, f.Float)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return Audio{}, errors.New("parse WAV: data chunk before fmt chunk")
			}
			end := int64(body) + size
			if end > int64(len(b)) {
				end = int64(len(b))
			}
			data := b[body:end]
			fb := f.FrameBytes()
			return Audio{Format: f, Data: data[:len(data)/fb*fb]}, nil
		}
		// Chunks are padded to an even size.
		next := int64(body) + size + size&1
		if next > int64(len(b)) {
			break
		}
		p = int(next)
	}
	if !haveFmt {
		return Audio{}, errors.New("parse WAV: no fmt chunk")
	}
	return Audio{}, errors.New("parse WAV: no data chunk")
}
