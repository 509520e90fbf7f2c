package pcm

import (
	"bytes"
	"fmt"
)

// FirstSound is the index of the first frame with any non-zero byte, or -1.
// Capture from snd-aloop starts with the silence the card produced before
// the player started, so this is where the two streams are aligned.
func FirstSound(data []byte, frameBytes int) int {
	for i := 0; i+frameBytes <= len(data); i += frameBytes {
		for _, c := range data[i : i+frameBytes] {
			if c != 0 {
				return i / frameBytes
			}
		}
	}
	return -1
}

// LastSound is the index of the last frame with any non-zero byte, or -1.
func LastSound(data []byte, frameBytes int) int {
	for i := len(data)/frameBytes*frameBytes - frameBytes; i >= 0; i -= frameBytes {
		for _, c := range data[i : i+frameBytes] {
			if c != 0 {
				return i / frameBytes
			}
		}
	}
	return -1
}

// Match is the outcome of comparing a capture against a reference.
type Match struct {
	Offset     int // capture frame where reference frame 0 sits
	RefFrames  int
	Mismatched int // frames of the reference that differ or are missing
	FirstBad   int // first reference frame that differs, -1 if none
	Missing    int // reference frames beyond the end of the capture
	Gap        int // frames of inserted silence (CompareWithGap only)
	GapAt      int // reference frame before which the gap sits, -1 if none
	// ResumeAt is, when the capture does not continue where it broke off,
	// the reference frame it did continue with after the silence (-1 if
	// none was found): below GapAt means repeated audio, above it lost.
	ResumeAt int
	Silence  int // frames of silence before ResumeAt
}

// Exact reports whether every reference frame was found in order.
func (m Match) Exact() bool { return m.Mismatched == 0 }

func (m Match) String() string {
	s := fmt.Sprintf("%d frames, offset %d", m.RefFrames, m.Offset)
	if m.GapAt >= 0 && m.Gap > 0 {
		s += fmt.Sprintf(", one gap of %d frames before frame %d", m.Gap, m.GapAt)
	}
	if m.Mismatched == 0 {
		return s + ", bit-exact"
	}
	s += fmt.Sprintf(", %d frames differ (first at %d)", m.Mismatched, m.FirstBad)
	if m.Missing > 0 {
		s += fmt.Sprintf(", capture ends %d frames early", m.Missing)
	}
	if m.ResumeAt < 0 && m.GapAt >= 0 && m.Mismatched > 0 {
		s += fmt.Sprintf("; the capture leaves the reference at frame %d after %d frames of silence and does not pick it up again within the search window", m.GapAt, m.Silence)
	}
	if m.ResumeAt >= 0 && m.GapAt >= 0 {
		s += fmt.Sprintf("; after %d frames of silence the capture resumes at reference frame %d", m.Silence, m.ResumeAt)
		if d := m.ResumeAt - m.GapAt; d > 0 {
			s += fmt.Sprintf(" (%d frames lost)", d)
		} else if d < 0 {
			s += fmt.Sprintf(" (%d frames repeated)", -d)
		}
	}
	return s
}

// align finds where the reference starts in the capture: both are aligned
// on their first frame of sound, and the reference's leading silence (if
// any) is taken to be inside the capture's.
func align(ref, capture []byte, fb int) (int, error) {
	r0 := FirstSound(ref, fb)
	if r0 < 0 {
		return 0, fmt.Errorf("the reference is all silence")
	}
	c0 := FirstSound(capture, fb)
	if c0 < 0 {
		return 0, fmt.Errorf("the capture is all silence (%d frames): nothing reached the loopback", len(capture)/fb)
	}
	off := c0 - r0
	if off < 0 {
		return 0, fmt.Errorf("sound starts %d frames into the capture but %d into the reference: the capture missed the start", c0, r0)
	}
	return off, nil
}

// Compare checks that the reference appears in the capture, whole and in
// order, starting at the capture's first sound. Frames after the reference
// are not looked at.
func Compare(ref, capture []byte, frameBytes int) (Match, error) {
	off, err := align(ref, capture, frameBytes)
	if err != nil {
		return Match{}, err
	}
	m := Match{Offset: off, RefFrames: len(ref) / frameBytes, FirstBad: -1, GapAt: -1}
	countDiff(&m, ref, capture[off*frameBytes:], 0, frameBytes)
	return m, nil
}

