package spclient

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	connectpb "github.com/devgianlu/go-librespot/proto/spotify/connectstate"
	"google.golang.org/protobuf/proto"
)

// fakeClock drives the publisher's timers. Tests wait until the publisher
// has armed the timer they expect, then move the clock past it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced when timers change
}

type fakeTimer struct {
	c   *fakeClock
	due time.Time
	ch  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC), changed: make(chan struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, due: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	c.notifyLocked()
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			t.c.notifyLocked()
			return true
		}
	}
	return false
}

// Advance moves the clock by d and fires the timers now due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.due.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	c.timers = kept
	c.notifyLocked()
}

// waitTimer blocks until a timer is armed and returns the earliest due time.
func (c *fakeClock) waitTimer(t testing.TB) time.Time {
	t.Helper()
	guard := time.NewTimer(20 * time.Second) // a failure guard, not synchronisation
	defer guard.Stop()
	for {
		c.mu.Lock()
		if len(c.timers) > 0 {
			dues := make([]time.Time, len(c.timers))
			for i, x := range c.timers {
				dues[i] = x.due
			}
			c.mu.Unlock()
			sort.Slice(dues, func(i, j int) bool { return dues[i].Before(dues[j]) })
			return dues[0]
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-guard.C:
			t.Fatal("the publisher armed no timer")
		}
	}
}

// fire waits for the publisher's timer, checks when it is due, and moves
// the clock there.
func (c *fakeClock) fire(t testing.TB, wantIn time.Duration) {
	t.Helper()
	due := c.waitTimer(t)
	if in := due.Sub(c.Now()); in != wantIn {
		t.Fatalf("next call due in %v, want %v", in, wantIn)
	}
	c.Advance(wantIn)
}

// sent is one call the publisher made.
type sent struct {
	inactive bool
	connID   string
	req      *connectpb.PutStateRequest
}

// fakeSender records the publisher's calls and answers them from a script.
type fakeSender struct {
	mu      sync.Mutex
	calls   []sent
	errs    []error // answers for the next calls; nil = success
	changed chan struct{}
}

func newFakeSender() *fakeSender { return &fakeSender{changed: make(chan struct{})} }

func (s *fakeSender) record(c sent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	close(s.changed)
	s.changed = make(chan struct{})
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		return err
	}
	return nil
}

func (s *fakeSender) PutState(_ context.Context, connID string, req *connectpb.PutStateRequest) (*connectpb.Cluster, error) {
	if err := s.record(sent{connID: connID, req: req}); err != nil {
		return nil, err
	}
	return &connectpb.Cluster{ActiveDeviceId: "x"}, nil
}

func (s *fakeSender) Inactive(_ context.Context, connID string) error {
	return s.record(sent{inactive: true, connID: connID})
}

func (s *fakeSender) fail(errs ...error) {
	s.mu.Lock()
	s.errs = append(s.errs, errs...)
	s.mu.Unlock()
}

// wait blocks until the n-th call (from 1) and returns it.
func (s *fakeSender) wait(t testing.TB, n int) sent {
	t.Helper()
	guard := time.NewTimer(20 * time.Second)
	defer guard.Stop()
	for {
		s.mu.Lock()
		if len(s.calls) >= n {
			c := s.calls[n-1]
			s.mu.Unlock()
			return c
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-guard.C:
			t.Fatalf("call %d never came", n)
		}
	}
}

func (s *fakeSender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

type pubEnv struct {
	clk    *fakeClock
	sender *fakeSender
	p      *Publisher
}

// startPublisher runs a publisher on a fake clock until the test ends.
func startPublisher(t testing.TB) *pubEnv {
	t.Helper()
	e := &pubEnv{clk: newFakeClock(), sender: newFakeSender()}
	p, err := NewPublisher(PublisherConfig{Sender: e.sender, Now: e.clk.Now, NewTimer: e.clk.NewTimer})
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	})
	return e
}

