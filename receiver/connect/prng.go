package connect

// prng is splitmix64: a generator whose whole state is one word, so a
// State copies it by value and Step stays pure and allocation-free.
type prng struct{ s uint64 }

func (p *prng) Uint64() uint64 {
	p.s += 0x9e3779b97f4a7c15
	z := p.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// IntN is uniform in [0, n) (n > 0), by rejection.
func (p *prng) IntN(n int) int {
	bound := uint64(n)
	limit := -bound % bound // 2^64 mod n
	for {
		if v := p.Uint64(); v >= limit {
			return int(v % bound)
		}
	}
}

// Shuffle is Fisher-Yates over n elements.
func (p *prng) Shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, p.IntN(i+1))
	}
}
