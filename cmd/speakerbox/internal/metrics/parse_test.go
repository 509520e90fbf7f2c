package metrics

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// The module has no Prometheus parser (prometheus/common would come with
// client_golang's dependency upgrades), so the tests read the output with
// this one: a strict reader of the text format 0.0.4 as Prometheus takes
// it. It refuses what Prometheus refuses: a bad metric or label name, a
// label value with a bad escape, a value that is not a float, a TYPE that
// comes after its family's samples or twice, a series written twice.

type family struct {
	typ     string
	samples map[string]float64 // by series: name{sorted labels}
}

var (
	nameRe  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelRe = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	types   = map[string]bool{"counter": true, "gauge": true, "summary": true, "histogram": true, "untyped": true}
)

func parseExposition(text string) (map[string]*family, error) {
	fams := map[string]*family{}
	sampled := map[string]bool{}
	if text != "" && !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("output does not end with a newline")
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		ln := i + 1
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[1] == "TYPE" {
				if len(f) != 4 || !nameRe.MatchString(f[2]) || !types[f[3]] {
					return nil, fmt.Errorf("line %d: bad TYPE line %q", ln, line)
				}
				if fams[f[2]] != nil && fams[f[2]].typ != "" {
					return nil, fmt.Errorf("line %d: second TYPE for %s", ln, f[2])
				}
				if sampled[f[2]] {
					return nil, fmt.Errorf("line %d: TYPE for %s after its samples", ln, f[2])
				}
				fams[f[2]] = &family{typ: f[3], samples: map[string]float64{}}
			} else if len(f) >= 3 && f[1] == "HELP" && !nameRe.MatchString(f[2]) {
				return nil, fmt.Errorf("line %d: bad HELP line %q", ln, line)
			}
			continue
		}
		name, labels, rest, err := splitSample(line)
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", ln, line, err)
		}
		fields := strings.Fields(rest)
		if len(fields) < 1 || len(fields) > 2 {
			return nil, fmt.Errorf("line %d %q: want a value and an optional timestamp", ln, line)
		}
		v, err := parseValue(fields[0])
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", ln, line, err)
		}
		fam := familyOf(name, fams)
		sampled[fam] = true
		if fams[fam] == nil {
			fams[fam] = &family{samples: map[string]float64{}}
		}
		key := name + "{" + strings.Join(labels, ",") + "}"
		if _, dup := fams[fam].samples[key]; dup {
			return nil, fmt.Errorf("line %d: series %s written twice", ln, key)
		}
		fams[fam].samples[key] = v
	}
	return fams, nil
}

// familyOf maps a summary's or histogram's _sum, _count and _bucket
// samples to their family.
func familyOf(name string, fams map[string]*family) string {
	for _, suf := range []string{"_sum", "_count", "_bucket"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if f := fams[base]; f != nil && (f.typ == "summary" || f.typ == "histogram") {
				return base
			}
		}
	}
	return name
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}

// splitSample splits `name{a="x",b="y"} rest` and returns the labels as
// sorted `a="x"` strings (unescaped values re-quoted).
func splitSample(line string) (name string, labels []string, rest string, err error) {
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return "", nil, "", fmt.Errorf("no value")
	}
	name = line[:i]
	if !nameRe.MatchString(name) {
		return "", nil, "", fmt.Errorf("bad metric name %q", name)
	}
	if line[i] == ' ' {
		return name, nil, line[i:], nil
	}
	s := line[i+1:]
	seen := map[string]bool{}
	for {
		s = strings.TrimLeft(s, " \t") // Prometheus skips blanks between labels
		if strings.HasPrefix(s, "}") {
			s = s[1:]
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return "", nil, "", fmt.Errorf("label without '='")
		}
		ln := s[:eq]
		if !labelRe.MatchString(ln) || seen[ln] {
			return "", nil, "", fmt.Errorf("bad or repeated label name %q", ln)
		}
		seen[ln] = true
		s = s[eq+1:]
		if !strings.HasPrefix(s, `"`) {
			return "", nil, "", fmt.Errorf("label %s: value not quoted", ln)
		}
		var val strings.Builder
		j := 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' {
				j++
				if j >= len(s) {
					return "", nil, "", fmt.Errorf("label %s: escape at the end", ln)
				}
				switch s[j] {
				case '\\', '"':
					val.WriteByte(s[j])
				case 'n':
					val.WriteByte('\n')
				default:
					return "", nil, "", fmt.Errorf("label %s: bad escape \\%c", ln, s[j])
				}
				continue
			}
			val.WriteByte(s[j])
		}
		if j >= len(s) {
			return "", nil, "", fmt.Errorf("label %s: unterminated value", ln)
		}
		labels = append(labels, ln+"="+strconv.Quote(val.String()))
		s = s[j+1:]
		if strings.HasPrefix(s, ",") {
			s = s[1:]
		} else if !strings.HasPrefix(s, "}") {
			return "", nil, "", fmt.Errorf("label %s: want ',' or '}' after the value", ln)
		}
	}
	if !strings.HasPrefix(s, " ") {
		return "", nil, "", fmt.Errorf("no space before the value")
	}
	sort.Strings(labels)
	return name, labels, s, nil
}
