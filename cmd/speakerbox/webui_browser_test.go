package main

// The owner's web page in a real browser (issue 14): Debian's chromium,
// headless, driven through the DevTools protocol by chromedp, against the
// whole speaker (`speakerbox run` in this process, as in
// run_connect_test.go) playing from the fake Spotify. chromedp is a test
// dependency only: TestWebPageDependencyStaysOutOfTheBinary keeps it out of
// the speaker.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/config"
	"github.com/speakerbox/speakerbox/internal/testenv"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
)

// screenshotDirEnv names the directory for the page's screenshots (test
// artifacts); unset, they go to the test's temporary directory.
const screenshotDirEnv = "SBTEST_SCREENSHOTS"

// browserTab starts headless chromium and returns a tab. Every console
// message and exception of the page is collected; consoleErrors returns
// those that are errors.
type browserTab struct {
	ctx context.Context
	mu  sync.Mutex
	msg []chromedp.ConsoleMessage
}

func newBrowserTab(t *testing.T, ctx context.Context) *browserTab {
	t.Helper()
	exe := testenv.Tool(t, "chromium", "chromium")
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		// The page's only outside requests are Spotify's covers, which
		// the tab answers itself (below); nothing else may leave.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(1280, 800))
	tctx, cancelTab := chromedp.NewContext(actx)
	b := &browserTab{ctx: tctx}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		wg.Wait()
	})
	// The first Run starts the browser; subscribe after it, before the
	// page loads.
	if err := chromedp.Do(tctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	msgs := chromedp.Console(tctx)
	paused := chromedp.Events(tctx, fetch.RequestPaused)
	wg.Go(func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.msg = append(b.msg, m)
			b.mu.Unlock()
		}
	})
	// Covers are Spotify's image URLs: the tab answers them with a small
	// PNG, as the real image server would.
	cover := coverPNG(t)
	wg.Go(func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(tctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
				RequestID: ev.RequestID, ResponseCode: 200, Body: cover,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "image/png"}},
			})
		}
	})
	if _, err := chromedp.Call(tctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "https://i.scdn.co/*"}}}); err != nil {
		t.Fatalf("intercept covers: %v", err)
	}
	return b
}

// consoleErrors returns the errors on the console since the last call,
// but for those expected (a refused request's status is one: the browser
// logs every 4xx). An expected entry is substrings joined by "|" that the
// message and its URL must all hold.
func (b *browserTab) consoleErrors(expected ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	msgs := b.msg
	b.msg = nil
next:
	for _, m := range msgs {
		for _, e := range expected {
			all := true
			for _, part := range strings.Split(e, "|") {
				all = all && strings.Contains(m.String()+" "+m.URL, part)
			}
			if all {
				continue next
			}
		}
		if m.IsException() || m.Type == "error" || m.Type == "assert" {
			out = append(out, fmt.Sprintf("%s (%s:%d)", m.String(), m.URL, m.Line+1))
		}
	}
	return out
}

// coverPNG is a 64x64 two-colour image.
func coverPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			c := color.RGBA{0x1a, 0x7f, 0x4b, 0xff}
			if (x/16+y/16)%2 == 0 {
				c = color.RGBA{0xf4, 0xc4, 0x30, 0xff}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// apiBase is the address of the speaker's API, from its log (it listens
// on a free port of 127.0.0.1).
func apiBase(t *testing.T, r *connectRun) string {
	t.Helper()
	m := apiAddrRe.FindStringSubmatch(r.log.waitFor(r.ctx, t, "local API listening"))
	if m == nil {
		t.Fatal("no API address in the log")
	}
	return "http://" + m[1]
}

// apiStatus reads GET /status from Go, as a script would.
func apiStatus(t *testing.T, ctx context.Context, base string) map[string]any {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/status", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /status: %v", err)
	}
	defer res.Body.Close()
	var st map[string]any
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatalf("GET /status: %v", err)
	}
	return st
}

func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(45*time.Second))); err != nil {
		// What the page shows says why.
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
		t.Fatalf("page: waiting for %s (%s): %v\npage text:\n%s", what, expr, err, text)
	}
}

