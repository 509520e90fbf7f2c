package receiver

import (
	"testing"

	"github.com/speakerbox/speakerbox/receiver/spclient"
)

// sessionPlayer is a recPlayer that also wants the session (as the track
// player does); it hands every UseSession call to the test.
type sessionPlayer struct {
	*recPlayer
	sessions chan sessionCall
}

type sessionCall struct {
	sp   *spclient.Client
	conn Conn
}

func (p *sessionPlayer) UseSession(sp *spclient.Client, conn Conn) {
	p.sessions <- sessionCall{sp, conn}
}

// A Player that implements SessionUser gets each chain's spclient client
// and access point connection once the chain is up, and (nil, nil) when
// the chain goes: after a lost access point, the new chain's, and nil
// again at shutdown.
func TestDeviceHandsSessionToPlayer(t *testing.T) {
	sp := &sessionPlayer{recPlayer: newRecPlayer(), sessions: make(chan sessionCall, 16)}
	e := newDevEnv(t, func(c *DeviceConfig) { c.Player = sp })
	next := func(what string) sessionCall {
		t.Helper()
		select {
		case c := <-sp.sessions:
			return c
		case <-e.ctx.Done():
			t.Fatalf("no UseSession call (%s)", what)
			return sessionCall{}
		}
	}
	first := next("first chain")
	_, conns := e.dialer.state()
	if first.sp == nil || len(conns) != 1 || first.conn != conns[0] {
		t.Fatalf("first session: spclient %p, conn %v; want the chain's client and connection %v", first.sp, first.conn, conns)
	}
	conns[0].lose()
	if gone := next("teardown"); gone.sp != nil || gone.conn != nil {
		t.Fatalf("after the access point was lost: %+v, want (nil, nil)", gone)
	}
	second := next("second chain")
	_, conns = e.dialer.state()
	if second.sp == nil || second.sp == first.sp || len(conns) != 2 || second.conn != conns[1] {
		t.Fatalf("second session: spclient %p (first %p), conn %v; want a new client and connection %v", second.sp, first.sp, second.conn, conns)
	}
	e.stop()
	if gone := next("shutdown"); gone.sp != nil || gone.conn != nil {
		t.Fatalf("at shutdown: %+v, want (nil, nil)", gone)
	}
	select {
	case c := <-sp.sessions:
		t.Fatalf("unexpected UseSession after shutdown: %+v", c)
	default:
	}
}
