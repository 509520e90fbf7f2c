package timesync

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// answerConn is a server that answers any query with fixed bytes; when
// echo is set, the query's transmit stamp is copied into the answer's
// origin stamp, as a real server does, so that the answer gets past the
// library's first check.
type answerConn struct {
	net.Conn // nil: only the methods below are used
	answer   []byte
	echo     bool
	query    []byte
}

func (c *answerConn) Write(p []byte) (int, error) {
	c.query = append([]byte(nil), p...)
	return len(p), nil
}

func (c *answerConn) Read(p []byte) (int, error) {
	if c.answer == nil {
		return 0, io.EOF
	}
	a := append([]byte(nil), c.answer...)
	if c.echo && len(a) >= 32 && len(c.query) >= 48 {
		copy(a[24:32], c.query[40:48])
	}
	c.answer = nil
	return copy(p, a), nil
}

func (c *answerConn) Close() error                     { return nil }
func (c *answerConn) SetDeadline(time.Time) error      { return nil }
func (c *answerConn) SetReadDeadline(time.Time) error  { return nil }
func (c *answerConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzAnswer: whatever a server (or anyone on the path) sends, Sync never
// panics and never sets the clock before the floor.
func FuzzAnswer(f *testing.F) {
	good := make([]byte, 48)
	good[0], good[1], good[3] = 4<<3|4, 2, 0xec
	binary.BigEndian.PutUint64(good[16:], ntpStamp(actual.Add(-time.Minute)))
	binary.BigEndian.PutUint64(good[32:], ntpStamp(actual))
	binary.BigEndian.PutUint64(good[40:], ntpStamp(actual))
	old := append([]byte(nil), good...)
	binary.BigEndian.PutUint64(old[16:], ntpStamp(build.Add(-48*time.Hour)))
	binary.BigEndian.PutUint64(old[32:], ntpStamp(build.Add(-24*time.Hour)))
	binary.BigEndian.PutUint64(old[40:], ntpStamp(build.Add(-24*time.Hour)))
	f.Add(good, true)
	f.Add(old, true)
	f.Add(good[:47], true)
	f.Add(append(good, make([]byte, 60)...), true)
	f.Add(good, false)
	f.Add([]byte{}, true)
	// One state directory for every input: a directory made and removed
	// per input costs more than the parse under test, and the saved time
	// only ever moves forward, which is what the property needs.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, answer []byte, echo bool) {
		clk := &sysClock{now: time.Unix(5, 0)}
		s, err := New(Config{Servers: []string{"ntp.test"}, StateDir: dir, Build: build, Now: clk.Now, Set: clk.Set,
			Dial: func(context.Context, string, string) (net.Conn, error) {
				return &answerConn{answer: answer, echo: echo}, nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Sync(context.Background())
		for _, set := range clk.Sets() {
			if set.Before(build) {
				t.Fatalf("clock set to %v, before the floor %v", set, build)
			}
		}
	})
}

// The fuzz seeds reach the interesting paths: the good answer sets the
// clock, the old one is refused.
func TestFuzzSeedsReachTheClock(t *testing.T) {
	good := make([]byte, 48)
	good[0], good[1], good[3] = 4<<3|4, 2, 0xec
	binary.BigEndian.PutUint64(good[16:], ntpStamp(actual.Add(-time.Minute)))
	binary.BigEndian.PutUint64(good[32:], ntpStamp(actual))
	binary.BigEndian.PutUint64(good[40:], ntpStamp(actual))
	clk := &sysClock{now: time.Unix(5, 0)}
	s, err := New(Config{Servers: []string{"ntp.test"}, StateDir: t.TempDir(), Build: build, Now: clk.Now, Set: clk.Set,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return &answerConn{answer: good, echo: true}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sets := clk.Sets(); len(sets) != 1 || sets[0].Sub(actual).Abs() > time.Millisecond {
		t.Fatalf("sets %v, want %v", sets, actual)
	}
}
