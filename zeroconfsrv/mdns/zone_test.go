package mdns

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func testZone(t testing.TB) *zone {
	t.Helper()
	z, err := newZone(Service{Instance: "Kitchen v1.2 (Tom's)", Host: "speakerbox-0f1e2d3c", Port: 4070,
		IPs: []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("fe80::1%eth0")}})
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func query(t testing.TB, id uint16, known []dns.RR, qs ...dns.Question) []byte {
	t.Helper()
	m := &dns.Msg{}
	m.Id, m.Question, m.Answer = id, qs, known
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func q(name string, typ uint16, qu bool) dns.Question {
	c := uint16(dns.ClassINET)
	if qu {
		c |= unicastResponse
	}
	return dns.Question{Name: name, Qtype: typ, Qclass: c}
}

func types(rrs []dns.RR) string {
	var s []string
	for _, rr := range rrs {
		s = append(s, dns.TypeToString[rr.Header().Rrtype])
	}
	return strings.Join(s, ",")
}

func TestReply(t *testing.T) {
	z := testZone(t)
	// The instance name as another implementation escapes it (the space
	// as \032, case changed) must still match.
	instance := `kitchen\032v1\.2\032(tom's)._spotify-connect._tcp.local.`
	for _, c := range []struct {
		name          string
		packet        []byte
		port          int
		answers, xtra string
		unicast       bool
	}{
		{"browse", query(t, 0, nil, q("_spotify-connect._tcp.local.", dns.TypePTR, false)), 5353, "PTR", "SRV,TXT,A,AAAA", false},
		{"browse, unicast asked", query(t, 0, nil, q("_spotify-connect._tcp.local.", dns.TypePTR, true)), 5353, "PTR", "SRV,TXT,A,AAAA", true},
		{"resolve", query(t, 0, nil, q(instance, dns.TypeSRV, false), q(instance, dns.TypeTXT, false)), 5353, "SRV,TXT", "A,AAAA", false},
		{"any of the instance", query(t, 0, nil, q(instance, dns.TypeANY, false)), 5353, "SRV,TXT", "A,AAAA", false},
		{"host A", query(t, 0, nil, q("SPEAKERBOX-0f1e2d3c.local.", dns.TypeA, false)), 5353, "A", "", false},
		{"host AAAA", query(t, 0, nil, q("speakerbox-0f1e2d3c.local.", dns.TypeAAAA, false)), 5353, "AAAA", "", false},
		{"service enumeration", query(t, 0, nil, q("_services._dns-sd._udp.local.", dns.TypePTR, false)), 5353, "PTR", "", false},
		{"legacy resolver", query(t, 77, nil, q("_spotify-connect._tcp.local.", dns.TypePTR, false)), 40000, "PTR", "SRV,TXT,A,AAAA", true},
		{"someone else's service", query(t, 0, nil, q("_airplay._tcp.local.", dns.TypePTR, false)), 5353, "", "", false},
		{"known answer suppressed", query(t, 0, []dns.RR{z.ptr(ttlOther)}, q("_spotify-connect._tcp.local.", dns.TypePTR, false)), 5353, "", "", false},
		{"stale known answer refreshed", query(t, 0, []dns.RR{z.ptr(100)}, q("_spotify-connect._tcp.local.", dns.TypePTR, false)), 5353, "PTR", "SRV,TXT,A,AAAA", false},
		{"garbage", []byte{1, 2, 3}, 5353, "", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, unicast := z.reply(c.packet, c.port)
			if c.answers == "" {
				if resp != nil {
					t.Fatalf("answered %v", resp)
				}
				return
			}
			if resp == nil {
				t.Fatal("no answer")
			}
			if got := types(resp.Answer); got != c.answers {
				t.Errorf("answers %s, want %s", got, c.answers)
			}
			if got := types(resp.Extra); got != c.xtra {
				t.Errorf("additional %s, want %s", got, c.xtra)
			}
			if unicast != c.unicast {
				t.Errorf("unicast %v, want %v", unicast, c.unicast)
			}
			if _, err := resp.Pack(); err != nil {
				t.Fatal(err)
			}
			if c.port != 5353 {
				if resp.Id != 77 || len(resp.Question) != 1 || resp.Answer[0].Header().Ttl > ttlLegacy {
					t.Errorf("legacy answer: %v", resp)
				}
			}
		})
	}
	// A response (another responder's announcement) is never answered.
	resp, _ := z.reply(func() []byte { b, _ := z.announcement(ttlOther).Pack(); return b }(), 5353)
	if resp != nil {
		t.Errorf("answered a response: %v", resp)
	}
}

