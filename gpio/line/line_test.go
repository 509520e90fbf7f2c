package line

import (
	"strconv"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func TestParse(t *testing.T) {
	good := map[string]Spec{
		"GPIO17":             {Name: "GPIO17"},
		"gpiochip0:17":       {Chip: "gpiochip0", Offset: 17},
		"9030000.pl061:4":    {Chip: "9030000.pl061", Offset: 4},
		"pinctrl-bcm2835:17": {Chip: "pinctrl-bcm2835", Offset: 17},
		"/dev/gpiochip1:0":   {Chip: "/dev/gpiochip1", Offset: 0},
		"odd:label:3":        {Chip: "odd:label", Offset: 3},
		"SODIMM_55":          {Name: "SODIMM_55"},
		"gpiochip0:65535":    {Chip: "gpiochip0", Offset: 65535},
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("Parse(%q).String() = %q", in, got.String())
		}
	}
	bad := map[string]string{
		"":                "empty",
		"17":              "ambiguous",
		"gpiochip0:":      "offset",
		":17":             "no chip",
		"gpiochip0:-1":    "offset",
		"gpiochip0:x":     "offset",
		"gpiochip0:1e3":   "offset",
		"gpiochip0:65536": "offset",
		"GPIO 17":         "spaces",
		"GPIO17\n":        "spaces",
	}
	for in, wantErr := range bad {
		if got, err := Parse(in); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("Parse(%q) = %+v, %v; want error about %q", in, got, err, wantErr)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"GPIO17", "gpiochip0:17", "a:b:9", ":", "17", "x:99999999999999999999", "\x00:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := Parse(s)
		if err != nil {
			return
		}
		if spec.Chip == "" && spec.Name == "" {
			t.Fatalf("Parse(%q) accepted an empty spec", s)
		}
		if spec.Offset < 0 || spec.Offset > 65535 {
			t.Fatalf("Parse(%q) offset %d", s, spec.Offset)
		}
		again, err := Parse(spec.String())
		if err != nil || again != spec {
			t.Fatalf("round trip of %q: %+v, %v", s, again, err)
		}
	})
}

type fakeChip struct {
	name, label string
	lines       []*gpiotest.Pin
}

func (c fakeChip) Name() string   { return c.name }
func (c fakeChip) Label() string  { return c.label }
func (c fakeChip) Path() string   { return "/dev/" + c.name }
func (c fakeChip) LineCount() int { return len(c.lines) }
func (c fakeChip) Line(n int) gpio.PinOut {
	if n < 0 || n >= len(c.lines) {
		return nil
	}
	return c.lines[n]
}
func (c fakeChip) LineNamed(name string) gpio.PinOut {
	for _, l := range c.lines {
		if l.N != "" && l.N == name {
			return l
		}
	}
	return nil
}

func TestResolve(t *testing.T) {
	pl061 := fakeChip{name: "gpiochip0", label: "9030000.pl061"}
	for i := range 8 {
		pl061.lines = append(pl061.lines, &gpiotest.Pin{Num: i}) // no names, like QEMU virt
	}
	bcm := fakeChip{name: "gpiochip1", label: "pinctrl-bcm2835"}
	for i := range 54 {
		bcm.lines = append(bcm.lines, &gpiotest.Pin{N: "GPIO" + strconv.Itoa(i), Num: i})
	}
	chips := []Chip{pl061, bcm}

	cases := []struct {
		spec string
		want *gpiotest.Pin
	}{
		{"GPIO17", bcm.lines[17]},
		{"gpiochip0:4", pl061.lines[4]},
		{"9030000.pl061:4", pl061.lines[4]},
		{"/dev/gpiochip1:17", bcm.lines[17]},
		{"pinctrl-bcm2835:2", bcm.lines[2]},
	}
	for _, c := range cases {
		spec, err := Parse(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Resolve(spec, chips, nil)
		if err != nil {
			t.Fatalf("Resolve(%s): %v", c.spec, err)
		}
		if got != gpio.PinOut(c.want) {
			t.Errorf("Resolve(%s) = %s, want %s", c.spec, got, c.want)
		}
	}

	errs := map[string]string{
		"GPIO99":      `no line has this name (lines without names are reached as chip:offset); found chips gpiochip0 (label "9030000.pl061", 8 lines), gpiochip1`,
		"gpiochip0:8": "has lines 0..7 only",
		"gpiochip7:1": `no chip named "gpiochip7"`,
	}
	for in, want := range errs {
		spec, _ := Parse(in)
		if _, err := Resolve(spec, chips, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Resolve(%s) error %v, want it to contain %q", in, err, want)
		}
	}
	if _, err := Resolve(Spec{Name: "GPIO17"}, nil, nil); err == nil || !strings.Contains(err.Error(), "no GPIO chips") {
		t.Errorf("no chips: %v", err)
	}

	// A name periph registered elsewhere (another driver) is the fallback.
	other := &gpiotest.Pin{N: "LED0"}
	got, err := Resolve(Spec{Name: "LED0"}, chips, func(name string) gpio.PinOut {
		if name == "LED0" {
			return other
		}
		return nil
	})
	if err != nil || got != gpio.PinOut(other) {
		t.Fatalf("fallback: %v, %v", got, err)
	}
}
