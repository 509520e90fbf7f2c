package apconn

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakePackets is a PacketConn the test plays the AP's part on.
type fakePackets struct {
	sent    chan Packet
	recv    chan Packet
	done    chan struct{}
	sendErr error
}

func newFakePackets() *fakePackets {
	return &fakePackets{sent: make(chan Packet, 16), recv: make(chan Packet), done: make(chan struct{})}
}

func (f *fakePackets) Send(_ context.Context, t PacketType, p []byte) error {
	if f.sendErr != nil {
		return f.sendErr
	}
	f.sent <- Packet{Type: t, Payload: p}
	return nil
}
func (f *fakePackets) Receive() <-chan Packet { return f.recv }
func (f *fakePackets) Done() <-chan struct{}  { return f.done }

// fakeTimers hands every requested timeout to the test, which fires it.
type fakeTimers struct{ reqs chan fakeTimer }

type fakeTimer struct {
	d    time.Duration
	fire chan time.Time
}

func (f *fakeTimers) after(d time.Duration) <-chan time.Time {
	t := fakeTimer{d: d, fire: make(chan time.Time, 1)}
	f.reqs <- t
	return t.fire
}

type keyEnv struct {
	t      *testing.T
	pc     *fakePackets
	timers *fakeTimers
	keys   *KeyProvider
	info   *Info
	served chan struct{}
}

func newKeyEnv(t *testing.T, timeout time.Duration) *keyEnv {
	e := &keyEnv{t: t, pc: newFakePackets(), timers: &fakeTimers{reqs: make(chan fakeTimer, 16)}, info: NewInfo(), served: make(chan struct{})}
	e.keys = NewKeyProvider(e.pc, KeyConfig{Timeout: timeout, After: e.timers.after})
	go func() { defer close(e.served); Serve(e.pc, e.info, e.keys, nil) }()
	t.Cleanup(func() {
		e.close()
		<-e.served
	})
	return e
}

// close ends the connection the way go-librespot's AP does: Done first,
// the packet channel after.
func (e *keyEnv) close() {
	select {
	case <-e.pc.done:
	default:
		close(e.pc.done)
		close(e.pc.recv)
	}
}

type keyRes struct {
	key [16]byte
	err error
}

func (e *keyEnv) ask(gid [16]byte, fileID [20]byte) <-chan keyRes {
	ch := make(chan keyRes, 1)
	go func() {
		k, err := e.keys.AudioKey(e.t.Context(), gid, fileID)
		ch <- keyRes{k, err}
	}()
	return ch
}

// request reads the next request the provider sent.
func (e *keyEnv) request() (fileID [20]byte, gid [16]byte, seq uint32) {
	e.t.Helper()
	p := <-e.pc.sent
	if p.Type != PacketRequestKey {
		e.t.Fatalf("sent packet type 0x%02x, want 0x0c", byte(p.Type))
	}
	fileID, gid, seq, err := DecodeKeyRequest(p.Payload)
	if err != nil {
		e.t.Fatal(err)
	}
	return fileID, gid, seq
}

func TestKeyProviderMatchesAnswersBySequence(t *testing.T) {
	e := newKeyEnv(t, time.Second)
	a := e.ask([16]byte{1}, [20]byte{0xa})
	fa, ga, sa := e.request()
	b := e.ask([16]byte{2}, [20]byte{0xb})
	fb, gb, sb := e.request()
	if fa != [20]byte{0xa} || ga != [16]byte{1} || fb != [20]byte{0xb} || gb != [16]byte{2} {
		t.Fatalf("requests carry %x/%x and %x/%x", fa, ga, fb, gb)
	}
	if sa == sb {
		t.Fatalf("both requests have sequence %d", sa)
	}
	// Answer out of order; a stray answer for an unknown sequence first.
	e.pc.recv <- Packet{Type: PacketAesKey, Payload: EncodeKeyAnswer(sb+100, [16]byte{0xee})}
	e.pc.recv <- Packet{Type: PacketAesKey, Payload: EncodeKeyAnswer(sb, [16]byte{0xbb})}
	e.pc.recv <- Packet{Type: PacketAesKey, Payload: EncodeKeyAnswer(sa, [16]byte{0xaa})}
	if r := <-b; r.err != nil || r.key != [16]byte{0xbb} {
		t.Fatalf("b = %x, %v", r.key, r.err)
	}
	if r := <-a; r.err != nil || r.key != [16]byte{0xaa} {
		t.Fatalf("a = %x, %v", r.key, r.err)
	}
	// Country and product packets on the same channel reach Info.
	e.pc.recv <- Packet{Type: PacketCountryCode, Payload: []byte("de")}
	if c, err := e.info.Country(t.Context()); c != "DE" || err != nil {
		t.Fatalf("Country = %q, %v", c, err)
	}
}

func TestKeyProviderErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(seq uint32) Packet
		check  func(error) bool
	}{
		{"refused", func(s uint32) Packet { return Packet{PacketAesKeyError, EncodeKeyError(s, 0x0002)} }, func(err error) bool {
			var r *KeyRefusedError
			return errors.As(err, &r) && r.Code == 2
		}},
		{"truncated key", func(s uint32) Packet { return Packet{PacketAesKey, EncodeKeyAnswer(s, [16]byte{1})[:12]} }, func(err error) bool {
			return errors.Is(err, ErrMalformed)
		}},
		{"short error", func(s uint32) Packet { return Packet{PacketAesKeyError, EncodeKeyError(s, 1)[:5]} }, func(err error) bool {
			return errors.Is(err, ErrMalformed)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newKeyEnv(t, time.Second)
			r := e.ask([16]byte{1}, [20]byte{2})
			_, _, seq := e.request()
			e.pc.recv <- tc.answer(seq)
			if res := <-r; !tc.check(res.err) || res.key != [16]byte{} {
				t.Fatalf("got %x, %v", res.key, res.err)
			}
		})
	}
}

func TestKeyProviderTimeout(t *testing.T) {
	e := newKeyEnv(t, 3*time.Second)
	r := e.ask([16]byte{1}, [20]byte{2})
	_, _, seq := e.request()
	tm := <-e.timers.reqs
	if tm.d != 3*time.Second {
		t.Fatalf("timeout %v, want the configured 3s", tm.d)
	}
	tm.fire <- time.Time{}
	if res := <-r; !errors.Is(res.err, ErrKeyTimeout) {
		t.Fatalf("err = %v, want ErrKeyTimeout", res.err)
	}
	// The late answer is dropped, and the provider still works.
	e.pc.recv <- Packet{Type: PacketAesKey, Payload: EncodeKeyAnswer(seq, [16]byte{9})}
	r = e.ask([16]byte{1}, [20]byte{2})
	_, _, seq2 := e.request()
	if seq2 == seq {
		t.Fatal("sequence reused")
	}
	e.pc.recv <- Packet{Type: PacketAesKey, Payload: EncodeKeyAnswer(seq2, [16]byte{7})}
	if res := <-r; res.err != nil || res.key != [16]byte{7} {
		t.Fatalf("after a timeout: %x, %v", res.key, res.err)
	}
}

func TestKeyProviderDefaultTimeout(t *testing.T) {
	e := newKeyEnv(t, 0)
	e.ask([16]byte{1}, [20]byte{2})
	e.request()
	if tm := <-e.timers.reqs; tm.d != DefaultKeyTimeout {
		t.Fatalf("timeout %v, want %v", tm.d, DefaultKeyTimeout)
	}
}

func TestKeyProviderConnectionLost(t *testing.T) {
	e := newKeyEnv(t, time.Second)
	a := e.ask([16]byte{1}, [20]byte{2})
	e.request()
	b := e.ask([16]byte{3}, [20]byte{4})
	e.request()
	// Done alone (the packet channel still open) fails both at once,
	// without any timer firing.
	close(e.pc.done)
	for _, r := range []<-chan keyRes{a, b} {
		if res := <-r; !errors.Is(res.err, ErrConnLost) {
			t.Fatalf("err = %v, want ErrConnLost", res.err)
		}
	}
	if _, err := e.info.Country(t.Context()); !errors.Is(err, ErrConnLost) {
		t.Fatalf("Country after loss: %v", err)
	}
	// Serve keeps draining until the channel closes (the AP must never
	// block on it).
	e.pc.recv <- Packet{Type: PacketCountryCode, Payload: []byte("se")}
	if _, err := e.keys.AudioKey(t.Context(), [16]byte{}, [20]byte{}); !errors.Is(err, ErrConnLost) {
		t.Fatalf("AudioKey after loss: %v", err)
	}
	close(e.pc.recv)
	<-e.served
}

func TestKeyProviderSendErrorAndContext(t *testing.T) {
	pc := newFakePackets()
	pc.sendErr = errors.New("broken pipe")
	k := NewKeyProvider(pc, KeyConfig{After: func(time.Duration) <-chan time.Time { return nil }})
	if _, err := k.AudioKey(t.Context(), [16]byte{}, [20]byte{}); err == nil || errors.Is(err, ErrConnLost) {
		t.Fatalf("send error: %v", err)
	}
	pc.sendErr = nil
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := k.AudioKey(ctx, [16]byte{}, [20]byte{}); done <- err }()
	<-pc.sent
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	k.mu.Lock()
	n := len(k.pending)
	k.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d requests still pending after they returned", n)
	}
}
