package main

import "sync"

// exitGuard holds the actions that put the hardware in its safe state (the
// amplifier off). They run once, last registered first, on every way out the
// process controls: normal return, signal, shutdown timeout and panic.
type exitGuard struct {
	mu   sync.Mutex
	fns  []func()
	done bool
}

// Add registers fn. After Run, fn runs at once: a late registration must not
// leave the hardware on.
func (g *exitGuard) Add(fn func()) {
	g.mu.Lock()
	if g.done {
		g.mu.Unlock()
		fn()
		return
	}
	g.fns = append(g.fns, fn)
	g.mu.Unlock()
}

// Run runs the registered actions once.
func (g *exitGuard) Run() {
	g.mu.Lock()
	fns := g.fns
	g.fns, g.done = nil, true
	g.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}
