package receiver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/devgianlu/go-librespot/apresolve"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/receiver/clienttoken"
	"github.com/speakerbox/speakerbox/receiver/dealer"
	"github.com/speakerbox/speakerbox/receiver/login5"
	"github.com/speakerbox/speakerbox/receiver/spclient"
)

// chain is one build of the services behind a logged-in access point:
// client token, login5, spclient with its publisher, and the dealer. The
// supervisor drops a chain whole and builds a new one; the Connect state
// lives outside it.
type chain struct {
	username string
	sp       *spclient.Client
	pub      *spclient.Publisher
	dealer   *dealer.Dealer
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	connected bool   // the dealer named a connection on this chain
	connID    string // the last one

	// clockErr carries the first certificate-time error of the dealer or
	// the publisher to the loop, which drops the chain and waits for the
	// clock (clockwait.go). Buffered: the hooks never block.
	clockErr chan error
}

// certTimeHook is the dealer's DialFailed and the publisher's Failed: it
// takes certificate-time errors (a wrong system clock) off their backoffs
// and hands the first to the loop through ch.
func certTimeHook(component string, ch chan error) func(error) bool {
	return func(err error) bool {
		if _, ok := certTimeError(err); !ok {
			return false
		}
		select {
		case ch <- fmt.Errorf("%s: %w", component, err):
		default: // the loop has one already
		}
		return true
	}
}

// buildChain resolves the service addresses and logs in to login5 with the
// access point's canonical username and reusable credentials, then starts
// the dealer and the publisher. Their goroutines run until stop.
func (d *Device) buildChain(ctx context.Context, conn Conn, login creds.Credentials) (*chain, error) {
	lg := &librespotLog{l: d.log.With("component", "apresolve")}
	resolver := apresolve.NewApResolver(lg, d.cfg.HTTP)
	spAddr, err := resolver.GetSpclient(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolve spclient: %w", err)
	}
	dealerAddr, err := resolver.GetDealer(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolve dealer: %w", err)
	}
	ct, err := clienttoken.New(clienttoken.Config{HTTP: d.cfg.HTTP, Log: d.log.With("component", "clienttoken"),
		DeviceID: d.cfg.DeviceID, Now: d.cfg.Now})
	if err != nil {
		return nil, err
	}
	stored := conn.Reusable().AuthData
	if len(stored) == 0 {
		stored = login.AuthData
	}
	username := conn.Username()
	l5, err := login5.New(login5.Config{HTTP: d.cfg.HTTP, Log: d.log.With("component", "login5"), ClientToken: ct,
		DeviceID: d.cfg.DeviceID, Username: username, StoredCredential: stored, Now: d.cfg.Now,
		Sleep: d.sleep})
	if err != nil {
		return nil, err
	}
	// Log in to login5 now, so that a chain that cannot work fails here
	// and is retried with backoff, rather than standing up deaf.
	if _, err := l5.Token(ctx, false); err != nil {
		return nil, fmt.Errorf("login5: %w", err)
	}
	addr := spAddr(ctx)
	if addr == "" {
		return nil, errors.New("resolve spclient: no address")
	}
	sp, err := spclient.New(spclient.Config{HTTPClient: d.cfg.HTTP, Addr: addr, DeviceID: d.cfg.DeviceID,
		Token: l5.Token, ClientToken: ct.Token, Log: d.log.With("component", "spclient"), Now: d.cfg.Now,
		Sleep: d.sleep, Jitter: d.cfg.Jitter})
	if err != nil {
		return nil, err
	}
	clockErr := make(chan error, 1)
	pub, err := spclient.NewPublisher(spclient.PublisherConfig{Sender: sp, Log: d.log.With("component", "publisher"),
		Stats: &d.stats.publish, Failed: certTimeHook("connect state", clockErr)})
	if err != nil {
		return nil, err
	}
	// apresolve's address closure is not safe for concurrent use; only the
	// dealer's Run calls it, one attempt at a time.
	dl, err := dealer.New(dealer.Config{
		Client: d.cfg.HTTP,
		Addr: func(ctx context.Context) (string, error) {
			if a := dealerAddr(ctx); a != "" {
				return a, nil
			}
			return "", errors.New("resolve dealer: no address")
		},
		Token:      l5.Token,
		Log:        d.log.With("component", "dealer"),
		After:      d.cfg.After,
		Jitter:     d.cfg.Jitter,
		MinBackoff: d.cfg.DealerMinBackoff,
		MaxBackoff: d.cfg.DealerMaxBackoff,
		DialFailed: certTimeHook("dealer", clockErr),
	})
	if err != nil {
		return nil, err
	}
	// The chain outlives the caller's context on purpose: at shutdown the
	// publisher must still send the inactive call; stop ends it.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &chain{username: username, sp: sp, pub: pub, dealer: dl, cancel: cancel, clockErr: clockErr}
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		_ = dl.Run(cctx)
	}()
	go func() {
		defer c.wg.Done()
		_ = pub.Run(cctx)
	}()
	return c, nil
}

// stop ends the chain's goroutines and waits for them.
func (c *chain) stop() {
	c.cancel()
	c.wg.Wait()
}

// sleep waits d on the configured clock, or until ctx ends.
func (d *Device) sleep(ctx context.Context, dur time.Duration) error {
	select {
	case <-d.cfg.After(dur):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
