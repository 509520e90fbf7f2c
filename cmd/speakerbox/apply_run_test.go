package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/audio/gain"
	"github.com/speakerbox/speakerbox/cmd/speakerbox/internal/localapi"
	"github.com/speakerbox/speakerbox/receiver/spotifytest"
	"github.com/speakerbox/speakerbox/zeroconfsrv"
)

var zeroconfAddrRe = regexp.MustCompile(`zeroconf HTTP API listening".* addr=(127\.0\.0\.1:\d+)`)

// putSettings saves settings through the local API as the page does and
// returns the answer.
func putSettings(t *testing.T, base, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequest("PUT", base+"/settings", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a map[string]any
	if err := json.Unmarshal(b, &a); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT /settings %s: %d %s", body, resp.StatusCode, b)
	}
	return a
}

func keysOf(v any) string {
	var out []string
	for _, k := range v.([]any) {
		out = append(out, k.(string))
	}
	return strings.Join(out, ",")
}

// Issue 14: settings saved on the page are in effect at once in a running
// speaker. A new name reaches getInfo, the apps (a NEW_DEVICE state PUT)
// and the status; a lower audio.max_volume scales the software volume of
// the music playing, to the bit as audio/gain computes it.
func TestRunAppliesSettingsLive(t *testing.T) {
	// Name and initial volume from a configuration file: a flag would win
	// over the page's settings.
	conf := filepath.Join(t.TempDir(), "speakerbox.yaml")
	if err := os.WriteFile(conf, []byte("name: Kitchen\naudio:\n  initial_volume: 100\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startConnectRunAs(t, "", "--config", conf, "--audio.volume_curve", "linear")
	m := apiAddrRe.FindStringSubmatch(r.log.waitFor(r.ctx, t, "local API listening"))
	zm := zeroconfAddrRe.FindStringSubmatch(r.log.waitFor(r.ctx, t, "zeroconf HTTP API listening"))
	if m == nil || zm == nil {
		t.Fatal("no API or ZeroConf address in the log")
	}
	base := "http://" + m[1]
	r.waitPut("NEW_DEVICE", func(p spotifytest.ConnectStatePut) bool {
		return p.Reason.String() == "NEW_DEVICE" && p.Request.GetDevice().GetDeviceInfo().GetName() == "Kitchen"
	})

	a := putSettings(t, base, `{"name":"Kitchen Live","audio.initial_volume":40,"gpio.relay_line":"GPIO17"}`)
	if keysOf(a["applied"]) != "name" || keysOf(a["next_start"]) != "audio.initial_volume" ||
		keysOf(a["restart_needed"]) != "gpio.relay_line" || keysOf(a["pending_restart"]) != "gpio.relay_line" {
		t.Errorf("answer %v", a)
	}
	resp, err := http.Get("http://" + zm[1] + "/?action=getInfo")
	if err != nil {
		t.Fatal(err)
	}
	var info zeroconfsrv.GetInfo
	err = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if err != nil || info.RemoteName != "Kitchen Live" {
		t.Errorf("getInfo remoteName %q (%v), want the new name", info.RemoteName, err)
	}
	// mDNS: the advertisement is replaced under the new name.
	r.log.waitFor(r.ctx, t, `msg="zeroconf: advertising" component=zeroconf name="Kitchen Live"`)
	r.waitPut("the new name", func(p spotifytest.ConnectStatePut) bool {
		return p.Reason.String() == "NEW_DEVICE" && p.Request.GetDevice().GetDeviceInfo().GetName() == "Kitchen Live"
	})
	resp, err = http.Get(base + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var st localapi.Status
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Device.Name != "Kitchen Live" || st.Device.Started.IsZero() {
		t.Errorf("status device %+v (%v)", st.Device, err)
	}

	// The volume cap, while a track plays at full volume.
	it := r.publish("track", "cap", 160, 12, 1)
	// As transferItems, whose wait for the registration is behind us.
	if ok, err := r.svc.App.Transfer(r.ctx, "spotify:album:"+"0000000000000000000006", []string{it.uri}, 0, 0, time.Now().UnixMilli()); err != nil || !ok {
		t.Fatalf("transfer: ok %v, err %v", ok, err)
	}
	r.pipe.readTo(r.ctx, frameRate)
	r.waitPlaying(it.uri, nil)
	got := r.pipe.samples()
	skip := startOf(t, got, it.ref)
	cut := r.pipe.len()
	a = putSettings(t, base, `{"audio.max_volume":50}`)
	if keysOf(a["applied"]) != "audio.max_volume" {
		t.Fatalf("answer %v", a)
	}
	k := -1
	for k < 0 {
		r.pipe.readTo(r.ctx, r.pipe.len()+frameRate/2)
		got = r.pipe.samples()
		if n := continues(got, 0, it.ref, skip); n < len(got) {
			k = n - n%2
		} else if len(got) > cut+pipeSlack {
			t.Fatalf("the new cap is not heard within %d samples", pipeSlack)
		}
	}
	if k < cut {
		t.Fatalf("the samples changed at %d, before the setting was saved (%d)", k, cut)
	}
	r.pipe.readTo(r.ctx, k+frameRate)
	got = r.pipe.samples()
	g := gain.Volume{Curve: gain.CurveLinear, MaxPercent: 50}.Gain(65535)
	want := append([]float32(nil), it.ref[skip+k:skip+k+frameRate]...)
	ramp := gain.NewRamp(frameRate, 5*time.Millisecond, 1)
	ramp.SetTarget(g)
	ramp.Apply(want, 2)
	for i := range want {
		want[i] = max(-1, min(1, want[i]))
		if got[k+i] != want[i] {
			t.Fatalf("sample %d after the cap (gain %v): got %v, want %v", i, g, got[k+i], want[i])
		}
	}
	// The Connect volume itself is not capped with software volume: the
	// apps keep the whole slider.
	resp, err = http.Get(base + "/status")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Volume.Percent != 100 {
		t.Errorf("volume %+v after the cap (%v), want 100%% still", st.Volume, err)
	}
}
