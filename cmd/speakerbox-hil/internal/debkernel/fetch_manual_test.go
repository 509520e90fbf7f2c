package debkernel

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

func TestManualFetch(t *testing.T) {
	dir := os.Getenv("HIL_FETCH_DIR")
	if dir == "" {
		t.Skip("manual")
	}
	f := &Fetcher{Dir: dir, MaxAge: time.Hour, Log: slog.New(slog.NewTextHandler(os.Stderr, nil)), HostArch: "amd64", HostBusybox: "/bin/busybox"}
	for _, a := range []string{"amd64", "arm64"} {
		t0 := time.Now()
		k, err := f.Get(context.Background(), a)
		t.Logf("%s: %+v %v in %v", a, k, err, time.Since(t0))
	}
}