func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.TextContent(sel))
	if err != nil {
		t.Fatalf("page: text of %s: %v", sel, err)
	}
	return s
}

func screenshot(t *testing.T, ctx context.Context, name string, w, h int64) {
	t.Helper()
	dir := os.Getenv(screenshotDirEnv)
	if dir == "" {
		dir = t.TempDir()
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h, chromedp.EmulateScale(1))); err != nil {
		t.Fatal(err)
	}
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(buf))
	if err != nil || int64(cfg.Width) != w {
		t.Fatalf("screenshot %s: %dx%d, %v; want width %d", name, cfg.Width, cfg.Height, err, w)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s: %dx%d, %d bytes", p, cfg.Width, cfg.Height, len(buf))
}

// TestWebPageInChromium: the page loads without console errors, shows what
// plays with a moving position, its volume slider sets the speaker's
// volume, a bad setting is shown next to its field and saves nothing, a
// good one goes to the state directory (never to the configuration file),
// and a page of another origin cannot command the speaker.
func TestWebPageInChromium(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "speakerbox.yaml")
	const cfgFile = "# the owner's file\naudio:\n  max_volume: 90\n"
	if err := os.WriteFile(cfgPath, []byte(cfgFile), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startConnectRun(t, "--config", cfgPath, "--audio.volume_curve", "linear")
	base := apiBase(t, r)
	items := make([]playItem, 2)
	for i, name := range []string{"one", "two"} {
		// Long tracks: the pipe is read only half a second into the
		// first, and the speaker, blocked there, still says it plays, so
		// the page moves the position on from there with the clock.
		ogg := spotifytest.MediaOgg(t, 160, i, 20)
		it := spotifytest.MediaItem{URI: spotifytest.MediaURI("track", name), Ogg: ogg, Name: "Track " + name,
			Artists: []string{"Band", "Guest"}, Album: "Album", Covers: [][]byte{{0xc0, 0x7e, byte(i)}}}
		pub := spotifytest.PublishMedia(t, r.svc.Spclient, r.svc.CDN, r.svc.Dialer.APKeyTable, spotifytest.ServiceCDNHosts, it)
		items[i] = playItem{uri: it.URI, pub: pub}
	}
	r.transferItems("spotify:album:"+"0000000000000000000007", items)
	r.pipe.readTo(r.ctx, frameRate) // half a second into track one
	r.waitPlaying(items[0].uri, nil)

	tab := newBrowserTab(t, r.ctx)
	ctx := tab.ctx
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("open the page: %v", err)
	}

	// Now playing, live through /events.
	waitJS(t, ctx, "the track", `document.getElementById('title').textContent === 'Track one'`)
	waitJS(t, ctx, "the live stream", `document.getElementById('link').textContent === 'live'`)
	if got := textOf(t, ctx, "#artists"); got != "Band, Guest" {
		t.Errorf("artists %q", got)
	}
	if got := textOf(t, ctx, "#album"); got != "Album" {
		t.Errorf("album %q", got)
	}
	if got := textOf(t, ctx, "#session"); got != "playing" {
		t.Errorf("session %q", got)
	}
	waitJS(t, ctx, "the cover", `(() => { const c = document.getElementById('cover'); return !c.hidden && c.complete && c.naturalWidth === 64 })()`)
	// The position moves on by itself while playing.
	pos := textOf(t, ctx, "#pos")
	waitJS(t, ctx, "the position to move from "+pos, fmt.Sprintf(`document.getElementById('pos').textContent !== %q`, pos))
	st := apiStatus(t, r.ctx, base)
	durMs := st["track"].(map[string]any)["duration_ms"].(float64)
	if want := fmt.Sprintf("%d:%02d", int(durMs)/60000, int(durMs)/1000%60); textOf(t, ctx, "#dur") != want || durMs < 60000 {
		t.Errorf("duration shown %q, want %s (%v ms)", textOf(t, ctx, "#dur"), want, durMs)
	}
	waitJS(t, ctx, "the log", `document.getElementById('log').textContent.includes('msg=')`)
	waitJS(t, ctx, "the settings", `document.querySelector('[name="audio.max_volume"]').value === '90'`)

	screenshot(t, ctx, "webui-phone.png", 390, 844)
	screenshot(t, ctx, "webui-desktop.png", 1280, 800)
	bg := func() string {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	light := bg()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatal(err)
	}
	if dark := bg(); dark == light {
		t.Errorf("the same background (%s) in light and dark mode", dark)
	}
	screenshot(t, ctx, "webui-phone-dark.png", 390, 844)
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		t.Fatal(err)
	}

	// The volume slider sets the speaker's volume: Spotify hears of it,
	// and the status says so.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](
		`(() => { const v = document.getElementById('volume'); v.value = 30; v.dispatchEvent(new Event('input', {bubbles: true})) })()`)); err != nil {
		t.Fatal(err)
	}
	want := uint32(30 * 65535 / 100)
	r.waitPut("volume 30%", func(p spotifytest.ConnectStatePut) bool {
		v := p.Request.GetDevice().GetDeviceInfo().GetVolume()
		return v >= want-1 && v <= want+1
	})
	if v := apiStatus(t, ctx, base)["volume"].(map[string]any)["percent"]; v != float64(30) {
		t.Errorf("status volume %v%%, want 30", v)
	}

	if errs := tab.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors on the page:\n%s", strings.Join(errs, "\n"))
	}

	// A bad setting: its message next to its field, the file untouched.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(`[name="audio.max_volume"]`, "150"),
		chromedp.Click(`#settings button[type=submit]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the refusal", `document.querySelector('.error[data-for="audio.max_volume"]').textContent.includes('out of range')`)
	msg := textOf(t, ctx, `.error[data-for="audio.max_volume"]`)
	if !strings.Contains(msg, "allowed: an integer from 0 to 100") {
		t.Errorf("message %q", msg)
	}
	// Nothing saved from the page yet: no settings file; the
	// configuration file is never written.
	settingsPath := config.SettingsPath(r.state)
	if data, err := os.ReadFile(settingsPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the page settings file after a refused setting (%v):\n%s", err, data)
	}
	if data, _ := os.ReadFile(cfgPath); string(data) != cfgFile {
		t.Errorf("the configuration file changed after a refused setting:\n%s", data)
	}
	// A good one is saved, and the page says when it takes effect.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(`[name="audio.max_volume"]`, "90"),
		chromedp.SetValue(`[name="audio.initial_volume"]`, "35"),
		chromedp.Click(`#settings button[type=submit]`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "saved", `document.getElementById('settings-result').textContent.startsWith('Saved.')`)
	if got := textOf(t, ctx, "#settings-result"); !strings.Contains(got, "audio.initial_volume") {
		t.Errorf("settings result %q", got)
	}
	if data, _ := os.ReadFile(settingsPath); !strings.Contains(string(data), "initial_volume: 35") || strings.Contains(string(data), "max_volume") {
		t.Errorf("page settings file after saving:\n%s", data)
	}
	if st, err := os.Stat(settingsPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("page settings file: %v, %v; want mode 0600", st, err)
	}
	if data, _ := os.ReadFile(cfgPath); string(data) != cfgFile {
		t.Errorf("the configuration file changed after saving:\n%s", data)
	}
	// The refused setting's 400 is the only error the browser logged.
	if errs := tab.consoleErrors("status of 400|/settings"); len(errs) > 0 {
		t.Errorf("console errors on the page:\n%s", strings.Join(errs, "\n"))
	}

	// The diagnostic report downloads (what the page's link fetches).
	req, _ := http.NewRequestWithContext(r.ctx, "GET", base+"/report", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	report, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") || !bytes.Contains(report, []byte("local API listening")) {
		t.Errorf("GET /report: %d %q, %d bytes:\n%.400s", res.StatusCode, res.Header.Get("Content-Disposition"), len(report), report)
	}

	// Another origin: a plain form and a script of a page elsewhere try to
	// pause the speaker.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id=f method=post action="%s/player/pause" enctype="text/plain"><input name='{"a":"' value='"}'></form>`, base)
	}))
	t.Cleanup(evil.Close)
	if err := chromedp.Do(ctx, chromedp.Navigate(evil.URL)); err != nil {
		t.Fatal(err)
	}
	type fetchResult struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	fr, err := chromedp.Run(ctx, chromedp.Evaluate[[]fetchResult](fmt.Sprintf(`Promise.all([
		fetch(%[1]q, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'}),
		fetch(%[1]q, {method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'}, body: '{}'}),
	].map(p => p.then(r => ({status: r.status, error: ''}), e => ({status: 0, error: String(e)}))))`, base+"/player/pause"),
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if len(fr) != 2 || fr[0].Status != 0 || !strings.Contains(fr[0].Error, "TypeError") || fr[1].Status != 0 {
		t.Errorf("fetches from another origin: %+v (want a failed CORS request and an opaque answer)", fr)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Submit("#f"))
	if err != nil {
		t.Fatalf("submit the other site's form: %v", err)
	}
	if resp.Status != http.StatusForbidden {
		t.Errorf("the other site's form got %d %s, want 403", resp.Status, resp.StatusText)
	}
	waitJS(t, ctx, "the refusal of the form", `document.body && document.body.textContent.includes('cross-origin request refused')`)
	if st := apiStatus(t, r.ctx, base)["session"].(map[string]any)["state"]; st != "playing" {
		t.Errorf("after requests from another origin the session is %v, want playing", st)
	}
}

// TestWebPageDependencyStaysOutOfTheBinary: chromedp drives the browser
// tests only; the speaker itself must not carry it.
func TestWebPageDependencyStaysOutOfTheBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !strings.Contains(string(out), "cmd/speakerbox/internal/webui") {
		t.Fatalf("go list -deps gave %d packages, without the web page: %q...", len(deps), deps[:min(5, len(deps))])
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/chromedp/") || strings.HasPrefix(d, "github.com/go-json-experiment/") {
			t.Errorf("the speaker links %s, a test-only dependency", d)
		}
	}
	test, err := exec.Command("go", "list", "-test", "-deps", ".").Output()
	if err != nil || !strings.Contains(string(test), "github.com/chromedp/chromedp\n") {
		t.Errorf("the tests do not link chromedp (err %v): this check checks nothing", err)
	}
}