func vol(c sent) uint32 { return c.req.GetDevice().GetDeviceInfo().GetVolume() }

func checkPut(t testing.TB, c sent, connID string, reason connectpb.PutStateReason, volume uint32) {
	t.Helper()
	if c.inactive || c.connID != connID || c.req.GetPutStateReason() != reason || vol(c) != volume {
		t.Fatalf("call %+v (reason %v, volume %d), want PUT on %s reason %v volume %d",
			c, c.req.GetPutStateReason(), vol(c), connID, reason, volume)
	}
}

// A burst of 100 volume changes becomes one PUT of the last volume, sent
// 200 ms after the previous PUT.
func TestPublisherCoalescesABurst(t *testing.T) {
	e := startPublisher(t)
	e.p.SetConnectionID("c1")
	e.p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 0))
	c := e.sender.wait(t, 1)
	checkPut(t, c, "c1", connectpb.PutStateReason_NEW_DEVICE, 0)
	if got := c.req.GetClientSideTimestamp(); got != uint64(e.clk.Now().UnixMilli()) {
		t.Errorf("client_side_timestamp %d, want the send time", got)
	}

	for v := uint32(1); v <= 100; v++ {
		e.p.Publish(testState(connectpb.PutStateReason_VOLUME_CHANGED, v*600))
	}
	e.clk.fire(t, 200*time.Millisecond)
	checkPut(t, e.sender.wait(t, 2), "c1", connectpb.PutStateReason_VOLUME_CHANGED, 60000)

	// A marker proves nothing else went out in between.
	e.p.Publish(testState(connectpb.PutStateReason_PLAYER_STATE_CHANGED, 1))
	e.clk.fire(t, 200*time.Millisecond)
	checkPut(t, e.sender.wait(t, 3), "c1", connectpb.PutStateReason_PLAYER_STATE_CHANGED, 1)
	if n := e.sender.count(); n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}
}

// The inactive call keeps its place between the PUTs around it; the PUTs
// before it coalesce among themselves only.
func TestPublisherOrdersInactiveAfterPendingPuts(t *testing.T) {
	e := startPublisher(t)
	e.p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 1)) // held: no connection id yet
	e.p.Publish(testState(connectpb.PutStateReason_PLAYER_STATE_CHANGED, 2))
	done := e.p.Inactive()
	e.p.Publish(testState(connectpb.PutStateReason_PLAYER_STATE_CHANGED, 3))
	e.p.Publish(testState(connectpb.PutStateReason_PLAYER_STATE_CHANGED, 4))
	if n := e.sender.count(); n != 0 {
		t.Fatalf("%d calls before a connection id", n)
	}
	e.p.SetConnectionID("c1")

	// The first PUT on a connection is NEW_DEVICE whatever its reason.
	checkPut(t, e.sender.wait(t, 1), "c1", connectpb.PutStateReason_NEW_DEVICE, 2)
	e.clk.fire(t, 200*time.Millisecond)
	if c := e.sender.wait(t, 2); !c.inactive || c.connID != "c1" {
		t.Fatalf("second call %+v, want inactive on c1", c)
	}
	if err := <-done; err != nil {
		t.Errorf("Inactive result %v", err)
	}
	e.clk.fire(t, 200*time.Millisecond)
	checkPut(t, e.sender.wait(t, 3), "c1", connectpb.PutStateReason_PLAYER_STATE_CHANGED, 4)
}

