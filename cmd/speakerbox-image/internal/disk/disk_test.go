package disk

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlanAlignedPowerOfTwo(t *testing.T) {
	for _, tc := range []struct {
		s    Sizes
		want int64
	}{
		{Sizes{Boot: 60 << 20, Root: 48 << 20, Data: 32 << 20}, 256 << 20},
		{Sizes{Boot: 1, Root: 1, Data: 1}, 32 << 20},
		// One byte over 256 MiB doubles the card.
		{Sizes{Boot: 64 << 20, Root: 64 << 20, Data: 60<<20 + 1}, 512 << 20},
	} {
		l, err := Plan(tc.s)
		if err != nil {
			t.Fatal(err)
		}
		if l.Size != tc.want {
			t.Errorf("%+v: card %d MiB, want %d MiB", tc.s, l.Size>>20, tc.want>>20)
		}
		if len(l.Parts) != 4 {
			t.Fatalf("%d partitions", len(l.Parts))
		}
		end := int64(Align)
		for _, p := range l.Parts {
			if p.Start%Align != 0 || p.Size%Align != 0 {
				t.Errorf("%s: start %d size %d not on %d", p.Name, p.Start, p.Size, Align)
			}
			if p.Start != end {
				t.Errorf("%s starts at %d, previous ends at %d", p.Name, p.Start, end)
			}
			end = p.Start + p.Size
		}
		if end != l.Size {
			t.Errorf("partitions end at %d, card is %d", end, l.Size)
		}
		if l.Parts[1].Size != l.Parts[2].Size || l.Parts[1].Size < tc.s.Root {
			t.Errorf("root slots %d and %d for %d asked", l.Parts[1].Size, l.Parts[2].Size, tc.s.Root)
		}
		if l.Parts[0].Size < tc.s.Boot || l.Parts[3].Size < tc.s.Data {
			t.Errorf("boot %d (asked %d), data %d (asked %d)", l.Parts[0].Size, tc.s.Boot, l.Parts[3].Size, tc.s.Data)
		}
	}
	if _, err := Plan(Sizes{Boot: 0, Root: 1, Data: 1}); err == nil {
		t.Error("a zero boot size was accepted")
	}
}

// TestWriteParseBack writes a card to a file and reads its table back as a
// reader of the card would, and finds each partition's content at its start.
func TestWriteParseBack(t *testing.T) {
	l, err := Plan(Sizes{Boot: 8 << 20, Root: 4 << 20, Data: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "card.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(l.Size); err != nil {
		t.Fatal(err)
	}
	contents := map[string][]byte{"boot": []byte("FAT here"), "root-a": []byte("hsqs root"), "data": []byte("ext4 data")}
	rs := map[string]io.Reader{}
	for k, v := range contents {
		rs[k] = bytes.NewReader(v)
	}
	if err := l.Write(f, 0x5eb0c5, rs); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sig, entries, err := ParseMBR(img[:SectorSize])
	if err != nil {
		t.Fatal(err)
	}
	if sig != 0x5eb0c5 {
		t.Errorf("signature %#x", sig)
	}
	if len(entries) != 4 {
		t.Fatalf("%d entries read back", len(entries))
	}
	wantType := []byte{TypeFAT32LBA, TypeLinux, TypeLinux, TypeLinux}
	for i, e := range entries {
		lp := l.Parts[i]
		if int64(e.StartSector)*SectorSize != lp.Start || int64(e.Sectors)*SectorSize != lp.Size {
			t.Errorf("%s: read back start %d size %d sectors, laid out %d+%d bytes", lp.Name, e.StartSector, e.Sectors, lp.Start, lp.Size)
		}
		if e.Type != wantType[i] || e.Bootable != (i == 0) {
			t.Errorf("%s: type %#x bootable %v", lp.Name, e.Type, e.Bootable)
		}
		if c := contents[lp.Name]; c != nil && !bytes.Equal(img[lp.Start:lp.Start+int64(len(c))], c) {
			t.Errorf("%s: content not at its start", lp.Name)
		}
	}
	// root-b is left empty: an update writes it later.
	rb := l.Parts[2]
	if !bytes.Equal(img[rb.Start:rb.Start+4096], make([]byte, 4096)) {
		t.Error("root-b is not empty")
	}
}

func TestWriteRefusesOversizedContent(t *testing.T) {
	l, err := Plan(Sizes{Boot: 1, Root: 1, Data: 1})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "card.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = l.Write(f, 1, map[string]io.Reader{"root-a": bytes.NewReader(make([]byte, Align+1))})
	if err == nil || !strings.Contains(err.Error(), "root-a") {
		t.Fatalf("oversized root: err %v", err)
	}
}

func TestParseMBRRejectsGarbage(t *testing.T) {
	if _, _, err := ParseMBR(make([]byte, SectorSize)); err == nil {
		t.Error("an MBR without 55 AA was accepted")
	}
	if _, _, err := ParseMBR(make([]byte, 10)); err == nil {
		t.Error("a short MBR was accepted")
	}
}
