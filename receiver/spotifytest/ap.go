package spotifytest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver/apconn"
)

// The access point cannot be faked on the wire (go-librespot checks
// Spotify's RSA signature in the handshake), so this file fakes it at the Go
// seam instead: APFake is an apconn.Conn, APFakeDialer an apconn.Dialer
// (receiver.Dialer). Audio keys go through our real apconn.KeyProvider and
// packet codec, with this file playing the AP's side of packets 0x0c, 0x0d
// and 0x0e, so timeouts, refusals and connection loss behave as in
// production.

// Defaults of an APFake, matching the fake login5's default user so that the
// whole login chain works out of the box.
const (
	APDefaultCountry  = "SE"
	APDefaultImageURL = "https://i.scdn.co/image/{file_id}"
	// APUnknownKeyCode is the refusal code for a (gid, file id) nobody
	// registered.
	APUnknownKeyCode uint16 = 0x0001
)

// APFakeConfig configures APFakes (and the APFakeDialer that makes them).
type APFakeConfig struct {
	// Username is the canonical username every login answers with;
	// DefaultUsername when empty.
	Username string
	// Reusable is the AuthData of the reusable credentials handed back;
	// DefaultStoredCredential when nil.
	Reusable []byte
	// Country is the account's country; APDefaultCountry when empty.
	Country string
	// Product is the account's product; premium with APDefaultImageURL when
	// its Type is empty.
	Product apconn.Product
	// WithholdInfo: the AP has not sent country and product yet; Country
	// and Product wait until SetCountry / SetProduct.
	WithholdInfo bool
	// KeyTimeout and After configure the key provider (its timeout and
	// clock); apconn's defaults when zero.
	KeyTimeout time.Duration
	After      func(time.Duration) <-chan time.Time
}

func (c APFakeConfig) withDefaults() APFakeConfig {
	if c.Username == "" {
		c.Username = DefaultUsername
	}
	if c.Reusable == nil {
		c.Reusable = []byte(DefaultStoredCredential)
	}
	if c.Country == "" {
		c.Country = APDefaultCountry
	}
	if c.Product.Type == "" {
		c.Product = apconn.Product{Type: "premium", ImageURL: APDefaultImageURL,
			Fields: map[string]string{"type": "premium", "image-url": APDefaultImageURL}}
	}
	return c
}

// APKeyRequest is one audio-key request as the fake AP received it.
type APKeyRequest struct {
	GID    [16]byte
	FileID [20]byte
	Seq    uint32
}

type apKeyID struct {
	gid    [16]byte
	fileID [20]byte
}

type apKeyMode int

const (
	apKeyAnswer apKeyMode = iota
	apKeyRefuse
	apKeySilent
	apKeyTruncate
)

type apKeyEntry struct {
	mode apKeyMode
	key  [16]byte
	code uint16
}

// APKeyTable is the fake AP's audio keys and per-key knobs; an APFakeDialer
// shares one table with every APFake it makes, so keys survive a
// reconnect. Safe for concurrent use.
type APKeyTable struct {
	mu       sync.Mutex
	keys     map[apKeyID]apKeyEntry
	requests []APKeyRequest
	changed  chan struct{} // closed and replaced when requests grows
}

// NewAPKeyTable returns an empty table: every key is refused with
// APUnknownKeyCode until added.
func NewAPKeyTable() *APKeyTable {
	return &APKeyTable{keys: map[apKeyID]apKeyEntry{}, changed: make(chan struct{})}
}

func (t *APKeyTable) set(gid [16]byte, fileID [20]byte, e apKeyEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.keys[apKeyID{gid, fileID}] = e
}

// AddKey makes the AP answer key for (gid, fileID).
func (t *APKeyTable) AddKey(gid [16]byte, fileID [20]byte, key [16]byte) {
	t.set(gid, fileID, apKeyEntry{mode: apKeyAnswer, key: key})
}

// RefuseKey makes the AP refuse (gid, fileID) with code (packet 0x0e).
func (t *APKeyTable) RefuseKey(gid [16]byte, fileID [20]byte, code uint16) {
	t.set(gid, fileID, apKeyEntry{mode: apKeyRefuse, code: code})
}

// SilenceKey makes the AP never answer (gid, fileID): the request times out
// (apconn.ErrKeyTimeout) unless its context ends or the connection is lost
// first.
func (t *APKeyTable) SilenceKey(gid [16]byte, fileID [20]byte) {
	t.set(gid, fileID, apKeyEntry{mode: apKeySilent})
}