// A 429 holds every call for its Retry-After; then the latest state goes.
func TestPublisherCoolsDownAfter429(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
		want       time.Duration
	}{
		{"Retry-After", 3 * time.Second, 3 * time.Second},
		{"no Retry-After", 0, DefaultRateLimitWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startPublisher(t)
			e.p.SetConnectionID("c1")
			e.p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 1))
			e.sender.wait(t, 1)

			e.sender.fail(&StatusError{Status: http.StatusTooManyRequests, RetryAfter: tc.retryAfter})
			e.p.Publish(testState(connectpb.PutStateReason_VOLUME_CHANGED, 2))
			e.clk.fire(t, 200*time.Millisecond)
			checkPut(t, e.sender.wait(t, 2), "c1", connectpb.PutStateReason_VOLUME_CHANGED, 2)

			// During the cooldown: newer states coalesce, nothing is sent.
			e.p.Publish(testState(connectpb.PutStateReason_VOLUME_CHANGED, 3))
			e.p.Publish(testState(connectpb.PutStateReason_PLAYER_STATE_CHANGED, 4))
			e.clk.fire(t, tc.want)
			checkPut(t, e.sender.wait(t, 3), "c1", connectpb.PutStateReason_PLAYER_STATE_CHANGED, 4)
			if n := e.sender.count(); n != 3 {
				t.Errorf("%d calls, want 3", n)
			}
		})
	}
}

// A rate-limited state is sent again after the cooldown when nothing newer
// came.
func TestPublisherResendsTheRateLimitedState(t *testing.T) {
	e := startPublisher(t)
	e.sender.fail(&StatusError{Status: 429, RetryAfter: 5 * time.Second})
	e.p.SetConnectionID("c1")
	e.p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 8))
	e.sender.wait(t, 1)
	e.clk.fire(t, 5*time.Second)
	checkPut(t, e.sender.wait(t, 2), "c1", connectpb.PutStateReason_NEW_DEVICE, 8)
}

// After a new dealer connection id the latest state goes out again as
// NEW_DEVICE on the new id.
func TestPublisherNewDeviceAfterConnectionIDChange(t *testing.T) {
	e := startPublisher(t)
	e.p.SetConnectionID("c1")
	e.p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 10))
	checkPut(t, e.sender.wait(t, 1), "c1", connectpb.PutStateReason_NEW_DEVICE, 10)
	e.p.Publish(testState(connectpb.PutStateReason_PLAYER_STATE_CHANGED, 20))
	e.clk.fire(t, 200*time.Millisecond)
	checkPut(t, e.sender.wait(t, 2), "c1", connectpb.PutStateReason_PLAYER_STATE_CHANGED, 20)

	e.p.SetConnectionID("c1") // the same id again: nothing to do
	e.p.SetConnectionID("c2")
	e.clk.fire(t, 200*time.Millisecond)
	checkPut(t, e.sender.wait(t, 3), "c2", connectpb.PutStateReason_NEW_DEVICE, 20)

	// A state change queued when the id changes goes out as NEW_DEVICE.
	e.p.Publish(testState(connectpb.PutStateReason_VOLUME_CHANGED, 30))
	e.p.SetConnectionID("c3")
	e.clk.fire(t, 200*time.Millisecond)
	checkPut(t, e.sender.wait(t, 4), "c3", connectpb.PutStateReason_NEW_DEVICE, 30)
	e.p.Publish(testState(connectpb.PutStateReason_VOLUME_CHANGED, 40))
	e.clk.fire(t, 200*time.Millisecond)
	checkPut(t, e.sender.wait(t, 5), "c3", connectpb.PutStateReason_VOLUME_CHANGED, 40)
}

// A failed NEW_DEVICE is not forgotten when a newer state replaces it.
func TestPublisherKeepsNewDeviceAcrossAFailure(t *testing.T) {
	e := startPublisher(t)
	e.sender.fail(errors.New("connection reset"))
	e.p.SetConnectionID("c1")
	e.p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 1))
	e.sender.wait(t, 1)
	e.p.Publish(testState(connectpb.PutStateReason_VOLUME_CHANGED, 2))
	e.clk.fire(t, time.Second) // the first failure backs off 1 s
	checkPut(t, e.sender.wait(t, 2), "c1", connectpb.PutStateReason_NEW_DEVICE, 2)
}

