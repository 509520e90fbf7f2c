package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// errHelp is returned by parseArgs for -h, -help or --help.
var errHelp = flag.ErrHelp

// boolFlag is what the flag package checks to let a flag stand without a
// value.
type boolFlag interface{ IsBoolFlag() bool }

// parseArgs sets the options in args on fs and returns the other arguments
// in their order. Unlike fs.Parse it does not stop at the first argument
// that is not an option: people type `play song.ogg --volume 30`, so
// options may come anywhere; only `--` ends them (what follows is taken
// as is, even when it starts with a dash). An option that is not boolean
// takes the next argument as its value, whatever it looks like.
//
// With passUnknown, options fs does not know are kept among the returned
// arguments (for a command whose later words take options of their own:
// `doctor gpio --on`); `--` is then kept too, so the next parser stops at
// it as well, and so is --help once a word for the next level has come
// (`doctor gpio --help`). Otherwise an unknown option is a usage error that
// names the closest known one.
//
// Both -name and --name are accepted, as the flag package does.
func parseArgs(fs *flag.FlagSet, args []string, passUnknown bool) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			if passUnknown {
				return append(rest, args[i:]...), nil
			}
			return append(rest, args[i+1:]...), nil
		}
		// "-" alone is an argument (standard input or output), as are
		// negative numbers only when they are a value (taken below).
		if len(arg) < 2 || arg[0] != '-' {
			rest = append(rest, arg)
			continue
		}
		name := strings.TrimPrefix(arg[1:], "-")
		value, hasValue := "", false
		if j := strings.IndexByte(name, '='); j >= 0 {
			name, value, hasValue = name[:j], name[j+1:], true
		}
		if name == "" || name[0] == '-' || name[0] == '=' {
			return nil, optionErrorf("%s: bad option syntax %q", fs.Name(), arg)
		}
		f := fs.Lookup(name)
		if f == nil {
			if (name == "h" || name == "help") && !(passUnknown && len(rest) > 0) {
				return nil, errHelp
			}
			if passUnknown {
				rest = append(rest, arg)
				continue
			}
			return nil, unknownOption(fs, name)
		}
		if !hasValue {
			if bf, ok := f.Value.(boolFlag); ok && bf.IsBoolFlag() {
				value = "true"
			} else if i+1 < len(args) {
				i++
				value = args[i]
			} else {
				return nil, optionErrorf("%s: option --%s needs a value (%s)", fs.Name(), name, firstLine(f.Usage))
			}
		}
		if err := fs.Set(name, value); err != nil {
			return nil, optionErrorf("%s: option --%s: invalid value %q: %v", fs.Name(), name, value, err)
		}
	}
	return rest, nil
}

// optionsUsage lists the options of a sub-level (a doctor topic,
// credentials export) for its --help.
func optionsUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "%s options:\n", fs.Name())
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	printFlags(w, flags)
}

// optionErrorf is a usage error whose message starts with the flag set's
// name ("speakerbox play: ...").
func optionErrorf(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...), named: true}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// unknownOption says what was typed, the closest known option if one is
// close enough to be a typo, and where the list is.
func unknownOption(fs *flag.FlagSet, name string) error {
	msg := fmt.Sprintf("%s: unknown option --%s", fs.Name(), name)
	if s := closestFlag(fs, name); s != "" {
		msg += fmt.Sprintf(" (did you mean --%s?)", s)
	}
	return optionErrorf("%s; \"%s --help\" lists the options", msg, fs.Name())
}

// closestFlag returns the known option nearest to name: the only one name
// is a prefix of, or else the one within a small edit distance (about one
// typo per four letters), or "".
func closestFlag(fs *flag.FlagSet, name string) string {
	var prefixed []string
	best, bestDist := "", -1
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, name) {
			prefixed = append(prefixed, f.Name)
		}
		d := editDistance(name, f.Name)
		if bestDist < 0 || d < bestDist || (d == bestDist && f.Name < best) {
			best, bestDist = f.Name, d
		}
	})
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	if bestDist >= 0 && bestDist <= max(1, len(name)/4) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (option names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
