package main

import "testing"

// As Linux 6.1 prints it for QEMU's virt PL061 and the Pi's BCM2835.
const debugSample = `gpiochip0: GPIOs 512-519, parent: platform/9030000.pl061, 9030000.pl061:
 gpio-517 (                    |hiltest@91          ) out hi 

gpiochip1: GPIOs 520-573, parent: platform/3f200000.gpio, pinctrl-bcm2835:
 gpio-520 (ID_SDA              )
 gpio-537 (GPIO17              |speakerbox@120      ) out lo 
`

func TestParseDebugGPIO(t *testing.T) {
	got := parseDebugGPIO(debugSample)
	want := []debugLine{
		{Chip: "9030000.pl061", Base: 512, Number: 517, Consumer: "hiltest@91", State: "out hi"},
		{Chip: "pinctrl-bcm2835", Base: 520, Number: 520, Name: "ID_SDA"},
		{Chip: "pinctrl-bcm2835", Base: 520, Number: 537, Name: "GPIO17", Consumer: "speakerbox@120", State: "out lo"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func FuzzParseDebugGPIO(f *testing.F) {
	f.Add(debugSample)
	f.Fuzz(func(t *testing.T, s string) { _ = parseDebugGPIO(s) })
}