func TestPublisherBackoffGrowsAndResets(t *testing.T) {
	e := startPublisher(t)
	boom := errors.New("503 for ever")
	e.sender.fail(boom, boom, boom)
	e.p.SetConnectionID("c1")
	e.p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 1))
	e.sender.wait(t, 1)
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		e.clk.fire(t, want)
		e.sender.wait(t, i+2)
	}
	e.p.Publish(testState(connectpb.PutStateReason_VOLUME_CHANGED, 2))
	e.clk.fire(t, 200*time.Millisecond) // success reset the backoff
	checkPut(t, e.sender.wait(t, 5), "c1", connectpb.PutStateReason_VOLUME_CHANGED, 2)
}

// A refusal that no retry fixes drops that call; the next one goes through.
func TestPublisherDropsARefusedCall(t *testing.T) {
	e := startPublisher(t)
	bad := &StatusError{Status: http.StatusBadRequest, ErrorType: "BAD"}
	e.sender.fail(bad, nil, bad)
	e.p.SetConnectionID("c1")
	e.p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 1))
	e.sender.wait(t, 1)
	e.p.Publish(testState(connectpb.PutStateReason_VOLUME_CHANGED, 2))
	e.clk.fire(t, 200*time.Millisecond)
	// Still NEW_DEVICE: the refused one never registered the device.
	checkPut(t, e.sender.wait(t, 2), "c1", connectpb.PutStateReason_NEW_DEVICE, 2)
	done := e.p.Inactive()
	e.clk.fire(t, 200*time.Millisecond)
	if err := <-done; !errors.Is(err, bad) {
		t.Errorf("Inactive result %v, want the refusal", err)
	}
	if n := e.sender.count(); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
}

func TestPublisherInactiveWithoutConnection(t *testing.T) {
	e := startPublisher(t)
	if err := <-e.p.Inactive(); !errors.Is(err, ErrNoConnectionID) {
		t.Errorf("Inactive = %v, want ErrNoConnectionID", err)
	}
	if n := e.sender.count(); n != 0 {
		t.Errorf("%d calls", n)
	}
}

func TestPublisherStopFinishesWaiters(t *testing.T) {
	clk, sender := newFakeClock(), newFakeSender()
	p, err := NewPublisher(PublisherConfig{Sender: sender, Now: clk.Now, NewTimer: clk.NewTimer})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	p.SetConnectionID("c1")
	p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 1))
	sender.wait(t, 1)
	inactive := p.Inactive() // held 200 ms behind the PUT
	clk.waitTimer(t)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	if err := <-inactive; !errors.Is(err, ErrPublisherStopped) {
		t.Errorf("pending Inactive = %v, want ErrPublisherStopped", err)
	}
	if err := <-p.Inactive(); !errors.Is(err, ErrPublisherStopped) {
		t.Errorf("Inactive after Run = %v", err)
	}
	p.Publish(nil) // ignored, no panic
}

