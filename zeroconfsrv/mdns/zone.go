package mdns

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/miekg/dns"
)

// TTLs of RFC 6762 §10: records naming a host's addresses 120 s, the rest
// 75 minutes.
const (
	ttlHost  = 120
	ttlOther = 4500
	// ttlLegacy caps the TTLs of answers to legacy unicast queries (§6.7).
	ttlLegacy = 10
	// cacheFlush is the top bit of a record's class: "this record replaces
	// what you hold for its name and type" (§10.2), for records only we own.
	cacheFlush = 1 << 15
	// unicastResponse is the top bit of a question's class (§5.4).
	unicastResponse = 1 << 15
	mdnsPort        = 5353
	servicesEnum    = "_services._dns-sd._udp.local."
)

// zone holds one service's names and data; it never changes after
// newZone, so that the receive goroutines can share it without locks.
type zone struct {
	service, instance, host, enum string // fully qualified, escaped
	// wire forms of the names, lower-cased, for comparing with questions
	// whatever escaping or case the asker used.
	wService, wInstance, wHost, wEnum []byte
	port                              uint16
	txt                               []string
	a, aaaa                           [][]byte // 4- and 16-byte addresses
}

func newZone(s Service) (*zone, error) {
	if s.Port <= 0 || s.Port > 65535 {
		return nil, fmt.Errorf("mdns: port %d out of range", s.Port)
	}
	z := &zone{
		service:  ServiceType + "." + Domain,
		instance: escapeLabel(s.Instance) + "." + ServiceType + "." + Domain,
		host:     escapeLabel(s.Host) + "." + Domain,
		enum:     servicesEnum,
		port:     uint16(s.Port),
		txt:      TXT,
	}
	for _, ip := range s.IPs {
		if ip.Is4() || ip.Is4In6() {
			b := ip.Unmap().As4()
			z.a = append(z.a, b[:])
		} else {
			b := ip.As16()
			z.aaaa = append(z.aaaa, b[:])
		}
	}
	var err error
	for _, n := range []struct {
		name string
		wire *[]byte
	}{{z.service, &z.wService}, {z.instance, &z.wInstance}, {z.host, &z.wHost}, {z.enum, &z.wEnum}} {
		if *n.wire, err = wireName(n.name); err != nil {
			return nil, fmt.Errorf("mdns: name %q: %w", n.name, err)
		}
	}
	return z, nil
}

