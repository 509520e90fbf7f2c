package main

import (
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const modulePath = "github.com/speakerbox/speakerbox"

// arrowRule forbids packages under From (module-relative) to depend,
// directly or not, on any package under one of To.
type arrowRule struct {
	From string
	To   []string
}

// arrowRules are the house's arrows: cmd wires everything; receiver drives
// audio and gpio; zeroconfsrv and receiver meet only through cmd; audio and
// gpio know nothing of Spotify; internal holds shared leaves that depend on
// no component. Test code counts: a test that needs the other side belongs
// in cmd.
var arrowRules = []arrowRule{
	{From: "zeroconfsrv", To: []string{"receiver", "cmd"}},
	{From: "receiver", To: []string{"zeroconfsrv", "cmd"}},
	{From: "audio", To: []string{"receiver", "zeroconfsrv", "cmd"}},
	{From: "gpio", To: []string{"receiver", "zeroconfsrv", "cmd"}},
	{From: "internal", To: []string{"receiver", "zeroconfsrv", "audio", "gpio", "cmd"}},
}

// normalise turns go list's names for test variants ("p [p.test]",
// "p.test", "p_test [p.test]") into the package path p.
func normalise(p string) string {
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = p[:i]
	}
	p = strings.TrimSuffix(p, ".test")
	return strings.TrimSuffix(p, "_test")
}

// under reports whether pkg is dir (module-relative) or inside it.
func under(pkg, dir string) bool {
	d := modulePath + "/" + dir
	return pkg == d || strings.HasPrefix(pkg, d+"/")
}

// arrowViolations checks graph (package -> every package it depends on)
// against rules. It also reports a rule whose From matches no package, so a
// renamed directory cannot make a rule pass by matching nothing.
func arrowViolations(graph map[string][]string, rules []arrowRule) []string {
	seen := map[string]bool{} // test variants of one package repeat its deps
	var out []string
	for _, r := range rules {
		matched := false
		for pkg, deps := range graph {
			if !under(pkg, r.From) {
				continue
			}
			matched = true
			for _, dep := range deps {
				for _, to := range r.To {
					if !under(dep, to) {
						continue
					}
					if v := fmt.Sprintf("%s depends on %s (%s/... must not reach %s/...)", pkg, dep, r.From, to); !seen[v] {
						seen[v] = true
						out = append(out, v)
					}
				}
			}
		}
		if !matched {
			out = append(out, fmt.Sprintf("rule for %s/... matches no package: update arrowRules", r.From))
		}
	}
	sort.Strings(out)
	return out
}

// TestImportArrows keeps the arrows with go list's dependency graph of every
// package of the module, tests included.
func TestImportArrows(t *testing.T) {
	out, err := exec.Command("go", "list", "-test", "-f", `{{.ImportPath}}|{{join .Deps ","}}`, modulePath+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	graph := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, "|")
		p := normalise(pkg)
		for _, d := range strings.Split(deps, ",") {
			if d != "" {
				graph[p] = append(graph[p], normalise(d))
			}
		}
		if _, ok := graph[p]; !ok {
			graph[p] = nil
		}
	}
	if len(graph) < 20 {
		t.Fatalf("go list found only %d packages", len(graph))
	}
	for _, v := range arrowViolations(graph, arrowRules) {
		t.Error(v)
	}
}

// TestArrowViolationsCatchesForbiddenImports shows the checker can fail: a
// graph with forbidden arrows (direct, transitive through a test variant)
// is reported, a look-alike directory name is not, and a rule that matches
// nothing is reported.
func TestArrowViolationsCatchesForbiddenImports(t *testing.T) {
	m := func(p string) string { return modulePath + "/" + p }
	graph := map[string][]string{
		m("zeroconfsrv"):          {m("internal/creds"), m("receiver/hooks")},
		m("receiver"):             {m("internal/creds"), m("receiverx")},
		m("audio/player"):         {m("audio/ring")},
		m("gpio"):                 {normalise(m("zeroconfsrv") + " [" + m("zeroconfsrv") + ".test]")},
		m("internal/statedir"):    nil,
		normalise(m("receiverx")): {m("zeroconfsrvx")},
	}
	got := arrowViolations(graph, arrowRules)
	want := []string{
		m("gpio") + " depends on " + m("zeroconfsrv") + " (gpio/... must not reach zeroconfsrv/...)",
		m("zeroconfsrv") + " depends on " + m("receiver/hooks") + " (zeroconfsrv/... must not reach receiver/...)",
	}
	if len(got) != len(want) {
		t.Fatalf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("violation %d: %s, want %s", i, got[i], want[i])
		}
	}
	delete(graph, m("gpio"))
	if got := arrowViolations(graph, arrowRules); len(got) != 2 || !strings.Contains(got[1], "rule for gpio/... matches no package") {
		t.Fatalf("a rule matching nothing passed: %q", got)
	}
}
