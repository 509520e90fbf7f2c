package receiver

import (
	"crypto/x509"
	"errors"
	"time"
)

// A Raspberry Pi has no battery-backed clock: it boots at 1970, or at
// whatever floor the init scripts restored, until NTP sets it. TLS checks
// certificates against the wall clock, so every call to Spotify fails while
// the clock is wrong, and each failure would otherwise cost a step of the
// login backoff (up to 5 minutes) and a confusing x509 error in the log.
// Instead the device says plainly what is wrong, checks the clock every
// clockPoll, and logs in again as soon as the clock has been set.

// ClockWrongMsg is the log message (stable: the image checks look for it)
// of a device that will not contact Spotify because the wall clock is
// before ClockFloor or before a certificate's start of validity.
const ClockWrongMsg = "system clock is wrong; waiting for the time to be set before contacting Spotify"

// ClockSetMsg is logged when a device that waited for the clock goes on.
const ClockSetMsg = "system clock set; contacting Spotify"

// certExpiredMsg: a certificate whose end of validity is past may mean a
// clock far ahead, or something between us and Spotify (a captive portal)
// showing an old certificate; the log says both.
const certExpiredMsg = "a certificate has expired: the system clock is ahead, or something on the network shows an old certificate; waiting for the clock to change before contacting Spotify"

// clockPoll is how often a waiting device looks at the clock again.
const clockPoll = time.Second

// clockGiveUpPolls: after this many looks (5 minutes) at a clock that has
// not changed, the device tries Spotify anyway, since the floor or the
// certificate may be what is wrong; a failure starts another wait, logged
// at debug level only.
const clockGiveUpPolls = 300

// clockGate is the loop's view of the wall clock: whether it waits for the
// clock to be set, and until when.
type clockGate struct {
	waiting bool
	// notBefore: the clock is set once it reads at least this (the floor,
	// or a certificate's NotBefore); notAfter: at most this (an expired
	// certificate's NotAfter). Zero: no bound.
	notBefore, notAfter time.Time
	polls               int
	// warned: the plain warning was logged and the clock has not been
	// seen set since; a repeat is logged at debug level.
	warned bool
}

// settled reports whether now satisfies the bounds of the wait. The bounds
// (a floor from a file, a certificate's dates) carry no monotonic reading,
// so these compare wall clocks, which is what a clock being set changes.
func (g *clockGate) settled(now time.Time) bool {
	return (g.notBefore.IsZero() || !now.Before(g.notBefore)) &&
		(g.notAfter.IsZero() || !now.After(g.notAfter))
}

// clockAtStart says at once when the clock is before the floor, even with
// no login to attempt yet (a speaker waiting for a phone), so that the log
// of a fresh boot tells why nothing will reach Spotify; the wait itself
// starts with the first attempt.
func (l *loop) clockAtStart() {
	now, floor := l.d.cfg.Now(), l.d.cfg.ClockFloor
	if !floor.IsZero() && now.Before(floor) {
		l.clockWarn(ClockWrongMsg, "now", stamp(now), "reason", "before the last known time",
			"last_known_time", stamp(floor))
	}
}

// clockHolds is asked before every login attempt: it reports whether the
// attempt must wait for the clock, and if so arms l.retry for the next
// look. The first look compares the clock with ClockFloor, so that a clock
// known to be wrong is never used for TLS.
func (l *loop) clockHolds() bool {
	g := &l.clock
	now := l.d.cfg.Now()
	if !g.waiting {
		floor := l.d.cfg.ClockFloor
		if floor.IsZero() || !now.Before(floor) {
			return false
		}
		*g = clockGate{waiting: true, notBefore: floor, warned: g.warned}
		l.clockWarn(ClockWrongMsg, "now", stamp(now), "reason", "before the last known time",
			"last_known_time", stamp(floor))
		l.retry = l.d.cfg.After(clockPoll)
		return true
	}
	if g.settled(now) {
		l.log.Info(ClockSetMsg, "now", stamp(now))
		*g = clockGate{}
		return false
	}
	g.polls++
	if g.polls >= clockGiveUpPolls {
		l.log.Info("the system clock has not changed; trying Spotify anyway", "now", stamp(now))
		*g = clockGate{warned: g.warned}
		return false
	}
	l.retry = l.d.cfg.After(clockPoll)
	return true
}

// retryLater schedules the next login attempt after err: at the next look
// at the clock when err is a certificate-time error (no backoff step is
// spent on a wrong clock), else after the backoff.
func (l *loop) retryLater(err error) {
	ce, ok := certTimeError(err)
	if !ok {
		l.backoff()
		return
	}
	now := l.d.cfg.Now()
	g := &l.clock
	*g = clockGate{waiting: true, warned: g.warned}
	attrs := []any{"now", stamp(now)}
	if ce.Cert != nil {
		attrs = append(attrs, "certificate_valid_from", stamp(ce.Cert.NotBefore),
			"certificate_valid_until", stamp(ce.Cert.NotAfter))
		if len(ce.Cert.DNSNames) > 0 {
			attrs = append(attrs, "certificate_for", ce.Cert.DNSNames[0])
		}
	}
	switch {
	case ce.Cert != nil && now.Before(ce.Cert.NotBefore):
		g.notBefore = ce.Cert.NotBefore
		l.clockWarn(ClockWrongMsg, append(attrs, "reason", "before the certificate's start of validity")...)
	case ce.Cert != nil && now.After(ce.Cert.NotAfter):
		g.notAfter = ce.Cert.NotAfter
		l.clockWarn(certExpiredMsg, attrs...)
	default:
		// The clock moved between the handshake and now, or the
		// verifier's time was not ours: look again at once.
		l.clockWarn(ClockWrongMsg, append(attrs, "reason", "certificate not valid at the time of the handshake")...)
	}
	l.retry = l.d.cfg.After(clockPoll)
}

func (l *loop) clockWarn(msg string, attrs ...any) {
	if l.clock.warned {
		l.log.Debug(msg, attrs...)
		return
	}
	l.clock.warned = true
	l.log.Warn(msg, attrs...)
}

// certTimeError finds a certificate-time error in err's chain: Go reports
// both an expired certificate and one not yet valid ("current time ... is
// before ...") as x509.Expired.
func certTimeError(err error) (x509.CertificateInvalidError, bool) {
	var ce x509.CertificateInvalidError
	if errors.As(err, &ce) && ce.Reason == x509.Expired {
		return ce, true
	}
	return ce, false
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