// countDiff compares ref[from:] with cap (which holds what should equal
// ref[from:]) and adds the differences to m.
func countDiff(m *Match, ref, cap []byte, from, fb int) {
	n := len(ref)/fb - from
	have := len(cap) / fb
	for i := 0; i < n; i++ {
		if i >= have {
			m.Missing = n - i
			m.Mismatched += n - i
			if m.FirstBad < 0 {
				m.FirstBad = from + i
			}
			return
		}
		r := ref[(from+i)*fb : (from+i+1)*fb]
		if !bytes.Equal(r, cap[i*fb:(i+1)*fb]) {
			m.Mismatched++
			if m.FirstBad < 0 {
				m.FirstBad = from + i
			}
		}
	}
}

// CompareWithGap checks that the capture holds the reference with at most
// one stretch of inserted silence (an underrun: the device played nothing
// while the player was stopped) and nothing lost: frames 0..k of the
// reference, then up to maxGap frames of silence, then frames k.. to the end.
func CompareWithGap(ref, capture []byte, frameBytes, maxGap int) (Match, error) {
	fb := frameBytes
	off, err := align(ref, capture, fb)
	if err != nil {
		return Match{}, err
	}
	m := Match{Offset: off, RefFrames: len(ref) / fb, FirstBad: -1, GapAt: -1, ResumeAt: -1}
	c := capture[off*fb:]
	n := m.RefFrames
	k := 0
	for k < n && (k+1)*fb <= len(c) && bytes.Equal(ref[k*fb:(k+1)*fb], c[k*fb:(k+1)*fb]) {
		k++
	}
	if k == n {
		return m, nil // no gap at all
	}
	// The gap must be silence; measure it, then require the rest of the
	// reference to follow it exactly. Silence in the reference itself at k
	// would make the gap look longer than it is, so try every split point
	// inside the silent run.
	z := 0
	for (k+z+1)*fb <= len(c) && z < maxGap && isSilent(c[(k+z)*fb:(k+z+1)*fb]) {
		z++
	}
	best := Match{}
	bestSet := false
	for g := z; g >= 1; g-- {
		t := m
		t.Gap, t.GapAt = g, k
		countDiff(&t, ref, c[(k+g)*fb:], k, fb)
		if t.Mismatched == 0 {
			return t, nil
		}
		if !bestSet || t.Mismatched < best.Mismatched {
			best, bestSet = t, true
		}
	}
	if !bestSet {
		// Not silence where the streams part: report the plain comparison.
		countDiff(&m, ref, c, 0, fb)
		best = m
	}
	// Diagnose: where in the reference does the capture pick up again?
	best.GapAt, best.Silence = k, z
	best.ResumeAt = findResume(ref, c[(k+z)*fb:], fb, k, maxGap)
	return best, nil
}

// findResume finds the reference frame within maxGap of k whose next
// frames (up to 64) the capture continues with, or -1.
func findResume(ref, cont []byte, fb, k, maxGap int) int {
	n := min(64, len(cont)/fb)
	if n == 0 {
		return -1
	}
	probe := cont[:n*fb]
	for d := 0; d <= maxGap; d++ {
		for _, j := range []int{k + d, k - d} {
			if j < 0 || (j+n)*fb > len(ref) {
				continue
			}
			if bytes.Equal(ref[j*fb:(j+n)*fb], probe) {
				return j
			}
		}
	}
	return -1
}

func isSilent(frame []byte) bool {
	for _, c := range frame {
		if c != 0 {
			return false
		}
	}
	return true
}

// Diff counts the frames in which two equally long stretches of PCM
// differ and the largest difference of one sample, in the format's integer
// units (float samples are compared as their bit patterns' integers).
func Diff(a, b []byte, f Format) (frames int, maxAbs int64) {
	fb := f.FrameBytes()
	bps := f.BitsPerSample / 8
	n := min(len(a), len(b)) / fb
	for i := 0; i < n; i++ {
		fa, fbb := a[i*fb:(i+1)*fb], b[i*fb:(i+1)*fb]
		if bytes.Equal(fa, fbb) {
			continue
		}
		frames++
		for c := 0; c < f.Channels; c++ {
			d := sample(fa[c*bps:], bps) - sample(fbb[c*bps:], bps)
			if d < 0 {
				d = -d
			}
			maxAbs = max(maxAbs, d)
		}
	}
	return frames + abs(len(a)-len(b))/fb, maxAbs
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// sample reads one signed little-endian sample of bps bytes.
func sample(b []byte, bps int) int64 {
	var v int64
	for i := bps - 1; i >= 0; i-- {
		v = v<<8 | int64(b[i])
	}
	shift := 64 - 8*bps
	return v << shift >> shift
}
