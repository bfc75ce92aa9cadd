package gen

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// rng is a PCG stream with the few helpers the generator needs. It is a plain
// value (no interface, no allocation), so every Customer call can seed its own.
type rng struct{ p rand.PCG }

// splitmix64 is the SplitMix64 finaliser, used to turn (seed, index, stream)
// into well-spread PCG seeds.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// seed makes r the stream for (seed, i, stream).
func (r *rng) seed(seed, i, stream uint64) {
	a := splitmix64(seed ^ splitmix64(i^stream<<56))
	b := splitmix64(a ^ i ^ 0x6a09e667f3bcc909)
	r.p.Seed(a, b)
}

func (r *rng) u64() uint64 { return r.p.Uint64() }

// float returns a uniform float64 in [0, 1).
func (r *rng) float() float64 { return float64(r.p.Uint64()>>11) * 0x1p-53 }

// intn returns a uniform int in [0, n) for n > 0 (Lemire's multiply-shift;
// the bias, below n/2^64, is irrelevant here).
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.p.Uint64(), uint64(n))
	return int(hi)
}

// int63n is intn for int64 bounds.
func (r *rng) int63n(n int64) int64 {
	hi, _ := bits.Mul64(r.p.Uint64(), uint64(n))
	return int64(hi)
}

// norm returns a standard normal variate (Box–Muller, one of the pair).
func (r *rng) norm() float64 {
	u := 1 - r.float() // (0, 1]
	v := r.float()
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}

// poisson returns a Poisson(lambda) variate; expNeg must be exp(-lambda).
// Knuth's product method below 30, a rounded normal above.
func (r *rng) poisson(lambda, expNeg float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		k := int(math.Round(lambda + math.Sqrt(lambda)*r.norm()))
		return max(k, 0)
	}
	k := 0
	for p := r.float(); p > expNeg; p *= r.float() {
		k++
	}
	return k
}

// alias is Walker's alias table: O(1) sampling from a discrete distribution.
// Each column carries the ids it returns, so a draw is one memory access.
type alias struct{ col []aliasColumn }

// aliasColumn i returns id (the id of outcome i) when the low 32 bits of the
// draw are below prob, and aliasID (the id of its alias outcome) otherwise.
type aliasColumn struct {
	prob        uint32
	id, aliasID int32
}

// newAlias builds the table for weights w (not necessarily normalised; at
// least one positive), where outcome i has id ids[i]. Vose's method.
func newAlias(w []float64, ids []int32) alias {
	n := len(w)
	a := alias{col: make([]aliasColumn, n)}
	var sum float64
	for _, x := range w {
		sum += x
	}
	scaled := make([]float64, n)
	small := make([]int32, 0, n)
	large := make([]int32, 0, n)
	for i, x := range w {
		scaled[i] = x * float64(n) / sum
		if scaled[i] < 1 {
			small = append(small, int32(i))
		} else {
			large = append(large, int32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		a.col[s] = aliasColumn{uint32(scaled[s] * (1 << 32)), ids[s], ids[l]}
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// Leftovers are (numerically) exactly 1: always keep them.
	for _, i := range append(small, large...) {
		a.col[i] = aliasColumn{math.MaxUint32, ids[i], ids[i]}
	}
	return a
}

// sample draws an outcome's id using one 64-bit random number.
func (a *alias) sample(x uint64) int32 {
	c := &a.col[(x>>32)*uint64(len(a.col))>>32]
	if uint32(x) < c.prob {
		return c.id
	}
	return c.aliasID
}
