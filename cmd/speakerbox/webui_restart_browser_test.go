package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebPageReconnectsAfterRestart: the real binary (the restart
// re-executes it, which an in-process run cannot), its page in chromium. A
// setting that needs a restart offers "Restart now"; the button restarts
// the speaker in place, the page reconnects by itself within the restart,
// reads the settings again (nothing pending) and logs no error.
func TestWebPageReconnectsAfterRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // against a hang
	defer cancel()
	// A fixed port, free now: the page must find the speaker where it was.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	sp := childSpeaker(t, nil, "--state_dir", t.TempDir(), "--audio.output", "null", "--zeroconf.interfaces", "lo",
		"--name", "Restart Page", "--api.address", addr)
	stderr := sp.stderr
	stderr.waitFor(ctx, t, "local API listening")
	base := "http://" + addr
	before := apiStatus(t, ctx, base)["device"].(map[string]any)["started"].(string)

	tab := newBrowserTab(t, ctx)
	tctx := tab.ctx
	if err := chromedp.Do(tctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	waitJS(t, tctx, "the live stream", `document.getElementById('link').textContent === 'live'`)
	waitJS(t, tctx, "running since", `document.getElementById('started').textContent !== '–'`)
	if hidden, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`document.getElementById('restart').hidden`)); err != nil || !hidden {
		t.Errorf("'Restart now' before anything waits for a restart (hidden %v, %v)", hidden, err)
	}
	if err := chromedp.Do(tctx,
		chromedp.Click(`[name="gpio.active_low"]`),
		chromedp.Click(`#settings button[type=submit]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, tctx, "'Restart now'", `!document.getElementById('restart').hidden && document.getElementById('pending').textContent === 'gpio.active_low'`)
	if err := chromedp.Do(tctx, chromedp.ScrollIntoView(`#restart-now`)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, tctx, "webui-restart-pending.png", 390, 844)

	if err := chromedp.Do(tctx, chromedp.Click(`#restart-now`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, tctx, "the page back after the restart", `document.getElementById('settings-result').textContent === 'Restarted.'`)
	waitJS(t, tctx, "the live stream again", `document.getElementById('link').textContent === 'live'`)
	waitJS(t, tctx, "nothing pending", `document.getElementById('restart').hidden`)
	if checked, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`document.querySelector('[name="gpio.active_low"]').checked`)); err != nil || !checked {
		t.Errorf("after the restart the saved setting is not shown (%v, %v)", checked, err)
	}
	sp.stillRunning(t, "instead of restarting in place")
	after := apiStatus(t, ctx, base)["device"].(map[string]any)["started"].(string)
	b, err1 := time.Parse(time.RFC3339Nano, before)
	a, err2 := time.Parse(time.RFC3339Nano, after)
	if err1 != nil || err2 != nil || !a.After(b) {
		t.Errorf("device.started %s after the restart, %s before", after, before)
	}
	if errs := tab.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors on the page:\n%s", strings.Join(errs, "\n"))
	}

	sp.terminate(t, nil)
}
