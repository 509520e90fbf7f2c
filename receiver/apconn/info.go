package apconn

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxProductInfo bounds the product-info XML we parse; the real one is a few
// hundred bytes.
const maxProductInfo = 64 << 10

// ParseCountryCode decodes a CountryCode (0x1b) payload: two ASCII letters,
// returned in upper case (track restrictions use upper case).
func ParseCountryCode(p []byte) (string, error) {
	if len(p) != 2 || !isLetter(p[0]) || !isLetter(p[1]) {
		return "", fmt.Errorf("country code %q: want two ASCII letters: %w", truncate(p, 16), ErrMalformed)
	}
	return strings.ToUpper(string(p)), nil
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

func truncate(p []byte, n int) []byte {
	if len(p) > n {
		return p[:n]
	}
	return p
}

// Product is the account's product info (packet 0x50).
type Product struct {
	// Type is the product type, e.g. "premium", "free".
	Type string
	// ImageURL is the cover URL template, with "{file_id}" where the hex
	// image id goes, e.g. "https://i.scdn.co/image/{file_id}".
	ImageURL string
	// HeadFilesURL is the head-files URL template (may be empty).
	HeadFilesURL string
	// Fields holds every element of the first <product> by name, those
	// above included, for what we do not read yet.
	Fields map[string]string
}

// Premium reports whether the account may stream (Connect needs Premium).
func (p Product) Premium() bool { return p.Type == "premium" }

// ImageURLFor fills the image URL template with a hex image id; "" when the
// template is unknown.
func (p Product) ImageURLFor(fileIDHex string) string {
	if p.ImageURL == "" {
		return ""
	}
	return strings.ReplaceAll(p.ImageURL, "{file_id}", fileIDHex)
}

// ParseProductInfo decodes a ProductInfo (0x50) payload:
// <products><product><type>premium</type><image-url>…</image-url>…</product></products>.
// Only the first <product> is kept; text inside its grandchildren is ignored.
func ParseProductInfo(p []byte) (Product, error) {
	if len(p) > maxProductInfo {
		return Product{}, fmt.Errorf("product info of %d bytes is larger than %d: %w", len(p), maxProductInfo, ErrMalformed)
	}
	d := xml.NewDecoder(bytes.NewReader(p))
	d.Strict = true
	var (
		path    []string // open elements
		text    strings.Builder
		fields  map[string]string
		first   bool // the first <product> is complete: later ones are ignored
		sawRoot bool
	)
	// The whole document is read (it is small and bounded) so that
	// trailing garbage is an error, not silently accepted.
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Product{}, fmt.Errorf("product info: %v: %w", err, ErrMalformed)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
			switch {
			case len(path) == 1:
				if t.Name.Local != "products" {
					return Product{}, fmt.Errorf("product info: root element <%s>, want <products>: %w", t.Name.Local, ErrMalformed)
				}
				sawRoot = true
			case len(path) == 2 && t.Name.Local == "product" && fields == nil:
				fields = map[string]string{}
			case len(path) == 3:
				text.Reset()
			}
		case xml.CharData:
			if len(path) == 3 {
				text.Write(t)
			}
		case xml.EndElement:
			if len(path) == 3 && fields != nil && !first && path[1] == "product" {
				if _, dup := fields[path[2]]; !dup {
					fields[path[2]] = strings.TrimSpace(text.String())
				}
			}
			if len(path) == 2 && fields != nil && path[1] == "product" {
				first = true
			}
			path = path[:len(path)-1]
		}
	}
	if !sawRoot || fields == nil {
		return Product{}, fmt.Errorf("product info without <products><product>: %w", ErrMalformed)
	}
	return Product{
		Type:         fields["type"],
		ImageURL:     fields["image-url"],
		HeadFilesURL: fields["head-files-url"],
		Fields:       fields,
	}, nil
}
