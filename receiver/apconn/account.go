package apconn

import (
	"context"
	"maps"
	"sync"
)

// Info keeps what the access point pushed about the account (country code,
// product info) and lets callers wait for it. The AP sends both again after
// each of its own reconnects; the latest wins. Safe for concurrent use.
type Info struct {
	mu      sync.Mutex
	country string
	product *Product
	lost    bool
	changed chan struct{} // closed and replaced on every change
}

// NewInfo returns an Info that knows nothing yet.
func NewInfo() *Info { return &Info{changed: make(chan struct{})} }

func (i *Info) update(f func()) {
	i.mu.Lock()
	defer i.mu.Unlock()
	f()
	close(i.changed)
	i.changed = make(chan struct{})
}

// SetCountry records the account's country.
func (i *Info) SetCountry(c string) { i.update(func() { i.country = c }) }

// SetProduct records the account's product info.
func (i *Info) SetProduct(p Product) { i.update(func() { i.product = &p }) }

// Lost makes every waiter, now and later, fail with ErrConnLost unless the
// value is already known.
func (i *Info) Lost() { i.update(func() { i.lost = true }) }

// Handle parses and records a CountryCode or ProductInfo packet. handled is
// false for other packet types; err is a malformed packet (nothing changes).
func (i *Info) Handle(p Packet) (handled bool, err error) {
	switch p.Type {
	case PacketCountryCode:
		c, err := ParseCountryCode(p.Payload)
		if err != nil {
			return true, err
		}
		i.SetCountry(c)
		return true, nil
	case PacketProductInfo:
		pr, err := ParseProductInfo(p.Payload)
		if err != nil {
			return true, err
		}
		i.SetProduct(pr)
		return true, nil
	}
	return false, nil
}

// wait returns get's value once ok, waiting for changes.
func wait[T any](ctx context.Context, i *Info, get func() (T, bool)) (T, error) {
	for {
		i.mu.Lock()
		v, ok := get()
		lost, changed := i.lost, i.changed
		i.mu.Unlock()
		if ok {
			return v, nil
		}
		if lost {
			return v, ErrConnLost
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return v, ctx.Err()
		}
	}
}

// Country implements Account.
func (i *Info) Country(ctx context.Context) (string, error) {
	return wait(ctx, i, func() (string, bool) { return i.country, i.country != "" })
}

// Product implements Account.
func (i *Info) Product(ctx context.Context) (Product, error) {
	return wait(ctx, i, func() (Product, bool) {
		if i.product == nil {
			return Product{}, false
		}
		p := *i.product
		p.Fields = maps.Clone(p.Fields) // the caller's own copy
		return p, true
	})
}
