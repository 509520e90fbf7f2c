package alsasink

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Card is one line of /proc/asound/cards: the kernel's index, its short id
// (what "hw:ID,0" names) and its long name.
type Card struct {
	Index int
	ID    string
	Name  string
}

// maxIndex is the largest card and device number we accept: ALSA's device
// nodes are /dev/snd/pcmC<card>D<device>p, and kernels are built with at
// most 32 cards by default. A larger index in /proc/asound/cards is not a
// card we could open.
const maxIndex = 31

// ParseCards reads the contents of /proc/asound/cards. Lines it does not
// understand are skipped: the file is the kernel's, not ours, and a
// continuation line ("   Loopback 1") carries nothing we need.
func ParseCards(data []byte) []Card {
	var cards []Card
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		// " 0 [Loopback       ]: Loopback - Loopback"
		sp := strings.IndexByte(line, ' ')
		if sp <= 0 {
			continue
		}
		idx, err := strconv.Atoi(line[:sp])
		if err != nil || idx < 0 || idx > maxIndex {
			continue
		}
		rest := strings.TrimSpace(line[sp:])
		if !strings.HasPrefix(rest, "[") {
			continue
		}
		end := strings.Index(rest, "]:")
		if end < 0 {
			continue
		}
		id := strings.TrimSpace(rest[1:end])
		name := strings.TrimSpace(rest[end+2:])
		// "Loopback - Loopback": the part after " - " is the long name.
		if i := strings.Index(name, " - "); i >= 0 {
			name = strings.TrimSpace(name[i+3:])
		}
		if id == "" {
			continue
		}
		cards = append(cards, Card{Index: idx, ID: id, Name: name})
	}
	return cards
}

// Address is a resolved hardware PCM: /dev/snd/pcmC<Card>D<Device>p.
type Address struct {
	Card   int
	Device int
}

func (a Address) String() string { return fmt.Sprintf("hw:%d,%d", a.Card, a.Device) }

// deviceSpec is a device name split into its parts before the card is looked
// up: exactly one of cardIndex (>= 0) and cardID is set.
type deviceSpec struct {
	cardIndex int
	cardID    string
	device    int
}

// parseDeviceName accepts "hw:CARD,DEV", "hw:CARD" (device 0),
// "hw:CARD=ID,DEV=N" (alsa-lib's spelling) and a bare card id ("Loopback").
// CARD may be an index or a card id. ALSA plugin names ("default",
// "plughw:...", "dmix") are refused with a reason: we open the kernel device
// directly and there is no alsa-lib to interpret them.
func parseDeviceName(name string) (deviceSpec, error) {
	s := strings.TrimSpace(name)
	if s == "" {
		return deviceSpec{}, fmt.Errorf("empty ALSA device name (want hw:CARD,DEV, e.g. hw:0,0)")
	}
	if IsPluginName(s) {
		return deviceSpec{}, fmt.Errorf("ALSA device %q is an alsa-lib plugin; speakerbox opens hardware devices directly: use hw:CARD,DEV (see 'speakerbox doctor audio')", name)
	}
	if !strings.HasPrefix(s, "hw:") {
		if strings.ContainsAny(s, ":,= ") {
			return deviceSpec{}, fmt.Errorf("ALSA device %q: want hw:CARD,DEV, hw:CARDNAME,DEV or a bare card name", name)
		}
		return specFromCard(s, 0), nil
	}
	parts := strings.Split(strings.TrimPrefix(s, "hw:"), ",")
	if len(parts) > 2 || parts[0] == "" {
		return deviceSpec{}, fmt.Errorf("ALSA device %q: want hw:CARD,DEV", name)
	}
	card := strings.TrimPrefix(parts[0], "CARD=")
	if card == "" || strings.ContainsAny(card, ":= ") {
		return deviceSpec{}, fmt.Errorf("ALSA device %q: bad card %q", name, parts[0])
	}
	dev := 0
	if len(parts) == 2 {
		d, err := strconv.Atoi(strings.TrimPrefix(parts[1], "DEV="))
		if err != nil || d < 0 || d > maxIndex {
			return deviceSpec{}, fmt.Errorf("ALSA device %q: bad device number %q (want 0..31)", name, parts[1])
		}
		dev = d
	}
	return specFromCard(card, dev), nil
}

// IsPluginName tells an alsa-lib plugin name ("default", "plughw:1,0",
// "dmix") from a hardware device name. Plugins live in alsa-lib, which we do
// not use, so such a name can never be opened.
func IsPluginName(name string) bool {
	s := strings.TrimSpace(name)
	for _, plugin := range []string{"plughw:", "default", "dmix", "dsnoop", "sysdefault", "pulse", "pipewire", "front:", "iec958:", "hdmi:"} {
		if strings.HasPrefix(s, plugin) {
			return true
		}
	}
	return false
}

// CheckDeviceName says whether name is a hardware device name that New
// accepts, without looking for the card: for checking configuration.
func CheckDeviceName(name string) error {
	_, err := parseDeviceName(name)
	return err
}

func specFromCard(card string, dev int) deviceSpec {
	if n, err := strconv.Atoi(card); err == nil && n >= 0 {
		return deviceSpec{cardIndex: n, device: dev}
	}
	return deviceSpec{cardIndex: -1, cardID: card, device: dev}
}

// resolve finds the card of a spec among the cards the kernel lists. A card
// index is taken as is (the open then fails if it does not exist); a card id
// must be listed.
func (s deviceSpec) resolve(name string, cards []Card) (Address, error) {
	if s.cardIndex >= 0 {
		if s.cardIndex > maxIndex {
			return Address{}, fmt.Errorf("ALSA device %q: card index %d out of range 0..31", name, s.cardIndex)
		}
		return Address{Card: s.cardIndex, Device: s.device}, nil
	}
	for _, c := range cards {
		if c.ID == s.cardID {
			return Address{Card: c.Index, Device: s.device}, nil
		}
	}
	// alsa-lib matches card ids exactly, but people type what aplay -l
	// shows in any case; accept a unique case-insensitive match.
	var found []Card
	for _, c := range cards {
		if strings.EqualFold(c.ID, s.cardID) {
			found = append(found, c)
		}
	}
	if len(found) == 1 {
		return Address{Card: found[0].Index, Device: s.device}, nil
	}
	return Address{}, fmt.Errorf("ALSA device %q: no sound card named %q (cards: %s); 'speakerbox doctor audio' lists the devices", name, s.cardID, cardList(cards))
}

func cardList(cards []Card) string {
	if len(cards) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, c := range cards {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %q", c.Index, c.ID)
	}
	return b.String()
}

// ResolveDevice turns a device name into a card and device number, looking
// card ids up in the contents of /proc/asound/cards.
func ResolveDevice(name string, procCards []byte) (Address, error) {
	spec, err := parseDeviceName(name)
	if err != nil {
		return Address{}, err
	}
	return spec.resolve(name, ParseCards(procCards))
}
