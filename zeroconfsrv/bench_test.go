package zeroconfsrv

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
	"github.com/speakerbox/speakerbox/zeroconfsrv/phonetest"
)

// BenchmarkNetworkCheck is what the watcher does every PollInterval when
// nothing changed: list interfaces with their addresses and select. Compare
// with BenchmarkGetInfo and BenchmarkAddUser (the reference: one phone login)
// from the same run.
func BenchmarkNetworkCheck(b *testing.B) {
	for b.Loop() {
		all, err := SystemInterfaces()
		if err != nil {
			b.Fatal(err)
		}
		_ = selectInterfaces(all, nil)
	}
}

func benchHandler(b *testing.B) *Handler {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := NewHandler(HandlerConfig{Info: Info{Name: "n", DeviceID: testDeviceID, Model: "librespot"}, AddUserRate: 1 << 30, Logger: log},
		creds.NewStore(b.TempDir(), log, time.Now), nil)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func BenchmarkGetInfo(b *testing.B) {
	h := benchHandler(b)
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/?action=getInfo", nil))
	}
}

// BenchmarkAddUser: DH exchange, both blob layers, and an atomic write with
// two fsyncs per login (the disk dominates).
func BenchmarkAddUser(b *testing.B) {
	h := benchHandler(b)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/?action=getInfo", nil))
	var info GetInfo
	_ = json.Unmarshal(w.Body.Bytes(), &info)
	form, err := phonetest.New(bytes.Repeat([]byte{9}, 64)).AddUserForm(info.DeviceID, info.PublicKey, make([]byte, 16),
		phonetest.Login{Username: "alice", AuthType: 1, AuthData: []byte("x")})
	if err != nil {
		b.Fatal(err)
	}
	body := form.Encode()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if !strings.Contains(w.Body.String(), `"status":101`) {
			b.Fatal(w.Body.String())
		}
	}
}