// escapeLabel makes s one DNS label in presentation form: dots and
// backslashes escaped, cut to the 63 bytes a label may hold (at a
// character boundary: the apps show it).
func escapeLabel(s string) string {
	for len(s) > 63 {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return strings.NewReplacer(`\`, `\\`, `.`, `\.`).Replace(s)
}

// wireName packs name into wire form, lower-cased (ASCII only, as DNS
// compares names).
func wireName(name string) ([]byte, error) {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
	if err != nil {
		return nil, err
	}
	return bytes.ToLower(buf[:n]), nil
}

func sameName(name string, wire []byte) bool {
	w, err := wireName(name)
	return err == nil && bytes.Equal(w, wire)
}

func hdr(name string, typ uint16, ttl uint32, flush bool) dns.RR_Header {
	class := uint16(dns.ClassINET)
	if flush {
		class |= cacheFlush
	}
	return dns.RR_Header{Name: name, Rrtype: typ, Class: class, Ttl: ttl}
}

func (z *zone) ptr(ttl uint32) dns.RR {
	return &dns.PTR{Hdr: hdr(z.service, dns.TypePTR, ttl, false), Ptr: z.instance}
}

func (z *zone) enumPTR(ttl uint32) dns.RR {
	return &dns.PTR{Hdr: hdr(z.enum, dns.TypePTR, ttl, false), Ptr: z.service}
}

func (z *zone) srv(ttl uint32, flush bool) dns.RR {
	return &dns.SRV{Hdr: hdr(z.instance, dns.TypeSRV, ttl, flush), Port: z.port, Target: z.host}
}

func (z *zone) txtRR(ttl uint32, flush bool) dns.RR {
	return &dns.TXT{Hdr: hdr(z.instance, dns.TypeTXT, ttl, flush), Txt: z.txt}
}

// addrs returns the host's A and/or AAAA records.
func (z *zone) addrs(ttl uint32, flush, v4, v6 bool) []dns.RR {
	if ttl > ttlHost {
		ttl = ttlHost
	}
	var out []dns.RR
	if v4 {
		for _, a := range z.a {
			out = append(out, &dns.A{Hdr: hdr(z.host, dns.TypeA, ttl, flush), A: a})
		}
	}
	if v6 {
		for _, a := range z.aaaa {
			out = append(out, &dns.AAAA{Hdr: hdr(z.host, dns.TypeAAAA, ttl, flush), AAAA: a})
		}
	}
	return out
}

// announcement is the unsolicited response that announces the service
// (ttl > 0) or says goodbye (ttl 0, §10.1).
func (z *zone) announcement(ttl uint32) *dns.Msg {
	m := &dns.Msg{}
	m.Response, m.Authoritative, m.Compress = true, true, true
	flush := ttl > 0 // a goodbye must not flush other owners' shared PTRs
	m.Answer = append(m.Answer, z.ptr(ttl), z.srv(ttl, flush), z.txtRR(ttl, flush))
	m.Answer = append(m.Answer, z.addrs(ttl, flush, true, true)...)
	if ttl > 0 {
		m.Answer = append(m.Answer, z.enumPTR(ttl))
	}
	return m
}

// reply answers one received datagram from srcPort: nil if it is not a
// query we answer. unicast says the answer goes back to the sender alone
// (a legacy resolver's query, not from port 5353, or questions that all
// ask for a unicast response) instead of to the group.
func (z *zone) reply(packet []byte, srcPort int) (resp *dns.Msg, unicast bool) {
	var q dns.Msg
	if err := q.Unpack(packet); err != nil {
		return nil, false
	}
	if q.Response || q.Opcode != dns.OpcodeQuery || q.Rcode != dns.RcodeSuccess || len(q.Question) == 0 {
		return nil, false
	}
	legacy := srcPort != mdnsPort
	unicast = true
	var ans, extra []dns.RR
	for _, qq := range q.Question {
		if qq.Qclass&unicastResponse == 0 {
			unicast = false
		}
		class := qq.Qclass &^ unicastResponse
		if class != dns.ClassINET && class != dns.ClassANY {
			continue
		}
		t := qq.Qtype
		anyT := t == dns.TypeANY
		switch {
		case sameName(qq.Name, z.wService) && (anyT || t == dns.TypePTR):
			ans = append(ans, z.ptr(ttlOther))
			extra = append(extra, z.srv(ttlOther, true), z.txtRR(ttlOther, true))
			extra = append(extra, z.addrs(ttlHost, true, true, true)...)
		case sameName(qq.Name, z.wEnum) && (anyT || t == dns.TypePTR):
			ans = append(ans, z.enumPTR(ttlOther))
		case sameName(qq.Name, z.wInstance):
			if anyT || t == dns.TypeSRV {
				ans = append(ans, z.srv(ttlOther, true))
				extra = append(extra, z.addrs(ttlHost, true, true, true)...)
			}
			if anyT || t == dns.TypeTXT {
				ans = append(ans, z.txtRR(ttlOther, true))
			}
		case sameName(qq.Name, z.wHost):
			ans = append(ans, z.addrs(ttlHost, true, anyT || t == dns.TypeA, anyT || t == dns.TypeAAAA)...)
		}
	}
	// Repeated questions ask once: the answer holds each record once, so
	// that its size and the one-second rule's keys stay bounded.
	ans = dropDup(ans, nil)
	ans = dropKnown(ans, q.Answer)
	if len(ans) == 0 {
		return nil, false
	}
	extra = dropDup(extra, ans)
	m := &dns.Msg{}
	m.Response, m.Authoritative, m.Compress = true, true, true
	m.Answer, m.Extra = ans, extra
	if legacy {
		// §6.7: echo id and question, short TTLs, no cache-flush bits
		// (a plain resolver would take the class literally).
		m.Id, m.Question = q.Id, q.Question
		for _, rr := range append(append([]dns.RR(nil), m.Answer...), m.Extra...) {
			h := rr.Header()
			h.Class &^= cacheFlush
			h.Ttl = min(h.Ttl, ttlLegacy)
		}
		return m, true
	}
	return m, unicast
}

// dropKnown applies known-answer suppression (§7.1): a record the asker
// already holds with at least half its TTL left is not sent again.
func dropKnown(ans, known []dns.RR) []dns.RR {
	out := ans[:0]
	for _, rr := range ans {
		held := false
		for _, k := range known {
			kh, h := k.Header(), rr.Header()
			if kh.Rrtype == h.Rrtype && kh.Class&^cacheFlush == h.Class&^cacheFlush && kh.Ttl >= h.Ttl/2 && sameRR(k, rr) {
				held = true
				break
			}
		}
		if !held {
			out = append(out, rr)
		}
	}
	return out
}

// sameRR compares name, type and data, not TTL or class bits.
func sameRR(a, b dns.RR) bool {
	ha, hb := *a.Header(), *b.Header()
	wa, errA := wireName(ha.Name)
	wb, errB := wireName(hb.Name)
	if errA != nil || errB != nil || !bytes.Equal(wa, wb) || ha.Rrtype != hb.Rrtype {
		return false
	}
	switch x := a.(type) {
	case *dns.PTR:
		y, ok := b.(*dns.PTR)
		return ok && sameName(x.Ptr, mustWire(y.Ptr))
	default:
		// The other records we send are found by name and type alone.
		ca, cb := dns.Copy(a), dns.Copy(b)
		ca.Header().Ttl, cb.Header().Ttl = 0, 0
		ca.Header().Class, cb.Header().Class = dns.ClassINET, dns.ClassINET
		ca.Header().Name, cb.Header().Name = hb.Name, hb.Name
		return ca.String() == cb.String()
	}
}

func mustWire(name string) []byte {
	w, _ := wireName(name)
	return w
}

// dropDup removes from rrs what is in seen or earlier in rrs.
func dropDup(rrs, seen []dns.RR) []dns.RR {
	have := map[string]bool{}
	for _, a := range seen {
		have[a.String()] = true
	}
	out := rrs[:0]
	for _, r := range rrs {
		if k := r.String(); !have[k] {
			have[k] = true
			out = append(out, r)
		}
	}
	return out
}

// answerKey names the records of a multicast answer for the one-second
// rule.
func answerKey(m *dns.Msg) string {
	keys := make([]string, 0, len(m.Answer))
	for _, rr := range m.Answer {
		h := rr.Header()
		keys = append(keys, fmt.Sprintf("%s/%d", strings.ToLower(h.Name), h.Rrtype))
	}
	slices.Sort(keys)
	return strings.Join(slices.Compact(keys), ";")
}
