package termqr

import (
	"image"
	"image/color"
	"strings"
	"testing"

	qr "github.com/piglig/go-qr"
)

// decodeTerminal turns the rendered text back into an image as a
// light-on-dark terminal shows it (a drawn half block is light, a blank and
// the screen around the code are dark) and decodes it with a QR decoder.
func decodeTerminal(t *testing.T, text string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	const scale = 4
	width := len([]rune(lines[0]))
	img := image.NewGray(image.Rect(0, 0, (width+8)*scale, (2*len(lines)+8)*scale))
	for i := range img.Pix {
		img.Pix[i] = 0 // the terminal's dark background
	}
	set := func(x, y int) {
		for dy := range scale {
			for dx := range scale {
				img.SetGray((x+4)*scale+dx, (y+4)*scale+dy, color.Gray{Y: 255})
			}
		}
	}
	for row, line := range lines {
		if n := len([]rune(line)); n != width {
			t.Fatalf("line %d is %d cells wide, want %d", row, n, width)
		}
		for x, r := range []rune(line) {
			switch r {
			case '█':
				set(x, 2*row)
				set(x, 2*row+1)
			case '▀':
				set(x, 2*row)
			case '▄':
				set(x, 2*row+1)
			case ' ':
			default:
				t.Fatalf("unexpected rune %q", r)
			}
		}
	}
	got, err := qr.Decode(img)
	if err != nil {
		t.Fatalf("decode the rendered code: %v\n%s", err, text)
	}
	return got
}

func TestRenderDecodesToTheAddress(t *testing.T) {
	for _, addr := range []string{
		"https://www.spotify.com/pair?code=BCDFGHJK",
		"https://accounts.spotify.com/activate?user_code=" + strings.Repeat("X", 60),
		"x",
	} {
		var b strings.Builder
		if err := Render(&b, addr); err != nil {
			t.Fatal(err)
		}
		if got := decodeTerminal(t, b.String()); got != addr {
			t.Fatalf("decoded %q, want %q", got, addr)
		}
	}
}

func TestRenderRefusesWhatDoesNotFit(t *testing.T) {
	var b strings.Builder
	if err := Render(&b, strings.Repeat("z", 8000)); err == nil || b.Len() != 0 {
		t.Fatalf("Render of 8000 bytes: %v, wrote %d bytes", err, b.Len())
	}
}
