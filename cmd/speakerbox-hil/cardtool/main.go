// Command cardtool runs inside a Speakerbox card booted by `make hil`
// (copied from the test card's boot partition to /tmp; it is never part of
// an image). It writes credentials through the speaker's own store, so the
// host can cut the power in the middle of the writes, and after the next
// boot reads back what survived.
//
//	cardtool write DIR   store a new version of the login "hil" forever (handed over, then accepted), printing HIL-CREDS-WRITTEN n after each
//	cardtool check DIR   print HIL-CREDS-VERSION n for the login that survived (exit 1 if none or unreadable)
package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/speakerbox/speakerbox/internal/creds"
)

const prefix = "hil-version-"

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: cardtool write|check DIR")
		os.Exit(2)
	}
	dir := os.Args[2]
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	st := creds.NewStore(dir, log, time.Now)
	switch os.Args[1] {
	case "write":
		for n := 1; ; n++ {
			c := creds.Credentials{Username: "hil", AuthType: creds.AuthStoredSpotify,
				// Longer than a page, so a torn write would show.
				AuthData: []byte(prefix + strconv.Itoa(n) + "-" + strings.Repeat("x", 6000))}
			// What a phone's handover and then Spotify's acceptance
			// write: the users file, then credentials.json too.
			if err := st.Put(c); err != nil {
				fmt.Println("HIL-CREDS-ERROR", err)
				os.Exit(1)
			}
			if err := st.Accepted(c, c); err != nil {
				fmt.Println("HIL-CREDS-ERROR", err)
				os.Exit(1)
			}
			fmt.Println("HIL-CREDS-WRITTEN", n)
		}
	case "check":
		// credentials.json itself must parse: it is what librespot-style
		// tools and the speaker's start read.
		b, err := os.ReadFile(filepath.Join(dir, "credentials.json"))
		if err != nil {
			fmt.Println("HIL-CREDS-ERROR", err)
			os.Exit(1)
		}
		c, err := creds.Parse(b)
		if err != nil {
			fmt.Println("HIL-CREDS-ERROR credentials.json:", err)
			os.Exit(1)
		}
		e, ok, err := st.Get("hil")
		if err != nil || !ok {
			fmt.Println("HIL-CREDS-ERROR the store:", err, ok)
			os.Exit(1)
		}
		vf, vs := version(c), version(e.Credentials)
		if vf < 0 || vs < 0 {
			fmt.Println("HIL-CREDS-ERROR auth_data not written by cardtool")
			os.Exit(1)
		}
		fmt.Printf("HIL-CREDS-VERSION %d %d\n", vf, vs)
	default:
		fmt.Fprintln(os.Stderr, "usage: cardtool write|check DIR")
		os.Exit(2)
	}
}

func version(c creds.Credentials) int {
	s, ok := strings.CutPrefix(string(c.AuthData), prefix)
	if !ok {
		return -1
	}
	num, rest, _ := strings.Cut(s, "-")
	n, err := strconv.Atoi(num)
	if err != nil || rest != strings.Repeat("x", 6000) {
		return -1
	}
	return n
}
