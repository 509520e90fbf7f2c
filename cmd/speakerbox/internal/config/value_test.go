package config

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckValue(t *testing.T) {
	if err := CheckValue("gpio.relay_line", "GPIO17", "speakerbox.txt:3"); err != nil {
		t.Errorf("GPIO17: %v", err)
	}
	err := CheckValue("audio.device", "plughw:0", "speakerbox.txt:7")
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "audio.device" || ce.Source != "speakerbox.txt:7" || ce.Value != "plughw:0" || ce.Allowed == "" {
		t.Fatalf("plughw:0: %#v", err)
	}
	if err := CheckValue("gpio.active_low", "maybe", "f:2"); err == nil || !strings.Contains(err.Error(), "true or false") {
		t.Errorf("active_low maybe: %v", err)
	}
	if err := CheckValue("no.such", "x", "f:1"); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Errorf("unknown key: %v", err)
	}
}