// TruncateKey makes the AP answer (gid, fileID) with a key packet cut short
// (apconn.ErrMalformed).
func (t *APKeyTable) TruncateKey(gid [16]byte, fileID [20]byte) {
	t.set(gid, fileID, apKeyEntry{mode: apKeyTruncate})
}

// KeyRequests returns every audio-key request received so far, in order.
func (t *APKeyTable) KeyRequests() []APKeyRequest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]APKeyRequest(nil), t.requests...)
}

// WaitKeyRequests waits until at least n audio-key requests have reached
// the AP and returns them all.
func (t *APKeyTable) WaitKeyRequests(ctx context.Context, n int) ([]APKeyRequest, error) {
	for {
		t.mu.Lock()
		if len(t.requests) >= n {
			r := append([]APKeyRequest(nil), t.requests...)
			t.mu.Unlock()
			return r, nil
		}
		ch := t.changed
		t.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %d audio key requests: %w", n, ctx.Err())
		}
	}
}

// answer records a request and returns the AP's answer (nil: none).
func (t *APKeyTable) answer(r APKeyRequest) *apconn.Packet {
	t.mu.Lock()
	t.requests = append(t.requests, r)
	close(t.changed)
	t.changed = make(chan struct{})
	e, ok := t.keys[apKeyID{r.GID, r.FileID}]
	t.mu.Unlock()
	if !ok {
		e = apKeyEntry{mode: apKeyRefuse, code: APUnknownKeyCode}
	}
	switch e.mode {
	case apKeyAnswer:
		return &apconn.Packet{Type: apconn.PacketAesKey, Payload: apconn.EncodeKeyAnswer(r.Seq, e.key)}
	case apKeyRefuse:
		return &apconn.Packet{Type: apconn.PacketAesKeyError, Payload: apconn.EncodeKeyError(r.Seq, e.code)}
	case apKeyTruncate:
		return &apconn.Packet{Type: apconn.PacketAesKey, Payload: apconn.EncodeKeyAnswer(r.Seq, [16]byte{})[:12]}
	}
	return nil
}

