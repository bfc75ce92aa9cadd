//go:build !race

package tagseg

// raceEnabled reports whether the tests run under the race detector, so
// that the heavier ones can take fewer rounds.
const raceEnabled = false
