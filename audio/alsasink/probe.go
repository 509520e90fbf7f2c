package alsasink

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/speakerbox/speakerbox/audio/alsasink/alsactl"
)

// PCMDevice is one line of /proc/asound/pcm that has a playback stream.
type PCMDevice struct {
	Address
	Name string
}

// ParsePCMs reads the contents of /proc/asound/pcm and returns the devices
// that can play ("00-00: Loopback PCM : Loopback PCM : playback 8 : capture 8").
func ParsePCMs(data []byte) []PCMDevice {
	var out []PCMDevice
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 {
			continue
		}
		card, dev, ok := strings.Cut(strings.TrimSpace(fields[0]), "-")
		if !ok {
			continue
		}
		c, err1 := strconv.Atoi(card)
		d, err2 := strconv.Atoi(dev)
		if err1 != nil || err2 != nil || c < 0 || c > 31 || d < 0 || d > 31 {
			continue
		}
		playback := false
		for _, f := range fields[3:] {
			if strings.HasPrefix(strings.TrimSpace(f), "playback") {
				playback = true
			}
		}
		if playback {
			out = append(out, PCMDevice{Address: Address{Card: c, Device: d}, Name: strings.TrimSpace(fields[1])})
		}
	}
	return out
}

// PCMReport is what doctor learns about one playback device.
type PCMReport struct {
	PCMDevice
	Caps  Caps
	Err   error  // the device could not be queried
	Owner string // who holds it, when Err is a busy device
}

// CardReport is what doctor learns about one card.
type CardReport struct {
	Card
	PCMs        []PCMReport
	Controls    []alsactl.Info
	ControlsErr error
}

// Probe lists the cards, their playback devices with what each accepts,
// and their mixer controls. It opens each device only to query it.
func Probe() ([]CardReport, error) {
	cardsData, err := os.ReadFile("/proc/asound/cards")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errors.New("this kernel has no ALSA (no /proc/asound/cards)")
	}
	if err != nil {
		return nil, err
	}
	pcmData, err := os.ReadFile("/proc/asound/pcm")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	pcms := ParsePCMs(pcmData)
	proc := os.DirFS("/")
	var out []CardReport
	for _, c := range ParseCards(cardsData) {
		r := CardReport{Card: c}
		for _, p := range pcms {
			if p.Card != c.Index {
				continue
			}
			pr := PCMReport{PCMDevice: p}
			pr.Caps, pr.Err = kernel{}.caps(p.Address)
			if pr.Err != nil && isBusy(pr.Err) {
				pr.Owner = pcmOwner(proc, p.Address)
			}
			r.PCMs = append(r.PCMs, pr)
		}
		r.Controls, r.ControlsErr = listControls(c.Index)
		out = append(out, r)
	}
	return out, nil
}

func listControls(card int) ([]alsactl.Info, error) {
	c, err := alsactl.Open(card)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ids, err := c.List()
	if err != nil {
		return nil, err
	}
	var infos []alsactl.Info
	for _, id := range ids {
		in, err := c.Info(id)
		if err != nil {
			continue // a control that vanished or refuses: not ours to judge
		}
		infos = append(infos, in)
	}
	return infos, nil
}
