package apconn

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestParseCountryCode(t *testing.T) {
	for in, want := range map[string]string{"DE": "DE", "se": "SE", "uS": "US"} {
		if got, err := ParseCountryCode([]byte(in)); err != nil || got != want {
			t.Errorf("ParseCountryCode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "D", "DEU", "D1", "\x00\x00", "é"} {
		if got, err := ParseCountryCode([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseCountryCode(%q) = %q, %v; want ErrMalformed", in, got, err)
		}
	}
}

const productXML = `<?xml version="1.0" encoding="utf-8"?>
<products>
  <product>
    <type>premium</type>
    <head-files-url>https://heads-fa.spotify.com/head/{file_id}</head-files-url>
    <image-url>https://i.scdn.co/image/{file_id}</image-url>
    <catalogue>premium</catalogue>
    <autoplay>1</autoplay>
  </product>
</products>`

func TestParseProductInfo(t *testing.T) {
	p, err := ParseProductInfo([]byte(productXML))
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != "premium" || !p.Premium() {
		t.Errorf("type = %q", p.Type)
	}
	if p.ImageURL != "https://i.scdn.co/image/{file_id}" || p.HeadFilesURL != "https://heads-fa.spotify.com/head/{file_id}" {
		t.Errorf("urls = %q, %q", p.ImageURL, p.HeadFilesURL)
	}
	if got := p.ImageURLFor("ab67616d0000b273"); got != "https://i.scdn.co/image/ab67616d0000b273" {
		t.Errorf("ImageURLFor = %q", got)
	}
	if p.Fields["autoplay"] != "1" || p.Fields["catalogue"] != "premium" {
		t.Errorf("fields = %v", p.Fields)
	}

	// Only the first product counts; a free account is not premium.
	p, err = ParseProductInfo([]byte(`<products><product><type>free</type></product><product><type>premium</type></product></products>`))
	if err != nil || p.Type != "free" || p.Premium() || p.ImageURLFor("x") != "" {
		t.Errorf("two products: %+v, %v", p, err)
	}

	for name, in := range map[string]string{
		"empty":         "",
		"not xml":       "premium",
		"wrong root":    "<product><type>premium</type></product>",
		"no product":    "<products></products>",
		"unclosed":      "<products><product><type>premium</type>",
		"mismatched":    "<products><product><type>premium</product></products>",
		"too large":     "<products><product><type>" + strings.Repeat("x", maxProductInfo) + "</type></product></products>",
		"bad entity":    "<products><product><type>&bogus;</type></product></products>",
		"trailing junk": "<products><product/></products><",
	} {
		if p, err := ParseProductInfo([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %+v, %v; want ErrMalformed", name, p, err)
		}
	}
}

func FuzzProductInfo(f *testing.F) {
	f.Add([]byte(productXML))
	f.Add([]byte(`<products><product><type>free</type></product></products>`))
	f.Add([]byte(`<products><product><a><b>x</b></a></product></products>`))
	f.Add([]byte(`<products>`))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParseProductInfo(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if p.Fields == nil || p.Type != p.Fields["type"] || p.ImageURL != p.Fields["image-url"] {
			t.Fatalf("inconsistent product %+v", p)
		}
	})
}

func TestInfoWaitsForValues(t *testing.T) {
	i := NewInfo()
	ctx := t.Context()
	type res struct {
		c   string
		err error
	}
	got := make(chan res, 1)
	go func() {
		c, err := i.Country(ctx)
		got <- res{c, err}
	}()
	// A malformed packet changes nothing; the waiter keeps waiting.
	if h, err := i.Handle(Packet{Type: PacketCountryCode, Payload: []byte("x")}); !h || err == nil {
		t.Fatalf("malformed country: handled %v, err %v", h, err)
	}
	if h, err := i.Handle(Packet{Type: PacketCountryCode, Payload: []byte("se")}); !h || err != nil {
		t.Fatalf("country: handled %v, err %v", h, err)
	}
	if r := <-got; r.c != "SE" || r.err != nil {
		t.Fatalf("Country = %q, %v", r.c, r.err)
	}
	if h, _ := i.Handle(Packet{Type: PacketAesKey}); h {
		t.Fatal("Info handled a key packet")
	}

	// Product: canceled context, then loss.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := i.Product(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Product(canceled) err = %v", err)
	}
	perr := make(chan error, 1)
	go func() { _, err := i.Product(ctx); perr <- err }()
	i.Lost()
	if err := <-perr; !errors.Is(err, ErrConnLost) {
		t.Fatalf("Product after loss: err = %v, want ErrConnLost", err)
	}
	// What was known stays known.
	if c, err := i.Country(ctx); c != "SE" || err != nil {
		t.Fatalf("Country after loss = %q, %v", c, err)
	}
}

func FuzzCountryCode(f *testing.F) {
	for _, s := range []string{"DE", "se", "D", "DEU", "\xff\xfe"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseCountryCode(in)
		if err != nil {
			return
		}
		if len(c) != 2 || c != strings.ToUpper(c) || !strings.EqualFold(c, string(in)) {
			t.Fatalf("ParseCountryCode(%q) = %q", in, c)
		}
	})
}

func TestInfoProduct(t *testing.T) {
	i := NewInfo()
	if h, err := i.Handle(Packet{Type: PacketProductInfo, Payload: []byte("<products>")}); !h || !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed product: handled %v, err %v", h, err)
	}
	if h, err := i.Handle(Packet{Type: PacketProductInfo, Payload: []byte(productXML)}); !h || err != nil {
		t.Fatalf("product: handled %v, err %v", h, err)
	}
	p, err := i.Product(t.Context())
	if err != nil || !p.Premium() {
		t.Fatalf("Product = %+v, %v", p, err)
	}
	// Each caller gets its own copy of the fields.
	p.Fields["type"] = "free"
	if q, _ := i.Product(t.Context()); q.Fields["type"] != "premium" {
		t.Fatalf("a caller's change leaked: %v", q.Fields)
	}
	// A later packet (the AP resends after its own reconnect) wins.
	i.SetProduct(Product{Type: "free"})
	if q, _ := i.Product(t.Context()); q.Premium() {
		t.Fatalf("Product after an update = %+v", q)
	}
}
