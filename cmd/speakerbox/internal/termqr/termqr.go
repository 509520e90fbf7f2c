// Package termqr draws a QR code on a text terminal, two modules per
// character cell with Unicode half blocks, so that a phone can open an
// address shown by a headless speaker's command line.
package termqr

import (
	"fmt"
	"io"
	"strings"

	qr "github.com/piglig/go-qr"
)

// quiet is the light border around the code, in modules. The standard asks
// for 4; 2 is what terminal renderers use, and phone scanners read it.
const quiet = 2

// Render writes text as a QR code, one line per two module rows. Light
// modules are drawn as blocks in the terminal's text colour and dark ones
// left blank: on the usual light-on-dark terminal that gives the dark-on-light
// code of the standard (scanners read the inverse too).
func Render(w io.Writer, text string) error {
	code, err := qr.EncodeText(text, qr.Low)
	if err != nil {
		return fmt.Errorf("encode QR code: %w", err)
	}
	n := code.Size()
	light := func(x, y int) bool {
		if x < 0 || y < 0 || x >= n || y >= n {
			return true // the quiet zone
		}
		return !code.Module(x, y)
	}
	var b strings.Builder
	for y := -quiet; y < n+quiet; y += 2 {
		for x := -quiet; x < n+quiet; x++ {
			top, bottom := light(x, y), light(x, y+1)
			if y+1 >= n+quiet {
				bottom = false // past the last row: the terminal's own background
			}
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	_, err = io.WriteString(w, b.String())
	return err
}