// APFake is one logged-in access-point connection (apconn.Conn). Safe for
// concurrent use.
type APFake struct {
	*APKeyTable
	cfg  APFakeConfig
	info *apconn.Info
	keys *apconn.KeyProvider

	mu        sync.Mutex
	lost      bool
	done      chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

var _ apconn.Conn = (*APFake)(nil)

// NewAPFake returns a logged-in fake connection with its own key table.
func NewAPFake(cfg APFakeConfig) *APFake { return newAPFake(cfg, NewAPKeyTable()) }

func newAPFake(cfg APFakeConfig, t *APKeyTable) *APFake {
	cfg = cfg.withDefaults()
	f := &APFake{APKeyTable: t, cfg: cfg, info: apconn.NewInfo(), done: make(chan struct{}), closed: make(chan struct{})}
	f.keys = apconn.NewKeyProvider(apFakeWire{f}, apconn.KeyConfig{Timeout: cfg.KeyTimeout, After: cfg.After})
	if !cfg.WithholdInfo {
		f.info.SetCountry(cfg.Country)
		f.info.SetProduct(cfg.Product)
	}
	return f
}

// apFakeWire plays the AP's side of the key packets: it answers a request
// synchronously, handing the answer straight to the provider (which has
// registered the request before sending it).
type apFakeWire struct{ f *APFake }

func (w apFakeWire) Send(_ context.Context, t apconn.PacketType, payload []byte) error {
	if t != apconn.PacketRequestKey {
		return fmt.Errorf("fake access point: unexpected packet 0x%02x", byte(t))
	}
	fileID, gid, seq, err := apconn.DecodeKeyRequest(payload)
	if err != nil {
		return fmt.Errorf("fake access point: %w", err)
	}
	w.f.mu.Lock()
	lost := w.f.lost
	w.f.mu.Unlock()
	if lost {
		return fmt.Errorf("fake access point: %w", apconn.ErrConnLost)
	}
	if p := w.f.answer(APKeyRequest{GID: gid, FileID: fileID, Seq: seq}); p != nil {
		w.f.keys.Handle(*p)
	}
	return nil
}

// Username implements apconn.Conn.
func (f *APFake) Username() string { return f.cfg.Username }

// Reusable implements apconn.Conn.
func (f *APFake) Reusable() creds.Credentials {
	return creds.Credentials{Username: f.cfg.Username, AuthType: creds.AuthStoredSpotify, AuthData: append([]byte(nil), f.cfg.Reusable...)}
}

// Country implements apconn.Conn.
func (f *APFake) Country(ctx context.Context) (string, error) { return f.info.Country(ctx) }

// Product implements apconn.Conn.
func (f *APFake) Product(ctx context.Context) (apconn.Product, error) { return f.info.Product(ctx) }

// SetCountry makes the AP send a (new) country code.
func (f *APFake) SetCountry(c string) { f.info.SetCountry(c) }

// SetProduct makes the AP send (new) product info.
func (f *APFake) SetProduct(p apconn.Product) { f.info.SetProduct(p) }

// AudioKey implements apconn.Conn.
func (f *APFake) AudioKey(ctx context.Context, gid [16]byte, fileID [20]byte) ([16]byte, error) {
	return f.keys.AudioKey(ctx, gid, fileID)
}

// Done implements apconn.Conn.
func (f *APFake) Done() <-chan struct{} { return f.done }

// Lose drops the connection: Done closes, in-flight and later key requests
// fail with apconn.ErrConnLost, and Country/Product fail if not yet known.
func (f *APFake) Lose() {
	f.mu.Lock()
	if f.lost {
		f.mu.Unlock()
		return
	}
	f.lost = true
	close(f.done)
	f.mu.Unlock()
	f.keys.Lost()
	f.info.Lost()
}

// Close implements apconn.Conn: the connection is lost, and Closed closes.
func (f *APFake) Close() {
	f.Lose()
	f.closeOnce.Do(func() { close(f.closed) })
}

// Closed is closed once Close has been called (by the code under test).
func (f *APFake) Closed() <-chan struct{} { return f.closed }

// APFakeDialer is an apconn.Dialer (receiver.Dialer) that logs in to APFakes,
// so that receiver.Device can be driven by it. Every connection it makes
// shares its key table. Safe for concurrent use.
type APFakeDialer struct {
	*APKeyTable
	cfg APFakeConfig

	mu      sync.Mutex
	reject  string // non-empty: every login refused for good
	failN   int    // the next failN logins fail (retryable)
	failErr error
	logins  []creds.Credentials
	conns   []*APFake
	changed chan struct{} // closed and replaced when conns grows
}

var _ apconn.Dialer = (*APFakeDialer)(nil)

// NewAPFakeDialer returns a dialer whose logins succeed with cfg.
func NewAPFakeDialer(cfg APFakeConfig) *APFakeDialer {
	return &APFakeDialer{APKeyTable: NewAPKeyTable(), cfg: cfg, changed: make(chan struct{})}
}

// Dial implements apconn.Dialer. It records the credentials; a login with
// no AuthData is refused for good, as the real AP refuses bad credentials.
func (d *APFakeDialer) Dial(ctx context.Context, c creds.Credentials) (apconn.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.logins = append(d.logins, c)
	switch {
	case d.reject != "":
		return nil, &apconn.RejectedError{Reason: d.reject}
	case len(c.AuthData) == 0:
		return nil, &apconn.RejectedError{Reason: "BadCredentials"}
	case d.failN > 0:
		d.failN--
		return nil, fmt.Errorf("fake access point login: %w", d.failErr)
	}
	conn := newAPFake(d.cfg, d.APKeyTable)
	d.conns = append(d.conns, conn)
	close(d.changed)
	d.changed = make(chan struct{})
	return conn, nil
}

// Reject makes every later login fail for good with reason (e.g.
// "BadCredentials", "PremiumAccountRequired"); "" accepts logins again.
func (d *APFakeDialer) Reject(reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reject = reason
}

// FailNext makes the next n logins fail with err (a retryable failure, e.g.
// the network is down).
func (d *APFakeDialer) FailNext(n int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failN, d.failErr = n, err
}

// Logins returns the credentials of every login attempt so far.
func (d *APFakeDialer) Logins() []creds.Credentials {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]creds.Credentials(nil), d.logins...)
}

// Conns returns every connection made so far, oldest first.
func (d *APFakeDialer) Conns() []*APFake {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*APFake(nil), d.conns...)
}

// WaitConn waits until the dialer has made its n-th connection (counting
// from 1) and returns it.
func (d *APFakeDialer) WaitConn(ctx context.Context, n int) (*APFake, error) {
	n = max(n, 1)
	for {
		d.mu.Lock()
		if len(d.conns) >= n {
			c := d.conns[n-1]
			d.mu.Unlock()
			return c, nil
		}
		ch := d.changed
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for access point connection %d: %w", n, ctx.Err())
		}
	}
}
