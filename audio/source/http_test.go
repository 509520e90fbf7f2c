package source

import (
	"bytes"
	"context"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestHTTPRangeReaderAt(t *testing.T) {
	data := make([]byte, 100000)
	rand.New(rand.NewSource(2)).Read(data)
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	h, err := OpenHTTP(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if h.Size() != int64(len(data)) {
		t.Fatalf("size %d", h.Size())
	}
	buf := make([]byte, 4096)
	for _, off := range []int64{0, 1, 50000, 99000} {
		n, err := h.ReadAt(buf, off)
		want := data[off:min(off+4096, int64(len(data)))]
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("offset %d: wrong bytes", off)
		}
		if n < len(buf) && err != io.EOF {
			t.Fatalf("offset %d: short read without EOF: %v", off, err)
		}
	}
	if n, err := h.ReadAt(buf, int64(len(data))); n != 0 || err != io.EOF {
		t.Fatalf("read at end: %d %v", n, err)
	}
	// It works through io.SectionReader, as the decoder uses it.
	all, err := io.ReadAll(io.NewSectionReader(h, 0, h.Size()))
	if err != nil || !bytes.Equal(all, data) {
		t.Fatalf("section read: %v", err)
	}
}

func TestHTTPErrors(t *testing.T) {
	noRange := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("whole file, ignoring Range"))
	}))
	defer noRange.Close()
	if _, err := OpenHTTP(context.Background(), noRange.Client(), noRange.URL); err == nil {
		t.Fatal("server without Range support: no error")
	}
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	if _, err := OpenHTTP(context.Background(), missing.Client(), missing.URL); err == nil {
		t.Fatal("404: no error")
	}
}