// TestWebPageAsksForTheTokenOnce: with api.token set, the page loads, asks
// for the token, goes live with it, and after a reload still has it.
func TestWebPageAsksForTheTokenOnce(t *testing.T) {
	const token = "0123456789abcdef-web"
	r := startConnectRun(t, "--api.token", token)
	base := apiBase(t, r)
	tab := newBrowserTab(t, r.ctx)
	ctx := tab.ctx
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	waitJS(t, ctx, "the token form", `!document.getElementById('token').hidden`)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys("#token-value", token),
		chromedp.Click("#token button[type=submit]")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the live stream", `document.getElementById('link').textContent === 'live'`)
	waitJS(t, ctx, "the settings", `document.querySelector('[name="name"]').value === 'Connect Test'`)
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the live stream after a reload", `document.getElementById('link').textContent === 'live'`)
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('token').hidden`)); err != nil || !hidden {
		t.Errorf("after a reload the page asks for the token again (hidden %v, %v)", hidden, err)
	}
	// Without the token the API answers nothing but the page's files.
	for path, want := range map[string]int{"/": 200, "/app.js": 200, "/status": 401, "/settings": 401, "/events": 401} {
		req, _ := http.NewRequestWithContext(r.ctx, "GET", base+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s without the token: %d, want %d", path, res.StatusCode, want)
		}
	}
	// The 401s before the token was given are the only errors.
	if errs := tab.consoleErrors("status of 401"); len(errs) > 0 {
		t.Errorf("console errors on the page:\n%s", strings.Join(errs, "\n"))
	}
}