func TestAnnouncementAndGoodbye(t *testing.T) {
	z := testZone(t)
	a := z.announcement(ttlOther)
	if types(a.Answer) != "PTR,SRV,TXT,A,AAAA,PTR" || a.Answer[1].(*dns.SRV).Port != 4070 || a.Answer[1].(*dns.SRV).Target != "speakerbox-0f1e2d3c.local." {
		t.Fatalf("announcement %v", a)
	}
	if a.Answer[0].(*dns.PTR).Ptr != `Kitchen v1\.2 (Tom's)._spotify-connect._tcp.local.` {
		t.Errorf("instance %q", a.Answer[0].(*dns.PTR).Ptr)
	}
	if a.Answer[3].Header().Ttl != ttlHost || a.Answer[3].Header().Class != dns.ClassINET|cacheFlush || a.Answer[0].Header().Class != dns.ClassINET {
		t.Errorf("TTL/class: %v", a)
	}
	for _, rr := range z.announcement(0).Answer {
		if rr.Header().Ttl != 0 {
			t.Errorf("goodbye with TTL: %v", rr)
		}
	}
	b, err := a.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var back dns.Msg
	if err := back.Unpack(b); err != nil || len(back.Answer) != 6 {
		t.Fatalf("round trip: %v %v", err, back)
	}
}

func TestLongNameCutAtACharacter(t *testing.T) {
	long := strings.Repeat("é", 40) // 80 bytes
	z, err := newZone(Service{Instance: long, Host: "h", Port: 1, IPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(z.instance, strings.Repeat("é", 31)+".") {
		t.Errorf("instance %q", z.instance)
	}
}

// FuzzReply: no input panics the responder, and whatever it answers packs.
func FuzzReply(f *testing.F) {
	z := testZone(f)
	f.Add(query(f, 0, nil, q("_spotify-connect._tcp.local.", dns.TypePTR, false)), 5353)
	f.Add(query(f, 9, []dns.RR{z.ptr(ttlOther)}, q(`Kitchen v1\.2 (Tom's)._spotify-connect._tcp.local.`, dns.TypeANY, true)), 1234)
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 12, 0, 1}, 5353) // pointer loop
	f.Fuzz(func(t *testing.T, packet []byte, port int) {
		resp, _ := z.reply(packet, port)
		if resp == nil {
			return
		}
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("answer does not pack: %v", err)
		}
	})
}

// A query repeating its question gets each record once, and the one-second
// rule sees the same answer whatever the order of the questions.
func TestRepeatedQuestionsAnsweredOnce(t *testing.T) {
	z := testZone(t)
	var qs []dns.Question
	for range 50 {
		qs = append(qs, q("_spotify-connect._tcp.local.", dns.TypePTR, false), q("speakerbox-0f1e2d3c.local.", dns.TypeA, false))
	}
	resp, _ := z.reply(query(t, 0, nil, qs...), 5353)
	if resp == nil || types(resp.Answer) != "PTR,A" || types(resp.Extra) != "SRV,TXT,AAAA" {
		t.Fatalf("answer %v", resp)
	}
	other, _ := z.reply(query(t, 0, nil, q("speakerbox-0f1e2d3c.local.", dns.TypeA, false), q("_spotify-connect._tcp.local.", dns.TypePTR, false)), 5353)
	if answerKey(resp) != answerKey(other) {
		t.Errorf("keys %q and %q", answerKey(resp), answerKey(other))
	}
}