func TestPublisherCluster(t *testing.T) {
	clk, sender := newFakeClock(), newFakeSender()
	got := make(chan *connectpb.Cluster, 10)
	var p *Publisher
	var once sync.Once
	p, err := NewPublisher(PublisherConfig{Sender: sender, Now: clk.Now, NewTimer: clk.NewTimer,
		Cluster: func(c *connectpb.Cluster) {
			once.Do(func() {
				p.Publish(testState(connectpb.PutStateReason_PLAYER_STATE_CHANGED, 5)) // must not deadlock
			})
			got <- c
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	go func() { defer close(done); _ = p.Run(ctx) }()
	p.SetConnectionID("c1")
	p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 1))
	if c := <-got; c.GetActiveDeviceId() != "x" {
		t.Errorf("cluster %v", c)
	}
	clk.fire(t, 200*time.Millisecond)
	checkPut(t, sender.wait(t, 2), "c1", connectpb.PutStateReason_PLAYER_STATE_CHANGED, 5)
}

// The publisher over the real client and the TLS fake: a 401 on the first
// PUT refreshes the token once and resends the state; a 429 cools down for
// its Retry-After and then the latest state goes; a new connection id brings
// NEW_DEVICE; the inactive call arrives last.
func TestPublisherOverTheWire(t *testing.T) {
	w := newEnv(t, nil)
	w.srv.SetAuthorize(func(tok string) bool { return tok == "tok-b" })
	clk := newFakeClock()
	p, err := NewPublisher(PublisherConfig{Sender: w.c, Now: clk.Now, NewTimer: clk.NewTimer})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	go func() { defer close(done); _ = p.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second) // a failure guard
	defer wcancel()

	p.SetConnectionID("c1")
	p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 100))
	put, err := w.srv.WaitConnectStatePut(wctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if put.ConnectionID != "c1" || put.Reason != connectpb.PutStateReason_NEW_DEVICE || put.Request.GetDevice().GetDeviceInfo().GetVolume() != 100 {
		t.Errorf("first PUT %+v", put)
	}
	if got := w.tk.calls(); len(got) != 2 || !got[1] {
		t.Errorf("token calls %v, want one forced refresh after the 401", got)
	}
	if r := w.script.received(); len(r) != 2 || len(r[0].Body) == 0 || string(r[0].Body) != string(r[1].Body) {
		t.Errorf("the 401 and the retry must carry the same body")
	}

	w.script.add(step{status: 429, retryAfter: "2"})
	p.Publish(testState(connectpb.PutStateReason_VOLUME_CHANGED, 200))
	clk.fire(t, 200*time.Millisecond)
	p.Publish(testState(connectpb.PutStateReason_VOLUME_CHANGED, 300))
	clk.fire(t, 2*time.Second)
	if put, err = w.srv.WaitConnectStatePut(wctx, 2); err != nil {
		t.Fatal(err)
	}
	if put.Request.GetDevice().GetDeviceInfo().GetVolume() != 300 {
		t.Errorf("after the cooldown volume %d went out, want the latest (300)", put.Request.GetDevice().GetDeviceInfo().GetVolume())
	}
	if r := w.script.received(); len(r) != 4 || r[2].Header.Get("X-Spotify-Connection-Id") != "c1" {
		t.Errorf("%d requests, want 4 (401, PUT, 429, PUT)", len(r))
	}

	p.SetConnectionID("c2")
	clk.fire(t, 200*time.Millisecond)
	if put, err = w.srv.WaitConnectStatePut(wctx, 3); err != nil {
		t.Fatal(err)
	}
	if put.ConnectionID != "c2" || put.Reason != connectpb.PutStateReason_NEW_DEVICE || put.Request.GetDevice().GetDeviceInfo().GetVolume() != 300 {
		t.Errorf("after the new connection: %+v", put)
	}

	res := p.Inactive()
	clk.fire(t, 200*time.Millisecond)
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	in := w.srv.ConnectStateInactives()
	if len(in) != 1 || in[0].ConnectionID != "c2" || in[0].RawQuery != "notify=false" {
		t.Errorf("inactive calls %+v", in)
	}
	if n := len(w.srv.ConnectStatePuts(testDeviceID)); n != 3 {
		t.Errorf("%d PUTs recorded, want 3", n)
	}
}

