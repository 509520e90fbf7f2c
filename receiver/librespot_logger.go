package receiver

import (
	"context"
	"fmt"
	"log/slog"

	librespot "github.com/devgianlu/go-librespot"
)

// librespotLog adapts slog to go-librespot's logger interface. go-librespot's
// trace and debug chatter goes to our debug level.
type librespotLog struct {
	l *slog.Logger
}

var _ librespot.Logger = (*librespotLog)(nil)

func (g *librespotLog) log(level slog.Level, msg string) { g.l.Log(context.Background(), level, msg) }

func (g *librespotLog) Tracef(f string, a ...any) { g.log(slog.LevelDebug-4, fmt.Sprintf(f, a...)) }
func (g *librespotLog) Debugf(f string, a ...any) { g.log(slog.LevelDebug, fmt.Sprintf(f, a...)) }
func (g *librespotLog) Infof(f string, a ...any)  { g.log(slog.LevelDebug, fmt.Sprintf(f, a...)) }
func (g *librespotLog) Warnf(f string, a ...any)  { g.log(slog.LevelWarn, fmt.Sprintf(f, a...)) }
func (g *librespotLog) Errorf(f string, a ...any) { g.log(slog.LevelError, fmt.Sprintf(f, a...)) }
func (g *librespotLog) Trace(a ...any)            { g.log(slog.LevelDebug-4, fmt.Sprint(a...)) }
func (g *librespotLog) Debug(a ...any)            { g.log(slog.LevelDebug, fmt.Sprint(a...)) }
func (g *librespotLog) Info(a ...any)             { g.log(slog.LevelDebug, fmt.Sprint(a...)) }
func (g *librespotLog) Warn(a ...any)             { g.log(slog.LevelWarn, fmt.Sprint(a...)) }
func (g *librespotLog) Error(a ...any)            { g.log(slog.LevelError, fmt.Sprint(a...)) }
func (g *librespotLog) WithField(k string, v any) librespot.Logger {
	return &librespotLog{l: g.l.With(k, v)}
}
func (g *librespotLog) WithError(err error) librespot.Logger {
	return &librespotLog{l: g.l.With("err", err)}
}