// BenchmarkPublisherVolumeBurst reports how many PUTs 100 volume changes
// cost and what one Publish costs, against proto.Marshal of the same state
// (the least a publisher without coalescing spends per change, before any
// network).
func BenchmarkPublisherVolumeBurst(b *testing.B) {
	states := make([]*connectpb.PutStateRequest, 100)
	for i := range states {
		states[i] = testState(connectpb.PutStateReason_VOLUME_CHANGED, uint32(i+1)*600)
	}
	b.Run("burst", func(b *testing.B) {
		e := startPublisher(b)
		e.p.SetConnectionID("c1")
		e.p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 0))
		e.sender.wait(b, 1)
		var publish, marshal time.Duration
		b.ResetTimer()
		for range b.N {
			before := e.sender.count()
			start := time.Now()
			for _, s := range states {
				e.p.Publish(s)
			}
			publish += time.Since(start)
			e.clk.fire(b, 200*time.Millisecond)
			if c := e.sender.wait(b, before+1); vol(c) != 60000 {
				b.Fatalf("sent volume %d, want the last one", vol(c))
			}
			start = time.Now()
			for _, s := range states {
				if _, err := proto.Marshal(s); err != nil {
					b.Fatal(err)
				}
			}
			marshal += time.Since(start)
		}
		b.StopTimer()
		b.ReportMetric(float64(e.sender.count()-1)/float64(b.N), "PUTs/100changes")
		b.ReportMetric(float64(publish.Nanoseconds())/float64(100*b.N), "ns/publish")
		b.ReportMetric(float64(publish)/float64(marshal), "publish/marshal")
	})
	// A volume slider dragged for one second: a change every 10 ms.
	b.Run("drag", func(b *testing.B) {
		e := startPublisher(b)
		e.p.SetConnectionID("c1")
		var next time.Time // when the publisher may send again
		pending := false
		settle := func() {
			if pending && !e.clk.Now().Before(next) {
				e.sender.wait(b, e.sender.count()+1)
				next, pending = e.clk.Now().Add(DefaultMinInterval), false
			}
		}
		b.ResetTimer()
		for range b.N {
			for _, s := range states {
				e.p.Publish(s)
				pending = true
				settle()
				e.clk.Advance(10 * time.Millisecond)
				settle()
			}
			for pending {
				e.clk.Advance(10 * time.Millisecond)
				settle()
			}
			e.clk.Advance(time.Second) // idle before the next drag
		}
		b.StopTimer()
		b.ReportMetric(float64(e.sender.count())/float64(b.N), "PUTs/100changes")
	})
}

// Failed: a failure it takes keeps the call queued and sends nothing more
// (the owner drops the publisher and waits for the clock); one it declines
// backs off as before.
func TestPublisherFailedHook(t *testing.T) {
	clk, sender := newFakeClock(), newFakeSender()
	certErr := fmt.Errorf("put state: %w", x509.CertificateInvalidError{Reason: x509.Expired})
	// Failed is told on Run's goroutine after the sender returns: the test
	// waits for each telling, not for the call, before it looks.
	told := make(chan error, 4)
	p, err := NewPublisher(PublisherConfig{Sender: sender, Now: clk.Now, NewTimer: clk.NewTimer,
		Failed: func(err error) bool {
			told <- err
			var ce x509.CertificateInvalidError
			return errors.As(err, &ce)
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	sender.fail(errors.New("connection reset"), certErr)
	p.SetConnectionID("c1")
	p.Publish(testState(connectpb.PutStateReason_NEW_DEVICE, 1))
	sender.wait(t, 1)
	if err := <-told; err == nil || errors.Is(err, certErr) {
		t.Fatalf("first failure told as %v, want the connection reset", err)
	}
	clk.fire(t, time.Second) // declined: the usual first backoff
	sender.wait(t, 2)        // the certificate-time failure, taken
	if err := <-told; !errors.Is(err, certErr) {
		t.Fatalf("second failure told as %v, want the certificate-time error", err)
	}
	p.Publish(testState(connectpb.PutStateReason_VOLUME_CHANGED, 2))
	inactive := p.Inactive()
	cancel()
	<-done
	if err := <-inactive; !errors.Is(err, ErrPublisherStopped) {
		t.Errorf("Inactive = %v, want ErrPublisherStopped (never sent)", err)
	}
	if n := sender.count(); n != 2 {
		t.Errorf("%d calls, want 2: nothing after the failure Failed took", n)
	}
	if len(told) != 0 {
		t.Errorf("Failed told more: %v", <-told)
	}
}
